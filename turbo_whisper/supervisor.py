"""Keeping the client running: `turbo-whisper run --supervised`.

The launch script, the autostart entry and the systemd unit start the client this way. The
supervisor runs `turbo-whisper run` as a child, passes its output through (keeping the last
lines), and when the child dies of a crash, says so in the log with the crash's last words
and starts it again after a back-off (1 s, 2 s, 4 s ... 30 s). A client that crashes again
and again (CRASH_LIMIT times within CRASH_WINDOW seconds) is not started again, and the
supervisor says so. A stop asked by the user (SIGTERM, SIGINT, SIGHUP) is passed to the
child, and a clean exit or a setting to fix ends the supervision.

Only the standard library here: the supervisor must not share the client's failures.
"""

from __future__ import annotations

import collections
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from turbo_whisper.cli import EXIT_USAGE
from turbo_whisper.paths import private_dir, state_dir

log = logging.getLogger("turbo_whisper")

CRASH_LIMIT = 5
CRASH_WINDOW = 300.0
STEADY_SECONDS = 300.0  # a run this long resets the back-off
LAST_WORDS = 20  # lines of the child's output kept for the crash report
EXIT_CRASH_LOOP = 4


def describe(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit status {returncode}"


def is_crash(returncode: int, last_words: list[str]) -> bool:
    """Whether the child died by accident (restart it) rather than stopped for a reason
    a restart cannot change: a clean stop, a setting to fix, another client running."""
    if returncode in (0, EXIT_USAGE):
        return False
    return not any("already running" in line for line in last_words[-3:])


class Supervisor:
    """Runs a command again after each crash, with a back-off, until it crashes in a loop."""

    def __init__(self, command: list[str], *, notify: Callable[[str, str], None] | None = None,
                 backoff: float = 1.0, backoff_cap: float = 30.0,
                 env: dict[str, str] | None = None):
        self.command = command
        self.notify = notify or (lambda level, message: None)
        self.backoff, self.backoff_cap = backoff, backoff_cap
        self.env = env
        self.child: subprocess.Popen[bytes] | None = None
        self.crashes: collections.deque[float] = collections.deque()
        self._stop = threading.Event()
        self._stop_signal = signal.SIGTERM

    def run(self) -> int:
        """Supervise until a clean stop or a crash loop; the exit status to give."""
        delay = self.backoff
        while True:
            started = time.monotonic()
            returncode, last_words = self._run_child()
            if self._stop.is_set() or not is_crash(returncode, last_words):
                return returncode if returncode >= 0 else 128 - returncode
            now = time.monotonic()
            delay = self.backoff if now - started >= STEADY_SECONDS else delay
            self.crashes.append(now)
            while self.crashes and now - self.crashes[0] > CRASH_WINDOW:
                self.crashes.popleft()
            self._report(returncode, last_words)
            if len(self.crashes) >= CRASH_LIMIT:
                self._give_up()
                return EXIT_CRASH_LOOP
            log.warning("Starting Turbo Whisper again in %g s.", delay)
            if self._stop.wait(delay):
                return 0
            delay = min(self.backoff_cap, delay * 2)

    def stop(self, number: int = signal.SIGTERM) -> None:
        """Stop supervising, and pass the stop on to the child."""
        self._stop_signal = signal.Signals(number)
        self._stop.set()
        child = self.child
        if child is not None and child.poll() is None:
            child.send_signal(number)

    def _run_child(self) -> tuple[int, list[str]]:
        last_words: collections.deque[str] = collections.deque(maxlen=LAST_WORDS)
        self.child = subprocess.Popen(self.command, stdin=subprocess.DEVNULL,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                      env=self.env)
        if self._stop.is_set():  # a stop came while it started
            self.child.send_signal(self._stop_signal)
        # Read in a thread: a clipboard tool the child started keeps the pipe open after
        # the child is gone, so the end of the output is not the end of the child.
        reader = threading.Thread(target=_pass_through, args=(self.child.stdout, last_words),
                                  name="client-output", daemon=True)
        reader.start()
        returncode = self.child.wait()
        reader.join(timeout=1.0)
        return returncode, list(last_words)

    def _report(self, returncode: int, last_words: list[str]) -> None:
        words = "\n    ".join(last_words[-10:]) or "(nothing)"
        log.error("Turbo Whisper stopped unexpectedly (%s). Its last words:\n    %s",
                  describe(returncode), words)

    def _give_up(self) -> None:
        message = (f"Turbo Whisper crashed {len(self.crashes)} times in a few minutes and is "
                   "not started again; the log says why. Start it again with the launch "
                   "script or `turbo-whisper run` once that is fixed.")
        log.error("%s", message)
        self.notify("error", message)


def _pass_through(stream: Any, last_words: collections.deque[str]) -> None:
    """Copy the child's log to ours, as it is, keeping its last lines."""
    for line in stream:
        try:
            sys.stderr.buffer.write(line)
            sys.stderr.buffer.flush()
        except (OSError, ValueError):
            pass
        last_words.append(line.decode("utf-8", errors="replace").rstrip())
    stream.close()


def client_command(arguments: list[str]) -> list[str]:
    """`turbo-whisper run` with the same arguments, minus the supervision."""
    return [sys.executable, "-m", "turbo_whisper", "run",
            *[argument for argument in arguments if argument != "--supervised"]]


def supervise(arguments: list[str], notify: Callable[[str, str], None]) -> int:
    """Run the client under a Supervisor until the user stops it; the exit status."""
    supervisor = Supervisor(client_command(arguments), notify=notify)
    for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(number, lambda number, frame: supervisor.stop(number))
    return supervisor.run()


# --- what the client itself knows about the run before it ---------------------------------

def marker_path() -> Path:
    return state_dir() / "running"


class RunMarker:
    """A file that exists while the client runs: found at start, the last run crashed.

    Works whoever restarts the client (this supervisor, systemd, the user), because the
    client itself notes the clean stop.
    """

    def __init__(self, path: Path | None = None):
        self.path = path or marker_path()

    def begin(self) -> bool:
        """Note that the client runs; whether the run before it ended in a crash."""
        crashed = self.path.exists()
        try:
            private_dir(self.path.parent)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(f"{os.getpid()}\n")
        except OSError as exc:
            log.warning("Cannot note the run in %s (%s); a crash will not be told at the "
                        "next start.", self.path, exc)
        return crashed

    def end(self) -> None:
        """The client stops cleanly."""
        try:
            self.path.unlink(missing_ok=True)
        except OSError as exc:  # a read-only disk: the next start will think it crashed
            log.warning("Cannot note the clean stop in %s (%s).", self.path, exc)
