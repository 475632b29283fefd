"""Recordings on their way to a transcript: the Job, and the Book of those not yet delivered.

The Book is shared by the controller (which queues recordings), the worker (which asks it
what comes next) and `status`; it has its own lock, so none of them reads its state bare.
"""

from __future__ import annotations

import enum
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from turbo_whisper.audio import decode_wav, loudest_dbfs
from turbo_whisper.errors import Reason, ServerError
from turbo_whisper.server import Backoff
from turbo_whisper.spool import SpoolEntry

ATTEMPTS = 4  # a recording the server keeps failing is set aside after this many tries
FIRST_WAIT = 1.0  # seconds before its second try; each wait doubles (with jitter)
# Failures that say the server is not ready (yet), not that this recording fails: they wait
# for it, in order, and do not spend the recording's attempts.
NOT_READY = frozenset({Reason.UNREACHABLE, Reason.BUSY, Reason.NOT_READY, Reason.MODEL_MISSING,
                       Reason.NO_ROUTE})


def _backoff() -> Backoff:
    return Backoff(start=FIRST_WAIT, factor=2.0, cap=30.0)


class AfterFailure(enum.Enum):
    HOLD = "hold"  # only the user can clear it: kept until `retry`
    WAIT = "wait"  # the server is not ready: the whole queue waits, in order
    AGAIN = "again"  # sent again after a wait, in its place; it spends one of its attempts
    SET_ASIDE = "set aside"  # its attempts are spent: kept until `retry`, the rest go on


def after_failure(error: ServerError, failed_before: int) -> AfterFailure:
    """What follows a failed transcription; `failed_before`: the attempts of this recording
    that failed before and spent its budget (WAIT spends none)."""
    if not error.retryable:
        return AfterFailure.HOLD
    if error.reason in NOT_READY:
        return AfterFailure.WAIT
    return AfterFailure.AGAIN if failed_before + 1 < ATTEMPTS else AfterFailure.SET_ASIDE


@dataclass(eq=False)
class Job:
    wav: bytes
    seconds: float
    loudest_dbfs: float
    entry: SpoolEntry | None  # None only when the spool could not be written
    group: str | None = None  # parts of one long dictation share a group
    last: bool = True  # the part that completes its dictation (always true without a group)
    skip: bool = False  # a silent closing part: nothing to send, only to deliver the rest
    wordless: bool = False  # came back without words once already in this run
    waited: bool = False  # waited for the server, a retry or a restart: delivered with others
    order: int = 0  # its place in the queue, given by the Book
    why: str = ""  # why it is kept out of the queue, in words
    backoff: Backoff = field(default_factory=_backoff)
    attempts: int = 0  # failed attempts that spend its budget (see after_failure)


def jobs_from_entries(entries: list[SpoolEntry]
                      ) -> tuple[list[Job], list[tuple[SpoolEntry, Exception]]]:
    """Jobs for kept recordings, and those that cannot be read; the last kept part of each
    long dictation completes it."""
    loaded = []
    unreadable: list[tuple[SpoolEntry, Exception]] = []
    for entry in entries:
        try:
            wav = entry.read()
            loaded.append((entry, wav, *decode_wav(wav)))
        except (OSError, ValueError) as exc:
            unreadable.append((entry, exc))
    jobs = []
    for position, (entry, wav, samples, rate) in enumerate(loaded):
        following = loaded[position + 1][0] if position + 1 < len(loaded) else None
        last = entry.group is None or following is None or following.group != entry.group
        jobs.append(Job(wav, len(samples) / rate, loudest_dbfs(samples, rate), entry,
                        entry.group, last))
    return jobs, unreadable


class Kept(enum.Enum):
    """Why a recording is out of the queue, kept on disk."""

    HELD = "held"  # failed in a way only the user can clear: until `retry` (or the next start)
    COLD = "cold"  # the server was not ready in time: sent first once it is
    ASIDE = "set aside"  # failed again and again: until `retry`, later ones go meanwhile


@dataclass(frozen=True)
class Counts:
    queued: int  # waiting in the queue, or being sent now
    held: int  # held or cold: the user's `retry` (or the server's readiness) sends them
    aside: int  # set aside after their attempts ran out


