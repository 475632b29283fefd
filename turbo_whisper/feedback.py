"""Telling the user what happens: the log always, desktop notifications where there are any."""

from __future__ import annotations

import logging
import shutil
import subprocess
import threading
from typing import Any

from turbo_whisper import sanitize

log = logging.getLogger("turbo_whisper")

_URGENCY = {"error": "critical", "warning": "normal", "info": "low"}
_LOG_LEVEL = {"error": logging.ERROR, "warning": logging.WARNING, "info": logging.INFO}


# (frequency Hz, milliseconds) notes of each cue; generated, so no sound files are needed.
CUES: dict[str, tuple[tuple[float, int], ...]] = {
    "start": ((880.0, 70),),
    "stop": ((660.0, 70),),
    "done": ((990.0, 60), (1320.0, 80)),
    "error": ((330.0, 120), (220.0, 200)),
}
CUE_RATE = 22050


def cue_samples(name: str, volume: float = 0.2) -> Any:
    """The cue as float32 samples, each note faded in and out so it does not click."""
    import numpy as np

    notes = []
    for frequency, milliseconds in CUES[name]:
        t = np.arange(int(CUE_RATE * milliseconds / 1000)) / CUE_RATE
        fade = np.minimum(1.0, np.minimum(t, t[-1] - t) / 0.008)
        notes.append((np.sin(2 * np.pi * frequency * t) * fade * volume).astype(np.float32))
    return np.concatenate(notes)


class Feedback:
    """Says things to the user; notification and sound failures are never the user's problem."""

    def __init__(self, notifications: bool = True, sounds: bool = False):
        self._notify_send = shutil.which("notify-send") if notifications else None
        self._sounds = sounds

    def tell(self, level: str, message: str, *, notify: bool = True) -> None:
        log.log(_LOG_LEVEL.get(level, logging.INFO), "%s", message)
        if notify:
            self.notify(level, message)

    def notify(self, level: str, message: str) -> None:
        """A desktop notification only (it may show transcript words; the log never does)."""
        if not self._notify_send:
            return
        message = sanitize.shown(message)  # a server's words may echo the key or hold controls
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
        """A short sound for start, stop, done or error, played without blocking the caller."""
        if self._sounds:
            threading.Thread(target=self._play, args=(name,), name="cue", daemon=True).start()

    def _play(self, name: str) -> None:
        try:
            import sounddevice as sd

            sd.play(cue_samples(name), CUE_RATE, blocking=True)
        except Exception as exc:  # no output device: say it once, then stay quiet
            self._sounds = False
            log.info("Sound cues are off: no sound output (%s).", exc)
