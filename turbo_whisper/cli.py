"""The `turbo-whisper` command.

Control commands (toggle, start, stop, cancel, status) are what desktop shortcuts run, so
this module imports only the standard library at the top; heavy parts load where used.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from turbo_whisper import __version__, sanitize
from turbo_whisper.errors import ConfigError, NotRunning, TurboWhisperError

if TYPE_CHECKING:
    from turbo_whisper.config import Settings

log = logging.getLogger("turbo_whisper")

EXIT_ERROR, EXIT_USAGE, EXIT_NOT_RUNNING = 1, 2, 3

_SETTING_FLAGS: list[tuple[str, str]] = [
    ("--server-url", "transcription server, e.g. http://127.0.0.1:8000"),
    ("--server-api", '"auto" (found from the server\'s routes), "openai" or "whispercpp"'),
    ("--model", 'model id the server should use; "auto" takes the server\'s own'),
    ("--language", 'language code such as "en" or "fr"; "auto" detects it'),
    ("--prompt", "text that guides spelling and style"),
    ("--hotkey", 'global hotkey, e.g. "ctrl+alt+r"'),
    ("--mode", '"toggle" (press, speak, press) or "hold" (speak while held)'),
    ("--device", "input device name or number (see `turbo-whisper devices`)"),
    ("--api-key-file", "file holding the server's API key"),
    ("--request-timeout", "seconds to wait for a short clip's transcript"),
    ("--ready-timeout", "seconds to wait for a cold server to become ready"),
    ("--connect-timeout", "seconds `transcribe` waits for a server that does not answer"),
    ("--max-seconds", "longest recording, in seconds"),
    ("--output", '"clipboard" or "paste"'),
    ("--paste-via", 'Wayland key tools to paste with, in order, e.g. "wtype,ydotool,clipboard"'),
    ("--engine", '"server" or "local" (faster-whisper in this process)'),
    ("--log-level", "debug, info, warning or error"),
]


def _add_setting_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help="config file (TOML) to read")
    for flag, words in _SETTING_FLAGS:
        parser.add_argument(flag, metavar=flag.strip("-").split("-")[-1].upper(), help=words)
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details")


def _settings(args: argparse.Namespace) -> Settings:
    """The user's settings; without a model of theirs, the one the local stack runs."""
    from turbo_whisper.container import with_stack_model

    return with_stack_model(_user_settings(args))


def _user_settings(args: argparse.Namespace) -> Settings:
    from turbo_whisper.config import load_settings

    flags: dict[str, Any] = {
        flag[2:].replace("-", "_"): getattr(args, flag[2:].replace("-", "_"), None)
        for flag, _ in _SETTING_FLAGS
    }
    flags["config"] = getattr(args, "config", None)
    if getattr(args, "verbose", False):
        flags["log_level"] = "debug"
    return load_settings(flags)


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper()),
        format="%(asctime)s turbo-whisper %(levelname)s: %(message)s",
        datefmt="%Y-%m-%d %H:%M:%S",
        stream=sys.stderr,
    )
    for handler in logging.getLogger().handlers:
        handler.addFilter(sanitize.LogFilter())
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


# --- run --------------------------------------------------------------------------------

def cmd_run(args: argparse.Namespace) -> int:
    if args.supervised:
        return _run_supervised(args)
    import faulthandler

    from turbo_whisper.daemon import build_daemon
    from turbo_whisper.output import clipboard_problem
    from turbo_whisper.x11 import shown

    settings = _settings(args)
    _setup_logging(settings.log_level)
    faulthandler.enable()  # a crash in native code leaves its threads' tracebacks in the log
    daemon = build_daemon(settings).start()
    how = (f"press {shown(settings.hotkey)} to dictate, or run `turbo-whisper toggle`"
           if daemon.hotkey is not None else
           "run `turbo-whisper toggle` (e.g. from a desktop shortcut) to dictate")
    problem = clipboard_problem()
    if problem:
        log.warning("The clipboard will not work: %s. Transcripts are saved to files "
                    "and shown in this log instead.", problem)
    log.info("Turbo Whisper %s is running: %s.", __version__, how)
    _wait_for_signal(daemon.quitting)
    log.info("Stopping.")
    daemon.stop()
    return 0


def _run_supervised(args: argparse.Namespace) -> int:
    """`run --supervised`: the client as a child, started again after a crash."""
    from turbo_whisper.feedback import Feedback
    from turbo_whisper.supervisor import supervise

    settings = _settings(args)
    _setup_logging(settings.log_level)
    feedback = Feedback(settings.notifications)
    argv = list(args.argv)
    return supervise(argv[argv.index("run") + 1:], feedback.notify)


def _say(text: Any = "", file: Any = None) -> None:
    """Print text from the server, the socket or a transcript: secrets hidden, controls
    escaped."""
    print(sanitize.shown(text), file=file or sys.stdout)


