"""A durable queue of recordings on disk: nothing is sent before it is safely written.

Each recording is one WAV file, written atomically (temporary file, fsync, rename) with mode
0600, and named so that sorting the names gives the order the recordings were made in. A
file is removed only once its transcript has been delivered.
"""

from __future__ import annotations

import itertools
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from turbo_whisper.errors import SpoolError
from turbo_whisper.paths import check_private, private_dir

log = logging.getLogger(__name__)

_counter = itertools.count()


@dataclass(frozen=True)
class SpoolEntry:
    path: Path

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def group(self) -> str | None:
        """For a part of a long dictation, the dictation it belongs to."""
        return self.name.split(".")[0] if "." in self.name else None

    def read(self) -> bytes:
        return self.path.read_bytes()


def write_private(path: Path, data: bytes) -> None:
    """Write data to path atomically, readable by the owner only."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
        _fsync_dir(path.parent)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Spool:
    """Recordings waiting for their transcript, oldest first."""

    def __init__(self, directory: Path):
        self.directory = directory

    @staticmethod
    def new_name() -> str:
        """A name that sorts after every earlier one: nanoseconds, process, counter."""
        return f"{time.time_ns():020d}-{os.getpid()}-{next(_counter):04d}"

    def put(self, audio: bytes, name: str | None = None) -> SpoolEntry:
        """Keep a recording on disk before anything else happens to it.

        Parts of one long dictation are named "<dictation>.p<index>" so they sort together.
        """
        try:
            path = private_dir(self.directory) / f"{name or self.new_name()}.wav"
            write_private(path, audio)
        except OSError as exc:
            raise SpoolError(
                f"The recording could not be saved in {self.directory} ({exc.strerror or exc}); "
                "it is sent from memory now, but would be lost if this fails too. "
                "Free some disk space or fix that folder's permissions."
            ) from exc
        return SpoolEntry(path)

    def pending(self) -> list[SpoolEntry]:
        """Every kept recording, in the order they were made; NotYours for a folder that is
        not the user's own and private (its files could be anybody's)."""
        if self.directory.is_file() and not self.directory.is_symlink():
            return []  # a file where the folder should be holds no recordings; put() says why
        if not check_private(self.directory):
            return []
        try:
            names = sorted(p for p in self.directory.iterdir()
                           if p.suffix in (".wav", ".flac") and not p.name.startswith("."))
        except (FileNotFoundError, NotADirectoryError):
            return []
        return [SpoolEntry(p) for p in names]

    def done(self, entry: SpoolEntry) -> None:
        """Forget a recording whose transcript was delivered."""
        entry.path.unlink(missing_ok=True)

    def _undelivered(self) -> Path:
        """The private folder, next to the spool, for what could not be delivered."""
        return private_dir(self.directory.parent / "undelivered")

    def set_aside(self, entries: list[SpoolEntry], audio: bytes | None = None) -> Path:
        """Move recordings out of the queue into the undelivered folder (with `audio`, a
        recording that never reached the spool); the folder."""
        folder = self._undelivered()
        if audio is not None:
            write_private(folder / f"{self.new_name()}.wav", audio)
        for entry in entries:
            os.replace(entry.path, folder / entry.path.name)
        _fsync_dir(folder)
        return folder

    def keep_text(self, entry: SpoolEntry | None, transcript: str) -> Path:
        """Save a transcript that could not be delivered, next to the spool."""
        folder = self._undelivered()
        name = entry.name if entry else f"{time.time_ns():020d}-{os.getpid()}"
        path = folder / f"{name}.txt"
        write_private(path, transcript.encode("utf-8"))
        return path