class Book:
    """The recordings between the spool and the clipboard, and what comes next.

    Queued ones go in the order they were recorded; a recording sent again after a failure
    goes back in its place and the whole queue waits with it, so that dictations are never
    delivered out of the order they were spoken in. Cold ones go first once a queued one is
    due. Its own lock guards all of it; every read goes through it.
    """

    def __init__(self) -> None:
        self._changed = threading.Condition(threading.Lock())
        self._queue: list[Job] = []  # in order of `order`
        self._order = itertools.count(1)
        self._known: set[str] = set()  # spool names in the book: queued, current, kept
        self._current: Job | None = None
        self._kept: dict[Kept, list[Job]] = {kind: [] for kind in Kept}
        self._broken: dict[str, Kept] = {}  # a part was kept: the later parts are kept too
        self._partials: dict[str, list[str]] = {}  # group -> texts of its earlier parts
        self._group_entries: dict[str, list[SpoolEntry]] = {}  # their files, gone at delivery
        self._paused_until = 0.0  # nothing is due before this (monotonic)
        self._closed = False
        self.delivered = 0
        self._last: dict[str, Any] = {}

    # --- the queue ------------------------------------------------------------------------

    def add(self, job: Job) -> bool:
        """Queue a job at the end; False for a recording the book already has."""
        with self._changed:
            if job.entry is not None:
                if job.entry.name in self._known:
                    return False
                self._known.add(job.entry.name)
            job.order = next(self._order)
            self._queue.append(job)
            self._changed.notify_all()
        return True

    def close(self) -> None:
        """No more jobs are given out; a waiting worker wakes."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def wait_for_due(self, timeout: float | None = None, now: Callable[[], float] = time.monotonic
                     ) -> bool:
        """Wait until a queued job is due (True), the book is closed or `timeout` passed."""
        end = None if timeout is None else now() + timeout
        with self._changed:
            while not self._closed:
                wait = self._until_due(now())
                if wait == 0.0:
                    return True
                if end is not None:
                    left = end - now()
                    if left <= 0:
                        return False
                    wait = left if wait is None else min(wait, left)
                self._changed.wait(wait)
            return False

    def _until_due(self, now: float) -> float | None:
        """Seconds until the first queued job is due; None with nothing queued."""
        return max(0.0, self._paused_until - now) if self._queue else None

    def next_job(self, now: float | None = None) -> Job | None:
        """The job to send now: a cold one first, once a queued one is due; None when none
        is due. It is the current job until finish()."""
        now = time.monotonic() if now is None else now
        with self._changed:
            due = self._first_due(now)
            if due is None:
                return None
            cold = self._kept[Kept.COLD]
            if cold:
                job = cold.pop(0)
                self._broken.pop(job.group or "", None)
            else:
                job = due
                self._queue.remove(job)
            self._current = job
            return job

    def _first_due(self, now: float) -> Job | None:
        if self._paused_until > now or not self._queue:
            return None
        return self._queue[0]

    def chill_first_due(self, now: float | None = None) -> Job | None:
        """The server was not ready in time for the first due job: it goes cold."""
        now = time.monotonic() if now is None else now
        with self._changed:
            job = self._first_due(now)
            if job is not None:
                self._queue.remove(job)
                self._keep(job, Kept.COLD)
            return job

    def retry_later(self, job: Job, delay: float, now: float | None = None) -> None:
        """Send the current job again in `delay` s, in its place; the whole queue waits."""
        now = time.monotonic() if now is None else now
        with self._changed:
            self._paused_until = now + delay
            self._queue.append(job)
            self._queue.sort(key=lambda queued: queued.order)
            if self._current is job:
                self._current = None
            self._changed.notify_all()

    def finish(self, job: Job) -> None:
        """The worker is done with the current job: forget its name unless it is still in
        the book (queued again or kept)."""
        with self._changed:
            if self._current is job:
                self._current = None
            if job.entry is not None and not self._holds(job):
                self._known.discard(job.entry.name)

    def _holds(self, job: Job) -> bool:
        return any(job is other for other in self._queue) or any(
            job is other for kept in self._kept.values() for other in kept)

    # --- kept out of the queue ------------------------------------------------------------

    def keep(self, job: Job, kind: Kept, why: str = "") -> None:
        """Keep a job out of the queue (on disk): held, cold or set aside; for an earlier part
        of a long dictation, its later parts are kept the same way."""
        with self._changed:
            self._keep(job, kind, why)

    def _keep(self, job: Job, kind: Kept, why: str = "") -> None:
        job.waited = True
        job.why = why or job.why
        if not job.order:  # kept from the start (set aside by an earlier run)
            job.order = next(self._order)
            if job.entry is not None:
                self._known.add(job.entry.name)
        if self._current is job:
            self._current = None
        self._kept[kind].append(job)
        self._kept[kind].sort(key=lambda kept: kept.order)
        if job.group is not None and not job.last:
            self._broken[job.group] = kind

    def broken(self, group: str | None) -> Kept | None:
        """How an earlier part of this dictation was kept, if one was."""
        with self._changed:
            return self._broken.get(group or "") if group is not None else None

    def take_kept(self) -> tuple[list[Job], set[str]]:
        """Every kept job, out of the book to be queued again (`retry`), oldest first; and
        the names the book still knows besides them."""
        with self._changed:
            kept = sorted((job for jobs in self._kept.values() for job in jobs),
                          key=lambda job: job.order)
            for jobs in self._kept.values():
                jobs.clear()
            self._broken.clear()
            for job in kept:
                job.attempts = 0
                job.backoff.reset()
                if job.entry is not None:
                    self._known.discard(job.entry.name)
            return kept, set(self._known)

    def set_aside(self) -> list[dict[str, Any]]:
        """The recordings set aside, as plain data: name, length and why."""
        with self._changed:
            return [{"recording": job.entry.name if job.entry else None,
                     "seconds": round(job.seconds, 1), "why": job.why}
                    for job in self._kept[Kept.ASIDE]]

    # --- long dictations ------------------------------------------------------------------

    def keep_part(self, job: Job, transcript: str) -> None:
        """An earlier part's text waits for the last part; its file, for the delivery."""
        assert job.group is not None
        with self._changed:
            self._partials.setdefault(job.group, []).append(transcript)
            if job.entry is not None:
                self._group_entries.setdefault(job.group, []).append(job.entry)

    def earlier_parts(self, job: Job) -> list[str]:
        """For the last part of a long dictation, the texts of the parts before it."""
        if job.group is None or not job.last:
            return []
        with self._changed:
            return self._partials.pop(job.group, [])

    def take_group_entries(self, job: Job) -> list[SpoolEntry]:
        """The files of a long dictation's earlier parts (to remove or move with the last)."""
        if job.group is None:
            return []
        with self._changed:
            return self._group_entries.pop(job.group, [])

    def give_back_group_entries(self, job: Job, entries: list[SpoolEntry]) -> None:
        if job.group is not None and entries:
            with self._changed:
                self._group_entries[job.group] = entries

    # --- what the user sees ---------------------------------------------------------------

    def counts(self) -> Counts:
        with self._changed:
            return Counts(len(self._queue) + (self._current is not None),
                          len(self._kept[Kept.HELD]) + len(self._kept[Kept.COLD]),
                          len(self._kept[Kept.ASIDE]))

    def busy(self) -> bool:
        """Whether a job is queued or being sent."""
        with self._changed:
            return bool(self._queue) or self._current is not None

    def more_waited(self) -> bool:
        """Whether recordings that waited are still to be delivered (queued or cold)."""
        with self._changed:
            return any(job.waited for job in self._queue) or bool(self._kept[Kept.COLD])

    def note_delivered(self, words: str, seconds: float, at: float) -> None:
        with self._changed:
            self.delivered += 1
            self._last = {"words": len(words.split()), "seconds": round(seconds, 1), "at": at}

    def delivery(self) -> tuple[int, dict[str, Any]]:
        """How many transcripts were delivered, and facts about the last one."""
        with self._changed:
            return self.delivered, dict(self._last)