def _say_json(answer: dict[str, Any]) -> None:
    _say(json.dumps(sanitize.shown_data(answer), ensure_ascii=False, indent=2))


def _wait_for_signal(stop: threading.Event) -> None:
    """Until SIGINT, SIGTERM or SIGHUP, or until `turbo-whisper quit` sets the event."""
    for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(number, lambda *_: stop.set())
    while not stop.wait(3600):
        pass


# --- commands for other processes ---------------------------------------------------------

def cmd_control(args: argparse.Namespace) -> int:
    from turbo_whisper.control import send
    from turbo_whisper.daemon import NOTHING_TO_STOP

    answer = send(args.command)
    if answer.get("idle"):
        print(f"turbo-whisper: {answer.get('error', NOTHING_TO_STOP)}", file=sys.stderr)
        return EXIT_NOT_RUNNING
    if not answer.get("ok"):
        return _refused(answer)
    if args.json:
        _say_json(answer)
    else:
        _say(answer.get("message", ""))
    return 0


def cmd_quit(args: argparse.Namespace) -> int:
    """Stop the running client, however it was started, and wait until it has exited."""
    import os

    from turbo_whisper.control import running_pid, send

    pid = running_pid()
    if pid is None:
        print("Turbo Whisper is not running.")
        return 0
    try:
        answer = send("quit")
    except NotRunning:
        answer = {"ok": False}
    if not answer.get("ok") and pid > 0:
        with contextlib.suppress(ProcessLookupError):  # it has just exited by itself
            os.kill(pid, signal.SIGTERM)  # the client stops as cleanly on SIGTERM
    deadline = time.monotonic() + args.timeout
    while running_pid() is not None or not _ended(pid):
        if time.monotonic() > deadline:
            print(f"turbo-whisper: Turbo Whisper (process {pid}) did not stop within "
                  f"{args.timeout:g} s; `kill -9 {pid}` ends it (a recording in progress "
                  "stays on disk and is sent at the next start).", file=sys.stderr)
            return EXIT_ERROR
        time.sleep(0.1)
    print(f"Stopped Turbo Whisper (process {pid}).")
    return 0


