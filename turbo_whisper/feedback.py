"""Telling the user what happens: the log always, desktop notifications where there are any."""

from __future__ import annotations

import logging
import shutil
import subprocess

log = logging.getLogger("turbo_whisper")

_URGENCY = {"error": "critical", "warning": "normal", "info": "low"}
_LOG_LEVEL = {"error": logging.ERROR, "warning": logging.WARNING, "info": logging.INFO}


class Feedback:
    """Says things to the user; notification failures are never the user's problem."""

    def __init__(self, notifications: bool = True):
        self._notify_send = shutil.which("notify-send") if notifications else None

    def tell(self, level: str, message: str, *, notify: bool = True) -> None:
        log.log(_LOG_LEVEL.get(level, logging.INFO), "%s", message)
        if notify and self._notify_send:
            self._notify(level, message)

    def _notify(self, level: str, message: str) -> None:
        try:
            subprocess.Popen(
                [self._notify_send, "--app-name=Turbo Whisper", "-u", _URGENCY[level],
                 "Turbo Whisper", message],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError:
            self._notify_send = None

    def cue(self, name: str) -> None:
        """A short sound for start, stop, done or error (off when no cue player is set)."""
