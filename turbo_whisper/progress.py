"""The server's download progress, watched while the server is not ready.

A cold server container can take minutes to download its model; the engine only knows that
it is not ready. The watcher asks the container what it is doing every few seconds, logs each
new step, notifies the desktop at most once a minute, and keeps the latest step for
`turbo-whisper status`. It runs in a thread of its own and owns nothing else.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from turbo_whisper.feedback import Feedback
from turbo_whisper.status import EngineStatus

PROGRESS_EVERY_SECONDS = 10.0
PROGRESS_NOTIFY_SECONDS = 60.0  # a progress note on the desktop at most this often


class ProgressWatcher:
    """Reads `read()` until `ready()`; `detail` is the latest step, "" when none."""

    def __init__(self, read: Callable[[], EngineStatus | None] | None,
                 ready: Callable[[], bool], feedback: Feedback,
                 clock: Callable[[], float] = time.monotonic):
        self._read = read
        self._ready = ready
        self._feedback = feedback
        self._clock = clock
        self._lock = threading.Lock()  # the detail, read by `status` while the thread writes
        self._detail = ""
        self._notified = clock()
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()

    @property
    def detail(self) -> str:
        with self._lock:
            return self._detail

    def start(self) -> None:
        """Watch in a thread, unless there is nothing to watch or it is watching already."""
        if self._read is None or (self._thread and self._thread.is_alive()):
            return
        self._notified = self._clock()  # the phase change itself was just notified
        self._thread = threading.Thread(target=self._run, name="progress", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """The thread ends at its next look (it is not waited for)."""
        self._stopped.set()

    def _run(self) -> None:
        while not self._stopped.wait(PROGRESS_EVERY_SECONDS) and not self._ready():
            self.look()
        self._set_detail("")

    def look(self) -> None:
        """Read the progress once: the log gets every new step, the desktop a note a minute
        at most."""
        assert self._read is not None
        status = self._read()
        detail = status.detail if status is not None else ""
        if detail and detail != self.detail:
            due = self._clock() - self._notified >= PROGRESS_NOTIFY_SECONDS
            self._notified = self._clock() if due else self._notified
            self._feedback.tell("info", detail, notify=due)
        self._set_detail(detail)

    def _set_detail(self, detail: str) -> None:
        with self._lock:
            self._detail = detail
