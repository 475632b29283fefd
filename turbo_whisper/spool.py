"""A durable queue of recordings on disk: nothing is sent before it is safely written.

Each recording is one WAV file, written atomically (temporary file, fsync, rename) with mode
0600, and named so that sorting the names gives the order the recordings were made in. A
file is removed only once its transcript has been delivered.

Crash safety: a temporary file a kill left complete between write and rename is finished at
the next start. Before a transcript goes to the clipboard, a `.sent` file holding it is
written next to its recording: a restart that finds one does not send that recording again
(it could not know whether the clipboard got it) and keeps the text for the user instead.
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
SENT = ".sent"
ASIDE = ".aside"  # next to a recording set aside after failing again and again: why


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
        fsync_dir(path.parent)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def fsync_dir(directory: Path) -> None:
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
        self._sent_marker(entry).unlink(missing_ok=True)
        entry.path.with_suffix(ASIDE).unlink(missing_ok=True)

    def mark_aside(self, entry: SpoolEntry, why: str) -> None:
        """Note next to a recording that it is set aside: a start does not send it, `retry`
        does; `why` says what failed."""
        write_private(entry.path.with_suffix(ASIDE), why.encode("utf-8"))

    def aside_reason(self, entry: SpoolEntry) -> str | None:
        """Why the recording is set aside; None when it is not."""
        try:
            return entry.path.with_suffix(ASIDE).read_bytes().decode("utf-8", "replace")
        except FileNotFoundError:
            return None
        except OSError as exc:
            return f"(the note could not be read: {exc.strerror or exc})"

    def clear_aside(self, entry: SpoolEntry) -> None:
        entry.path.with_suffix(ASIDE).unlink(missing_ok=True)

    def _sent_marker(self, entry: SpoolEntry) -> Path:
        return entry.path.with_suffix(SENT)

    def mark_sent(self, entry: SpoolEntry, transcript: str) -> None:
        """Say on disk, before the transcript is delivered, that it is being delivered.

        Not synced: the note must outlive the process (a kill), which the page cache does;
        a power cut takes the clipboard with it, and then sending it again is right.
        """
        fd = os.open(self._sent_marker(entry), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(transcript.encode("utf-8"))

    def settle_sent(self) -> list[Path]:
        """Recordings whose delivery a crash interrupted: remove them (with every part of
        their dictation) and keep their transcripts in the undelivered folder; the files."""
        try:
            markers = sorted(self.directory.glob(f"*{SENT}"))
        except OSError:
            return []
        kept = []
        for marker in markers:
            entry = SpoolEntry(marker.with_suffix(".wav"))
            prefix = entry.group or entry.name
            kept.append(self.keep_text(entry, marker.read_text(encoding="utf-8")))
            for audio in [*self.directory.glob(f"{prefix}.p*.wav"), entry.path]:
                audio.unlink(missing_ok=True)
            marker.unlink()
        return kept

    def recover_temporary(self) -> list[SpoolEntry]:
        """Finish the writes a crash cut between writing and renaming: a complete hidden
        temporary file becomes the file it was for; an incomplete one is set aside."""
        finished = []
        for temporary in _orphans(self.directory):
            target = temporary.with_name(temporary.name[1:].rsplit(".", 2)[0])
            if target.exists() or not _complete(temporary):
                if not target.exists():
                    folder = self._undelivered()
                    os.replace(temporary, folder / f"{target.name}.incomplete")
                    log.warning("An incomplete recording file left by a crash is kept in %s.",
                                folder)
                temporary.unlink(missing_ok=True)
                continue
            os.replace(temporary, target)
            fsync_dir(target.parent)
            log.info("Finished %s, which a crash left as a hidden temporary file.", target.name)
            if target.suffix in (".wav", ".flac"):
                finished.append(SpoolEntry(target))
        return finished

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
        fsync_dir(folder)
        return folder

    def keep_text(self, entry: SpoolEntry | None, transcript: str) -> Path:
        """Save a transcript that could not be delivered, next to the spool."""
        folder = self._undelivered()
        name = entry.name if entry else f"{time.time_ns():020d}-{os.getpid()}"
        path = folder / f"{name}.txt"
        write_private(path, transcript.encode("utf-8"))
        return path


def _orphans(directory: Path) -> list[Path]:
    """Hidden temporary files of write_private whose writer is gone."""
    try:
        candidates = sorted(directory.glob(".*.tmp"))
    except OSError:
        return []
    orphans = []
    for path in candidates:
        pid = path.name.rsplit(".", 2)[-2]
        if pid.isdigit() and int(pid) != os.getpid() and _alive(int(pid)) \
                and time.time() - path.stat().st_mtime < 60:
            continue  # another process is writing it now
        orphans.append(path)
    return orphans


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _complete(path: Path) -> bool:
    """Whether a file holds all it was meant to: a WAV as long as its header says."""
    if path.name[1:].rsplit(".", 2)[0].endswith(".wav"):
        import wave

        try:
            with wave.open(str(path), "rb") as reader:
                expected = reader.getnframes() * reader.getsampwidth() * reader.getnchannels()
                return len(reader.readframes(reader.getnframes())) == expected
        except (wave.Error, EOFError, OSError):
            return False
    return path.stat().st_size > 0