def _ended(pid: int) -> bool:
    """Whether the process has exited (a zombie waiting for its parent has)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[-1].split()[0] in (b"Z", b"X")
    except (FileNotFoundError, ProcessLookupError):
        return True
    except OSError:
        return False


def cmd_pid(args: argparse.Namespace) -> int:
    from turbo_whisper.control import running_pid

    pid = running_pid()
    if pid is None:
        print("Turbo Whisper is not running.", file=sys.stderr)
        return EXIT_NOT_RUNNING
    print(pid)
    return 0


def _refused(answer: dict[str, Any]) -> int:
    """The running client said no: show its reason."""
    _say(f"turbo-whisper: {answer.get('error', 'the command was refused')}", sys.stderr)
    return EXIT_ERROR


def cmd_status(args: argparse.Namespace) -> int:
    from turbo_whisper.control import send

    try:
        answer = send("status")
    except NotRunning as exc:
        return _status_without_client(args, str(exc))
    if not answer.get("ok"):
        return _refused(answer)
    if args.json:
        _say_json(answer)
    else:
        _say(f"Turbo Whisper is running. {answer.get('message', '')}")
        if answer.get("sending") is False:
            _say(_cannot_send(_count(answer.get("pending"))))
    return 0


def _status_without_client(args: argparse.Namespace, why: str) -> int:
    from turbo_whisper.spool import default_spool

    settings = _settings(args)
    status = None
    if settings.engine == "server":
        from turbo_whisper.server import ServerClient
        from turbo_whisper.status import EngineStatus, Phase

        server = ServerClient(settings)
        status = server.check()
        server.close()
        if status.phase in (Phase.STARTING, Phase.UNREACHABLE):
            status = EngineStatus(Phase.UNREACHABLE, server.nothing_answers())

    spool = default_spool()
    kept = spool.pending()
    aside = [{"recording": entry.name, "why": reason} for entry in kept
             if (reason := spool.aside_reason(entry)) is not None]
    if args.json:
        _say_json({"ok": False, "running": False, "error": why, "pending": len(kept),
                   "set_aside": aside,
                   "engine": {"phase": status.phase.value, "detail": status.detail,
                              "server": status.server_kind} if status else None})
    else:
        _say(why)
        if status is not None:
            _say(status.detail)
        if len(kept) > len(aside):
            _say(f"{len(kept) - len(aside)} recording(s) are kept, waiting to be transcribed.")
        for item in aside:
            _say(f"Set aside after failing again and again: {item['recording']} ({item['why']}); "
                 "`turbo-whisper retry` sends it again.")
    return EXIT_NOT_RUNNING


def cmd_transcribe(args: argparse.Namespace) -> int:
    from turbo_whisper.audio import decode_wav
    from turbo_whisper.text import finish

    settings = _settings(args)
    _setup_logging("warning" if settings.log_level == "info" else settings.log_level)
    path = Path(args.file)
    try:
        wav = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"Cannot read {path}: {exc.strerror}.") from None
    try:
        samples, rate = decode_wav(wav)
    except ValueError as exc:
        raise ConfigError(
            f"{path} is not usable: {exc}. A 16-bit PCM WAV is expected; convert with "
            f"`sox '{path}' -r 16000 -c 1 -b 16 out.wav`."
        ) from None
    from turbo_whisper.advice import Fate, failure_words
    from turbo_whisper.daemon import build_engine
    from turbo_whisper.errors import ServerError

    engine = build_engine(settings)
    try:
        engine.wait_until_ready(lambda status: _say(status.detail, sys.stderr),
                                give_up_after=settings.connect_timeout)
        transcript = engine.transcribe(wav, duration_s=len(samples) / rate)
    except ServerError as exc:
        _say(f"turbo-whisper: {failure_words(exc, Fate.NOT_KEPT)}", sys.stderr)
        return EXIT_ERROR
    finally:
        engine.close()
    _say(finish(transcript))
    return 0


def cmd_retry(args: argparse.Namespace) -> int:
    from turbo_whisper.control import send

    try:
        answer = send("retry")
    except NotRunning:
        return _retry_here(args)
    if not answer.get("ok"):
        return _refused(answer)
    words, sending = retry_words(answer)
    _say(words, None if sending else sys.stderr)
    return 0 if sending else EXIT_ERROR


def retry_words(answer: dict[str, Any]) -> tuple[str, bool]:
    """What `retry` made of the kept recordings, from the running client's state after it;
    and whether the client is sending them."""
    pending, held = _count(answer.get("pending")), _count(answer.get("held"))
    aside = answer.get("set_aside")
    held += len(aside) if isinstance(aside, list) else 0
    if answer.get("sending") is False:
        return _cannot_send(pending), False
    if not pending:
        return "No recordings are waiting.", True
    words = [f"{max(pending - held, 0)} recording(s) queued to be sent now."]
    if held:
        words.append(f"{held} recording(s) were set aside again at once; `turbo-whisper "
                     "status` says why.")
    engine = answer.get("engine")
    engine = engine if isinstance(engine, dict) else {}
    if answer.get("work") == "waiting for server" and answer.get("work_detail"):
        words.append(f"Waiting for the server: {answer['work_detail']}")
    elif engine.get("phase") not in (None, "ready") and engine.get("detail"):
        words.append(f"The server: {engine['detail']}")
    return " ".join(words), True


def _cannot_send(pending: int) -> str:
    return (f"The client cannot send: its sending thread has stopped after an unexpected error "
            f"(the log says which). {pending} recording(s) are kept on disk; restart the client "
            "(`turbo-whisper quit`, then `turbo-whisper run`) to send them.")


def _count(value: Any) -> int:
    return value if isinstance(value, int) and value >= 0 else 0


def _retry_here(args: argparse.Namespace) -> int:
    """No client runs: send the kept recordings from this process, in order."""
    from turbo_whisper.daemon import NoRecorder, build_daemon
    from turbo_whisper.feedback import Feedback
    from turbo_whisper.output import Clipboard
    from turbo_whisper.spool import default_spool

    settings = _settings(args)
    _setup_logging(settings.log_level)
    spool = default_spool()
    if not spool.pending():
        print("No recordings are waiting.")
        return 0
    daemon = build_daemon(settings, recorder=NoRecorder(), output=Clipboard(),
                          feedback=Feedback(settings.notifications), spool=spool, control=False,
                          crash_marker=False, indicator=False, hotkey=False)
    left = daemon.send_kept()
    if left:
        print(f"{left} recording(s) could not be sent and are still kept.", file=sys.stderr)
        return EXIT_ERROR
    print(f"{daemon.app.delivered} transcript(s) delivered; no recordings are left waiting.")
    return 0


# --- parser -----------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="turbo-whisper",
        description="Dictation for the Linux desktop: press Ctrl+Alt+R, speak, press again; "
                    "the transcript is in the clipboard.",
    )
    parser.add_argument("--version", action="version", version=f"turbo-whisper {__version__}")
    commands = parser.add_subparsers(dest="name", metavar="COMMAND")
    commands.required = True

    run = commands.add_parser("run", help="run the dictation client (hotkey, microphone, clipboard)")
    _add_setting_flags(run)
    run.add_argument("--supervised", action="store_true",
                     help="start the client again if it crashes (the launch script uses this)")
    run.set_defaults(func=cmd_run)

    transcribe = commands.add_parser("transcribe", help="transcribe one WAV file and print the text")
    transcribe.add_argument("file", metavar="FILE.wav")
    _add_setting_flags(transcribe)
    transcribe.set_defaults(func=cmd_transcribe)

    status = commands.add_parser("status", help="what the client and the server are doing")
    status.add_argument("--json", action="store_true", help="print the state as JSON")
    _add_setting_flags(status)
    status.set_defaults(func=cmd_status)

    retry = commands.add_parser("retry", help="send the kept recordings now")
    _add_setting_flags(retry)
    retry.set_defaults(func=cmd_retry)

    for name, words in (("toggle", "start or stop a dictation (for desktop shortcuts)"),
                        ("start", "start recording"), ("stop", "stop recording and transcribe"),
                        ("cancel", "stop recording and throw the audio away")):
        control = commands.add_parser(name, help=words)
        control.add_argument("--json", action="store_true", help="print the answer as JSON")
        control.set_defaults(func=cmd_control, command=name)

    quit_ = commands.add_parser("quit", help="stop the running client, however it was started")
    quit_.add_argument("--timeout", type=float, default=20.0, metavar="SECONDS",
                       help="how long to wait for it to finish (default 20)")
    quit_.set_defaults(func=cmd_quit)

    pid = commands.add_parser("pid", help="print the running client's process id "
                                          "(exit status 3 when none runs)")
    pid.set_defaults(func=cmd_pid)

    devices = commands.add_parser("devices", help="list the input devices")
    devices.set_defaults(func=cmd_devices)

    doctor = commands.add_parser("doctor", help="check display, microphone, clipboard, server, Docker")
    _add_setting_flags(doctor)
    doctor.set_defaults(func=cmd_doctor)

    history = commands.add_parser("history", help="show the latest transcripts (setting 'history')")
    history.add_argument("-n", "--count", type=int, default=10, help="how many (default 10)")
    history.set_defaults(func=cmd_history)

    again = commands.add_parser("last", help="copy the last transcript to the clipboard again")
    again.add_argument("--print", action="store_true", help="print it instead")
    again.set_defaults(func=cmd_last)

    from turbo_whisper import autostart, stack_cli

    stack_cli.add_parsers(commands)
    autostart.add_parser(commands)
    return parser


def cmd_doctor(args: argparse.Namespace) -> int:
    from turbo_whisper.doctor import FAIL, render, run_checks

    settings = _settings(args)
    rows = run_checks(settings)
    _say(render(rows))
    return EXIT_ERROR if any(row.verdict == FAIL for row in rows) else 0


def cmd_history(args: argparse.Namespace) -> int:

    from turbo_whisper.history import history_path, latest

    entries = latest(max(1, args.count))
    if not entries:
        print(f"No history yet ({history_path()}); set history = true to keep one.")
        return 0
    for entry in entries:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(entry.get("at", 0)))
        _say(f"{when}  {entry.get('seconds', 0):>5.1f} s  {entry.get('text', '')}")
    return 0


def cmd_last(args: argparse.Namespace) -> int:
    from turbo_whisper.last import last_path, recall
    from turbo_whisper.output import Clipboard

    transcript = recall()
    if transcript is None:
        print(f"No transcript has been delivered yet ({last_path()}).", file=sys.stderr)
        return EXIT_ERROR
    if args.print:
        print(transcript)
        return 0
    Clipboard().deliver(transcript)
    print(f"The last transcript ({len(transcript.split())} words) is in the clipboard again.")
    return 0


def cmd_devices(args: argparse.Namespace) -> int:
    from turbo_whisper.audio import input_device_names

    names = input_device_names()
    print("\n".join(names) if names else "No input devices were found.")
    return 0 if names else EXIT_ERROR


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        try:
            args = parser.parse_args(argv)
            args.argv = sys.argv[1:] if argv is None else argv
        except SystemExit:  # --help, --version or a usage error, printed already
            sys.stdout.flush()
            raise
        code = _run(args)
        sys.stdout.flush()  # here, where a closed pipe can still be answered quietly
        return code
    except BrokenPipeError:  # `turbo-whisper doctor | head`: the reader has all it wanted
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # no second error when Python flushes at exit
        return 141  # as a shell reports a program ended by SIGPIPE


def _run(args: argparse.Namespace) -> int:
    try:
        return int(args.func(args))
    except ConfigError as exc:
        _say(f"turbo-whisper: {exc}", sys.stderr)
        return EXIT_USAGE
    except NotRunning as exc:
        _say(f"turbo-whisper: {exc}", sys.stderr)
        return EXIT_NOT_RUNNING
    except TurboWhisperError as exc:
        _say(f"turbo-whisper: {exc}", sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
