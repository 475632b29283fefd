"""Helpers of the reliability tests: the in-process client and the real client's dictations.

Two ways to drive the client:
- Harness: the real Dictation, the real ServerClient and the real Spool in this process,
  with a recorder that hands out spoken WAV files and an output that records what it is
  given. Fast, needs no display and no sound server.
- ClientProcess (tests/support/client.py): the real `turbo-whisper run` process, driven here
  with `turbo-whisper start` / `stop` while speech plays into the PulseAudio microphone.
"""

from __future__ import annotations

import logging
import os
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from support.client import ClientProcess
from support.services import ServerHandle, ServerLauncher

MODEL = "Systran/faster-whisper-large-v3"


def wait_for(check: Callable[[], Any], timeout: float, what: str,
             explain: Callable[[], str] = lambda: "") -> Any:
    """Poll until check() is truthy and return its value; fail with `what` after timeout."""
    end = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= end:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}\n{explain()}")
        time.sleep(0.02)


def file_mode(path: Path) -> int:
    return os.stat(path).st_mode & 0o777


# --------------------------------------------------------------------------- servers


class Servers:
    """Starts loopback servers, including a new one on the port of one that died."""

    def __init__(self, launcher: ServerLauncher):
        self.launcher = launcher

    def __call__(self, dialect: str = "fedirz", **options: Any) -> ServerHandle:
        return self.launcher.start(dialect, **options)

    def on_port(self, port: int, dialect: str = "fedirz", **options: Any) -> ServerHandle:
        """A new server listening on `port` (the server keeps the last --port it is given)."""
        extra = [*options.pop("extra_args", ()), "--port", str(port)]
        return self.launcher.start(dialect, extra_args=extra, **options)


# --------------------------------------------------------------------------- in-process client


class WavRecorder:
    """A recorder stand-in: each recording is the next clip, in turn, round and round."""

    def __init__(self, wavs: list[Path]):
        from turbo_whisper.audio import decode_wav

        self.clips = [decode_wav(path.read_bytes()) for path in wavs]
        self.recording = False
        self.made = 0

    def start(self) -> None:
        self.recording = True

    def stop(self):
        from turbo_whisper.audio import Recording

        self.recording = False
        samples, rate = self.clips[self.made % len(self.clips)]
        self.made += 1
        return Recording(samples, rate, time.time())


class ListOutput:
    """An output stand-in that keeps every transcript it is given, in order."""

    inserts: bool = False  # a clipboard: each text replaces the one before

    def __init__(self) -> None:
        self.texts: list[str] = []
        self._lock = threading.Lock()

    def deliver(self, transcript: str) -> None:
        with self._lock:
            self.texts.append(transcript)


class LogRecords(logging.Handler):
    """Every log line of the client, as the user would read it."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def lines(self, level: int = logging.DEBUG) -> list[str]:
        return [f"{r.levelname}: {r.getMessage()}" for r in list(self.records)
                if r.levelno >= level]

    def text(self, level: int = logging.DEBUG) -> str:
        return "\n".join(self.lines(level))


class Harness:
    """The real daemon (Dictation, ServerClient, Spool) with a WAV recorder and a list output."""

    def __init__(self, home: Path, records: LogRecords):
        self.home = home
        self.records = records
        self.app: Any = None
        self.output = ListOutput()
        self.spool_dir = home / "state" / "spool"

    def start(self, server_url: str, wavs: list[Path], spool_dir: Path | None = None,
              **settings: Any) -> Harness:
        from turbo_whisper.config import Settings
        from turbo_whisper.daemon import build_daemon
        from turbo_whisper.feedback import Feedback
        from turbo_whisper.spool import Spool

        values = {"server_url": server_url, "model": MODEL, "notifications": False,
                  "sounds": False, **settings}
        config = replace(Settings(), **values)
        self.spool_dir = spool_dir or self.spool_dir
        self.recorder = WavRecorder(wavs)
        self.daemon = build_daemon(
            config, recorder=self.recorder, output=self.output,
            feedback=Feedback(notifications=False), spool=Spool(self.spool_dir),
            single_instance=False, control=False, crash_marker=False, progress=False,
            indicator=False, hotkey=False)
        self.app = self.daemon.app
        self.daemon.start()
        return self

    def dictate(self) -> None:
        """One press to start, one to stop, as the hotkey or `turbo-whisper toggle` does."""
        assert self.app.request("start")["state"] == "recording"
        assert self.app.request("stop")["state"] == "idle"

    def kept(self) -> list[Path]:
        return sorted(self.spool_dir.glob("*.wav"))

    def log(self, level: int = logging.DEBUG) -> str:
        return self.records.text(level)

    def wait_log(self, text: str, timeout: float = 30.0, level: int = logging.DEBUG) -> str:
        """Wait for a log line containing text; return that line."""
        def find() -> str | None:
            return next((line for line in self.records.lines(level) if text in line), None)

        return wait_for(find, timeout, f"{text!r} in the client log", self.log)

    def wait_delivered(self, count: int, timeout: float = 60.0) -> list[str]:
        wait_for(lambda: len(self.output.texts) >= count, timeout,
                 f"{count} transcript(s) delivered", self.log)
        return list(self.output.texts)

    def wait_spool_empty(self, timeout: float = 10.0) -> None:
        wait_for(lambda: not self.kept(), timeout, "the spool to empty", self.log)

    def stop(self) -> None:
        if self.app is not None:
            self.daemon.stop()
            self.app = None


# --------------------------------------------------------------------------- the real client


def set_clipboard(display: str, text: str) -> None:
    """Put a marker in the clipboard, so that a later transcript is known to be new."""
    subprocess.run(["xclip", "-selection", "clipboard", "-i"], input=text.encode(),
                   env={**os.environ, "DISPLAY": display}, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=10, check=True)


def start_recording(run: ClientProcess) -> None:
    answer = run.command("start")
    assert answer.returncode == 0 and "Recording" in answer.stdout, answer


def stop_recording(run: ClientProcess) -> None:
    answer = run.command("stop")
    assert answer.returncode == 0, answer


def dictate(run: ClientProcess, pulse, wav: Path) -> None:
    """`turbo-whisper start`, the speech into the microphone, `turbo-whisper stop`."""
    start_recording(run)
    pulse.play(wav)
    time.sleep(0.3)
    stop_recording(run)


def kept(run: ClientProcess) -> list[Path]:
    return sorted(run.spool.glob("*.wav"))
