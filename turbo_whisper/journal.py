"""The recording in progress, on disk while it is being made.

A thread of its own appends the audio to `<name>.rec` in the spool and syncs it to disk
about twice a second, so a kill, a crash or a power cut loses at most the last half
second. The audio callback only copies blocks, as before; this thread takes them from
the recorder. The file is removed once the finished recording is in the spool; one that
is still there at the next start is made a WAV and sent like any other.

The file's header says how much of the recording is already in the spool as parts of a
long dictation (and which part comes next), so recovery sends only the rest.
"""

from __future__ import annotations

import logging
import os
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from turbo_whisper.audio import encode_wav
from turbo_whisper.paths import private_dir
from turbo_whisper.spool import Spool, fsync_dir, write_private

log = logging.getLogger(__name__)

SUFFIX = ".rec"
SYNC_EVERY_SECONDS = 0.5
_MAGIC = b"TWJ1"
_HEADER = struct.Struct("<4sIQI4x")  # magic, sample rate, frames in the spool, next part
_PROGRESS_AT = 8  # where the two progress fields begin


class Source(Protocol):
    @property
    def samplerate(self) -> int: ...
    def blocks_since(self, index: int) -> tuple[list[np.ndarray], int]: ...


class Journal:
    """Writes one recording to disk as it comes in; created when the recording starts."""

    def __init__(self, path: Path, source: Source):
        self.path = path
        self.name = path.stem
        self._source = source
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._end = _HEADER.size
        self._index = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()  # one writer at a time: the thread, or the final flush
        try:
            os.pwrite(self._fd, _HEADER.pack(_MAGIC, source.samplerate, 0, 0), 0)
        except OSError:  # a full disk: an empty file would look like a damaged journal later
            self._close_fd()
            path.unlink(missing_ok=True)
            raise
        self._thread = threading.Thread(target=self._run, name="journal", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            fsync_dir(self.path.parent)  # the new file's name survives a power cut too
        except OSError:
            pass
        while not self._stop.wait(SYNC_EVERY_SECONDS):
            self._flush()

    def _flush(self) -> None:
        with self._lock:
            if self._fd < 0:
                return
            blocks, self._index = self._source.blocks_since(self._index)
            data = b"".join(np.asarray(b, dtype="<i2").tobytes() for b in blocks)
            try:
                if data:
                    self._end += os.pwrite(self._fd, data, self._end)
                os.fsync(self._fd)
            except OSError as exc:  # a full disk: the recording is still in memory
                log.warning("The recording in progress cannot be written to disk (%s); it "
                            "goes on in memory only, and is lost if the client crashes.", exc)
                self._close_fd()

    def mark_spooled(self, frames: int, next_part: int) -> None:
        """The first `frames` of the recording are in the spool, as parts before `next_part`."""
        with self._lock:
            if self._fd >= 0:
                os.pwrite(self._fd, struct.pack("<QI", frames, next_part), _PROGRESS_AT)
                os.fsync(self._fd)

    def finish(self) -> None:
        """The recording stopped: stop writing (the file stays until remove())."""
        self._stop.set()
        self._thread.join(timeout=5)
        with self._lock:
            self._close_fd()

    def remove(self) -> None:
        """The finished recording is safe in the spool: forget the journal."""
        self.finish()
        self.path.unlink(missing_ok=True)

    def _close_fd(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def begin(spool: Spool, source: object, name: str) -> Journal | None:
    """A journal for the recording that starts now, or None where it cannot be kept."""
    if not hasattr(source, "blocks_since"):
        return None  # a recorder that keeps nothing to write (tests, `retry`)
    try:
        return Journal(private_dir(spool.directory) / f"{name}{SUFFIX}", source)  # type: ignore[arg-type]
    except OSError as exc:
        log.warning("The recording cannot be written to disk while it is made (%s); it is "
                    "in memory only until it stops.", exc)
        return None


@dataclass(frozen=True)
class Recovered:
    name: str  # of the spool entry made
    seconds: float


def recover(spool: Spool, keep: Callable[[np.ndarray, int], bool]) -> list[Recovered]:
    """Turn every journal left by a crash into a spool entry (the audio not yet in the
    spool, when `keep` accepts it), and remove the journal."""
    try:
        paths = sorted(spool.directory.glob(f"*{SUFFIX}"))
    except OSError:
        return []
    recovered = []
    for path in paths:
        try:
            made = _recover_one(spool, path, keep)
        except (OSError, ValueError) as exc:
            log.error("The interrupted recording %s cannot be recovered (%s); it is left "
                      "in place.", path, exc)
            continue
        if made is not None:
            recovered.append(made)
    return recovered


def _recover_one(spool: Spool, path: Path, keep: Callable[[np.ndarray, int], bool]
                 ) -> Recovered | None:
    data = path.read_bytes()
    if len(data) < _HEADER.size or data[:4] != _MAGIC:
        raise ValueError("not a recording journal")
    _, rate, spooled, next_part = _HEADER.unpack_from(data)
    body = data[_HEADER.size:]
    samples = np.frombuffer(body[: len(body) - len(body) % 2], dtype="<i2")
    name = path.stem
    if spooled or next_part or spool.find(f"{name}.p000"):
        # A long dictation: parts up to next_part are in the spool (or its fallback places);
        # parts written after the header's last update are there too.
        while part := spool.find(f"{name}.p{next_part:03d}"):
            spooled += _wav_frames(part)
            next_part += 1
        name = f"{name}.p{next_part:03d}"
    rest = samples[spooled:]
    made = None
    if not spool.find(name) and len(rest) and keep(rest, rate):
        write_private(spool.directory / f"{name}.wav", encode_wav(rest, rate))
        made = Recovered(name, len(rest) / rate)
    path.unlink()
    return made


def _wav_frames(path: Path) -> int:
    import wave

    with wave.open(str(path), "rb") as reader:
        return reader.getnframes()
