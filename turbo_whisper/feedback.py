"""Telling the user what happens: the log always, desktop notifications where there are any."""

from __future__ import annotations

import hashlib
import logging
import shutil
import subprocess
import sys
from pathlib import Path
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


def cue_samples(name: str, volume: float = 0.2, rate: int = CUE_RATE) -> Any:
    """The cue as float32 samples, each note faded in and out so it does not click."""
    import numpy as np

    notes = []
    for frequency, milliseconds in CUES[name]:
        t = np.arange(int(rate * milliseconds / 1000)) / rate
        fade = np.minimum(1.0, np.minimum(t, t[-1] - t) / 0.008)
        notes.append((np.sin(2 * np.pi * frequency * t) * fade * volume).astype(np.float32))
    return np.concatenate(notes)


# Tools of the sound servers themselves, in order of preference: PulseAudio (also served by
# PipeWire), PipeWire, ALSA.
PLAYERS: tuple[tuple[str, ...], ...] = (("paplay",), ("pw-play",), ("aplay", "-q"))
FAILURES_BEFORE_QUIET = 3


def player_command() -> list[str]:
    """The command that plays a WAV file given as its last argument."""
    for tool, *options in PLAYERS:
        path = shutil.which(tool)
        if path:
            return [path, *options]
    # No sound server tool: a separate Python process plays it through PortAudio.
    return [sys.executable, "-m", "turbo_whisper.feedback"]


def write_cue_files(folder: Path) -> dict[str, Path]:
    """Each cue as a WAV file in folder, written once (the name changes with the sound)."""
    from turbo_whisper.audio import encode_wav
    from turbo_whisper.paths import private_dir
    from turbo_whisper.spool import write_private

    private_dir(folder)
    files = {}
    for name in CUES:
        wav = encode_wav((cue_samples(name) * 32767).astype("<i2"), CUE_RATE)
        path = folder / f"cue-{name}-{hashlib.sha256(wav).hexdigest()[:12]}.wav"
        if not path.exists():
            write_private(path, wav)
        files[name] = path
    return files


class CuePlayer:
    """Plays cues in a child process (paplay, pw-play or aplay), never in this one.

    PortAudio is not safe to call from several threads at once: a cue played with
    sounddevice while the recorder opens the microphone crashed or hung the client. Out of
    process, a cue cannot disturb the recorder, and a player that fails is only a lost beep.
    """

    def __init__(self, folder: Path):
        self._files = write_cue_files(folder)
        self._command = player_command()
        self._playing: list[subprocess.Popen[bytes]] = []
        self._failures = 0
        self.on = True

    def play(self, name: str) -> None:
        self._reap()
        if not self.on:
            return
        try:
            self._playing.append(subprocess.Popen(
                [*self._command, str(self._files[name])], stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True))
        except OSError as exc:
            self._quiet(f"{self._command[0]} cannot be started ({exc.strerror or exc})")

    def hush(self) -> bool:
        """Cut short the cues still playing; whether there were any."""
        self._reap()
        for process in self._playing:
            process.terminate()
        return bool(self._playing)

    def _reap(self) -> None:
        """Collect finished players; after a few failures in a row, stop trying."""
        for process in [p for p in self._playing if p.poll() is not None]:
            self._playing.remove(process)
            self._failures = self._failures + 1 if process.returncode else 0
        if self._failures >= FAILURES_BEFORE_QUIET and self.on:
            self._quiet(f"{Path(self._command[0]).name} could not play them "
                        f"{self._failures} times in a row")

    def _quiet(self, why: str) -> None:
        self.on = False
        log.info("Sound cues are off: %s. Set sounds = false to silence this line.", why)


class Feedback:
    """Says things to the user; notification and sound failures are never the user's problem."""

    def __init__(self, notifications: bool = True, sounds: bool = False,
                 cue_folder: Path | None = None):
        self._notify_send = shutil.which("notify-send") if notifications else None
        self._player: CuePlayer | None = None
        if sounds:
            try:
                self._player = CuePlayer(cue_folder or _cache_dir())
            except OSError as exc:
                log.info("Sound cues are off: their files cannot be written (%s).", exc)

    @property
    def sounds(self) -> bool:
        """Whether cues are played (they can come back through the microphone)."""
        return self._player is not None and self._player.on

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

    def hush(self) -> bool:
        """Cut short the cues still playing (before the microphone hears them); whether
        there were any."""
        return self._player.hush() if self._player is not None else False

    def cue(self, name: str) -> None:
        """A short sound for start, stop, done or error; returns at once."""
        if self._player is not None:
            self._player.play(name)


def _cache_dir() -> Path:
    from turbo_whisper.paths import cache_dir

    return cache_dir()


def _play_here(path: str) -> int:
    """The last-resort player, run as its own process: the WAV through PortAudio."""
    import sounddevice as sd

    from turbo_whisper.audio import decode_wav

    samples, rate = decode_wav(Path(path).read_bytes())
    sd.play(samples, rate, blocking=True)
    return 0


if __name__ == "__main__":
    sys.exit(_play_here(sys.argv[1]))
