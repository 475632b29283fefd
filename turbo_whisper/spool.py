"""A durable queue of recordings on disk: nothing is sent before it is safely written.

Each recording is one WAV file, written atomically (temporary file, fsync, rename) with mode
0600, and named so that sorting the names gives the order the recordings were made in. A
file is removed only once its transcript has been delivered.

Crash safety: a temporary file a kill left complete between write and rename is finished at
the next start. Before a transcript goes to the clipboard, a `.sent` file holding it is
written next to its recording: a restart that finds one does not send that recording again
(it could not know whether the clipboard got it) and keeps the text for the user instead.

A full or read-only disk: a recording the spool folder cannot take goes to the first
fallback folder that can (the cache, then the runtime dir, private like the spool), and is
read from there like any other. A delivered recording whose file cannot be removed is
remembered as delivered, in memory and in a `.delivered` note wherever one can be written,
so that neither a retry nor the next start sends it again.
"""

from __future__ import annotations

import itertools
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from turbo_whisper import advice
from turbo_whisper.errors import NotKept, NotRemoved
from turbo_whisper.paths import (
    NotYours,
    cache_dir,
    check_private,
    private_dir,
    runtime_dir,
    spool_dir,
)

log = logging.getLogger(__name__)

_counter = itertools.count()
SENT = ".sent"
ASIDE = ".aside"  # next to a recording set aside after failing again and again: why
DELIVERED = ".delivered"
AUDIO = (".wav", ".flac")


@dataclass(frozen=True)
class SpoolEntry:
    path: Path
    refused: str = field(default="", compare=False)  # why the spool folder did not take it

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


def default_spool() -> Spool:
    """The user's spool, with the cache and the runtime dir for when it cannot take a file."""
    return Spool(spool_dir(), fallbacks=(cache_dir() / "spool", runtime_dir() / "spool"))


