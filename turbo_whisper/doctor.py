"""`turbo-whisper doctor`: check every part dictation needs and print a verdict for each."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from turbo_whisper.config import Settings
from turbo_whisper.errors import DockerError

if TYPE_CHECKING:
    from turbo_whisper.server import ServerClient
    from turbo_whisper.status import EngineStatus

OK, WARN, FAIL = "ok", "warning", "FAIL"
CLIPBOARD_PROBE = "Turbo Whisper ✓ café déjà vu 🎤 東京"


@dataclass(frozen=True)
class Row:
    name: str
    verdict: str
    detail: str


def check_config(settings: Settings) -> Row:
    where = str(settings.config_file or "none (defaults, environment and flags)")
    if settings.upload_format == "flac":
        from turbo_whisper.audio import flac_problem

        problem = flac_problem()
        if problem:
            return Row("config file", WARN, f'{where}; upload_format = "flac" cannot be used: '
                       f"{problem}, so WAV is sent (pip install soundfile).")
    return Row("config file", OK, where)


def check_display() -> Row:
    from turbo_whisper.hotkey import SHORTCUT_HINT, display_problem

    kind = "Wayland" if os.environ.get("WAYLAND_DISPLAY") else "X11" if os.environ.get(
        "DISPLAY") else "none"
    portal = _portal_problem() if kind == "Wayland" else None
    if kind == "Wayland" and portal is None:
        return Row("display / hotkey", OK, "Wayland: the desktop portal's GlobalShortcuts binds "
                   "the hotkey (the desktop may ask once to confirm it).")
    problem = display_problem()
    if problem:
        before = f"{portal[0].upper()}{portal[1:]}. " if portal else ""
        return Row("display / hotkey", WARN, f"{kind}: {before}{problem} {SHORTCUT_HINT}")
    try:
        from pynput import keyboard  # noqa: F401
    except Exception as exc:
        return Row("display / hotkey", WARN, f"{kind}: the hotkey library cannot load ({exc}).")
    where = os.environ["DISPLAY"]
    extra = " (XWayland: the hotkey works in X11 windows only)" if kind == "Wayland" else ""
    return Row("display / hotkey", OK, f"{kind} display {where}; the global hotkey can work{extra}.")


def _portal_problem() -> str | None:
    from turbo_whisper.portal import portal_problem

    return portal_problem()


def check_wayland_paste(settings: Settings) -> Row:
    """Which key tool pastes on Wayland, and why the ones before it in 'paste_via' cannot."""
    from turbo_whisper.wayland import describe

    works, words = describe(settings.paste_via)
    if settings.output != "paste":
        return Row("wayland paste", OK, f'output = "clipboard": transcripts are copied only; '
                   f'with output = "paste", {words}')
    return Row("wayland paste", OK if works else WARN, words[0].upper() + words[1:])


def check_microphone(settings: Settings, seconds: float = 1.0) -> Row:
    from turbo_whisper.audio import Recorder, input_device_names, loudest_dbfs
    from turbo_whisper.errors import DeviceError

    try:
        names = input_device_names()
        recording = _record(Recorder(settings.device, max_seconds=seconds * 4), seconds)
    except (DeviceError, OSError) as exc:
        return Row("microphone", FAIL, str(exc))
    listed = f"{len(names)} input device(s)"
    if not len(recording.samples):
        return Row("microphone", WARN, f"{listed}; no audio arrived from the input device in "
                   f"{seconds * 3:.0f} s: it is open but sends nothing (suspended, or held by "
                   "another program?). Try again, or choose another with the setting 'device'.")
    level = loudest_dbfs(recording.samples, recording.samplerate)
    heard = f"{recording.seconds:.1f} s recorded at {recording.samplerate} Hz, loudest {level:.0f} dBFS"
    if level < settings.silence_threshold_db:
        return Row("microphone", WARN, f"{listed}; {heard}: silent. Is the microphone muted?")
    return Row("microphone", OK, f"{listed}; {heard}.")


def _record(recorder: Any, seconds: float) -> Any:
    """Record `seconds` of audio; some sources start late, so wait up to three times that."""
    import time

    recorder.start()
    deadline = time.monotonic() + seconds * 3
    started = None
    while time.monotonic() < deadline:
        if started is None and recorder.first_block_at is not None:
            started = time.monotonic()
        if started is not None and time.monotonic() - started >= seconds:
            break
        time.sleep(0.05)
    return recorder.stop()


def check_clipboard() -> Row:
    from turbo_whisper.errors import ClipboardError
    from turbo_whisper.output import Clipboard, copy_bytes, read_bytes

    try:
        previous = read_bytes() if not _clipboard_blocked() else None
        Clipboard().deliver(CLIPBOARD_PROBE)
        if previous:
            copy_bytes(previous)
    except ClipboardError as exc:
        return Row("clipboard", FAIL, str(exc))
    except Exception as exc:
        return Row("clipboard", FAIL, f"The clipboard failed: {exc}.")
    return Row("clipboard", OK, "Round trip of non-ASCII text is byte for byte.")


def _clipboard_blocked() -> bool:
    from turbo_whisper.output import clipboard_problem

    return clipboard_problem() is not None


def check_server(settings: Settings) -> list[Row]:
    """The server's state, what its routes answered and what was decided, and a silent clip
    sent through the real transcription route."""
    if settings.engine == "local":
        return [Row("server", OK, f"engine = \"local\": model {settings.local_model} in this "
                    "process.")]
    from turbo_whisper.errors import ServerError
    from turbo_whisper.server import ServerClient
    from turbo_whisper.status import Phase

    client = ServerClient(settings)
    try:
        status = client.check()
        rows = []
        if client.evidence is not None:
            decision = client.decision
            chosen = (f"speaks {client.dialect.label} through POST {client.dialect.route}"
                      if client.dialect else "no transcription route found")
            why = f" ({decision.why})" if decision and decision.why else ""
            rows.append(Row("server API", OK if client.dialect else FAIL,
                            f"{chosen}{why}. Evidence: {'; '.join(client.evidence.lines())}."))
        if client.dialect is not None and status.phase is not Phase.FAILED:
            try:
                rows.append(Row("server route", OK, client.try_route()))
            except ServerError as exc:
                rows.append(Row("server route", FAIL, str(exc)))
        proven = bool(rows) and rows[-1].name == "server route" and rows[-1].verdict == OK
    finally:
        client.close()
    return [_server_row(client, status, proven), *rows]


def _server_row(client: ServerClient, status: EngineStatus, proven: bool) -> Row:
    from turbo_whisper.status import Phase

    if status.phase is Phase.READY:
        return Row("server", OK, status.detail)
    if proven and client.dialect is not None:
        return Row("server", OK, f"The {client.dialect.label} at {client.url} transcribes.")
    if status.phase in (Phase.DOWNLOADING, Phase.LOADING):
        return Row("server", WARN, f"{status.detail} Dictations wait and are kept meanwhile.")
    if status.phase in (Phase.STARTING, Phase.UNREACHABLE) and client.kind is None:
        return Row("server", FAIL, client.nothing_answers())
    return Row("server", FAIL, status.detail)


def check_docker(settings: Settings) -> Row:
    from turbo_whisper.container import connect, has_gpu_runtime

    try:
        client = connect(timeout=5)
        version = client.version().get("Version", "?")
        gpu = has_gpu_runtime(client)
        client.close()
    except DockerError as exc:
        return Row("docker", WARN, f"{exc} (Docker is needed only for the local server stack.)")
    detail = f"Docker Engine {version}; " + (
        "NVIDIA runtime present." if gpu else "no NVIDIA runtime: the CPU variant will be used.")
    if not gpu and cpu_model_too_large(settings):
        detail += (f" The model {settings.model} is too large for a CPU: a few seconds of "
                   "speech take a minute or more. Set model = \"Systran/faster-whisper-small\" "
                   "(or -base), then `turbo-whisper server up --cpu` and restart the client.")
    return Row("docker", OK if gpu else WARN, detail)


def cpu_model_too_large(settings: Settings) -> bool:
    """Whether the local server stack would run a large model on the CPU."""
    from turbo_whisper.container import is_large_model, is_local_server

    return (settings.engine == "server" and is_local_server(settings)
            and is_large_model(settings.model))


def run_checks(settings: Settings, mic_seconds: float = 1.0) -> list[Row]:
    checks: list[Callable[[], Row | list[Row]]] = [
        lambda: check_config(settings),
        check_display,
        lambda: check_microphone(settings, mic_seconds),
        check_clipboard,
        *([lambda: check_wayland_paste(settings)] if os.environ.get("WAYLAND_DISPLAY") else []),
        lambda: check_server(settings),
        lambda: check_docker(settings),
    ]
    rows: list[Row] = []
    for check in checks:
        try:
            found = check()
        except Exception as exc:  # one broken check must not hide the others
            found = Row(getattr(check, "__name__", "check"), FAIL, f"{type(exc).__name__}: {exc}")
        rows.extend(found if isinstance(found, list) else [found])
    return rows


def render(rows: list[Row]) -> str:
    width = max(len(row.name) for row in rows)
    lines = [f"{row.name:<{width}}  {row.verdict:<7}  {row.detail}" for row in rows]
    failed = [row.name for row in rows if row.verdict == FAIL]
    verdict = (f"Dictation is blocked by: {', '.join(failed)}." if failed
               else "Everything dictation needs is in place.")
    return "\n".join(lines + ["", verdict])