class Spool:
    """Recordings waiting for their transcript, oldest first."""

    def __init__(self, directory: Path, fallbacks: tuple[Path, ...] = ()):
        self.directory = directory
        self.fallbacks = fallbacks
        self._delivered: set[str] = set()  # delivered in this run, their file still there

    @property
    def places(self) -> list[Path]:
        """Where recordings are kept: the spool folder first, then its fallbacks."""
        return [self.directory, *self.fallbacks]

    @staticmethod
    def new_name() -> str:
        """A name that sorts after every earlier one: nanoseconds, process, counter."""
        return f"{time.time_ns():020d}-{os.getpid()}-{next(_counter):04d}"

    def put(self, audio: bytes, name: str | None = None) -> SpoolEntry:
        """Keep a recording on disk before anything else happens to it.

        Parts of one long dictation are named "<dictation>.p<index>" so they sort together.
        A folder that cannot take it (full, read-only, not the user's) passes it on to the
        next place; NotKept when none can.
        """
        name = name or self.new_name()
        refusals: list[tuple[Path, OSError]] = []
        for folder in self.places:
            try:
                path = private_dir(folder) / f"{name}.wav"
                write_private(path, audio)
            except OSError as exc:
                refusals.append((folder, exc))
                continue
            return SpoolEntry(path, advice.reason(refusals[0][1]) if refusals else "")
        raise NotKept(advice.not_kept(refusals), refusals)

    def pending(self) -> list[SpoolEntry]:
        """Every kept recording not yet delivered, in the order they were made; NotYours for
        a spool folder that is not the user's own and private (its files could be anybody's)."""
        delivered = self.delivered_names()
        found = [*self._listed(self.directory)]
        for folder in self.fallbacks:
            try:
                found += self._listed(folder)
            except NotYours as exc:
                log.warning("%s", exc)
        return sorted((e for e in found if e.name not in delivered), key=lambda e: e.name)

    @staticmethod
    def _listed(folder: Path) -> list[SpoolEntry]:
        if folder.is_file() and not folder.is_symlink():
            return []  # a file where the folder should be holds no recordings; put() says why
        if not check_private(folder):
            return []
        try:
            return [SpoolEntry(p) for p in folder.iterdir()
                    if p.suffix in AUDIO and not p.name.startswith(".")]
        except (FileNotFoundError, NotADirectoryError):
            return []

    def done(self, entry: SpoolEntry) -> None:
        """Forget a recording whose transcript was delivered; NotRemoved when its file stays
        (a read-only disk): it is then remembered as delivered, and never sent again."""
        self._delivered.add(entry.name)
        try:
            entry.path.unlink(missing_ok=True)
        except OSError as exc:
            self._note_delivered(entry)
            raise NotRemoved(advice.not_removed(entry.path.parent, exc), entry.name) from exc
        self._delivered.discard(entry.name)
        self._forget_notes(entry.name)

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

    def _notes(self, suffix: str) -> list[Path]:
        """The notes of one kind in every place, in the order their recordings were made."""
        notes: list[Path] = []
        for folder in self.places:
            try:
                if check_private(folder):
                    notes += folder.glob(f"*{suffix}")
            except OSError:
                continue
        return sorted(notes, key=lambda note: note.name)

    def _write_note(self, name: str, suffix: str, text: str) -> Path:
        """A small note in the first place that takes it; the first refusal when none does."""
        refusals: list[OSError] = []
        for folder in self.places:
            note = folder / f"{name}{suffix}"
            try:
                fd = os.open(private_dir(folder) / note.name,
                             os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            except OSError as exc:
                refusals.append(exc)
                continue
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(text.encode("utf-8"))
                return note
            except OSError as exc:  # a full disk: an empty note would say nothing true
                refusals.append(exc)
                note.unlink(missing_ok=True)
        raise refusals[0]

    def _forget_notes(self, name: str) -> None:
        for folder in self.places:
            for suffix in (SENT, DELIVERED, ASIDE):
                try:
                    (folder / f"{name}{suffix}").unlink(missing_ok=True)
                except OSError:
                    pass  # a read-only place holds no note of ours to remove

    def _note_delivered(self, entry: SpoolEntry) -> None:
        try:
            self._write_note(entry.name, DELIVERED, str(entry.path))
        except OSError as exc:
            log.warning("No folder takes the note that %s was delivered (%s); it is not sent "
                        "again while the client runs.", entry.path, exc)

    def delivered_names(self) -> set[str]:
        """Recordings delivered whose file could not be removed: not to be sent again."""
        return self._delivered | {note.stem for note in self._notes(DELIVERED)}

    def mark_sent(self, entry: SpoolEntry, transcript: str) -> None:
        """Say on disk, before the transcript is delivered, that it is being delivered (next
        to the recording, or in a fallback place when its folder is read-only).

        Not synced: the note must outlive the process (a kill), which the page cache does;
        a power cut takes the clipboard with it, and then sending it again is right.
        """
        self._write_note(entry.name, SENT, transcript)

    def settle_delivered(self) -> list[Path]:
        """Remove the recordings delivered in an earlier run that their folder kept; the ones
        it still will not let go (read-only yet): they are not sent again."""
        staying = []
        for note in self._notes(DELIVERED):
            recordings = self._files_of(note.stem, group=False)
            try:
                for recording in recordings:
                    recording.unlink()
            except OSError:
                self._delivered.add(note.stem)
                staying += recordings
                continue
            self._forget_notes(note.stem)
        return staying

    def find(self, name: str) -> Path | None:
        """The WAV file of the recording `name`, in whichever place holds it."""
        return next((path for path in self._files_of(name, group=False)
                     if path.suffix == ".wav"), None)

    def _files_of(self, name: str, group: bool) -> list[Path]:
        """The audio files named `name` in every place; with `group`, every part of its
        dictation too."""
        prefix = name.split(".")[0]
        files = []
        for folder in self.places:
            for suffix in AUDIO:
                files += [folder / f"{name}{suffix}"]
                if group:
                    files += folder.glob(f"{prefix}.p*{suffix}")
        return sorted({path for path in files if path.exists()})

    def settle_sent(self) -> list[Path]:
        """Recordings whose delivery a crash interrupted: remove them (with every part of
        their dictation) and keep their transcripts in the undelivered folder; the files."""
        delivered = self.delivered_names()
        kept = []
        for marker in self._notes(SENT):
            if marker.stem in delivered:
                continue  # delivered for certain: settle_delivered removes it
            entry = SpoolEntry(marker.with_suffix(".wav"))
            transcript = marker.read_text(encoding="utf-8", errors="replace")
            if not transcript:  # killed before the note was written: nothing was delivered
                marker.unlink(missing_ok=True)
                continue
            kept.append(self.keep_text(entry, transcript))
            for audio in self._files_of(entry.name, group=True):
                try:
                    audio.unlink()
                except OSError:
                    self._note_delivered(SpoolEntry(audio))
                    self._delivered.add(audio.stem)
            try:
                marker.unlink()
            except OSError:
                pass
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
        """Save a transcript that could not be delivered, next to the spool (or next to a
        fallback place when the spool's disk cannot take it)."""
        name = entry.name if entry else f"{time.time_ns():020d}-{os.getpid()}"
        refusals: list[OSError] = []
        for place in self.places:
            try:
                path = private_dir(place.parent / "undelivered") / f"{name}.txt"
                write_private(path, transcript.encode("utf-8"))
                return path
            except OSError as exc:
                refusals.append(exc)
        raise refusals[0]


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
