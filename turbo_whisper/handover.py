"""Handing a transcript over: what happens once `delivery.decide()` says "deliver".

The Deliverer owns the output (clipboard or paste), the batch of texts that became ready
together, and the spool's forgetting of what was delivered. The worker thread calls it; it
never calls into the app. What the app must do next comes back as a return value (False:
nothing could take the text, keep the recording), and a sound cue goes to the callback it is
given, which hands it to the controller (the worker never plays a cue: it would sound into a
dictation being recorded).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol

from turbo_whisper import history, last
from turbo_whisper.batch import Batch
from turbo_whisper.errors import ClipboardError, NotRemoved
from turbo_whisper.feedback import Feedback
from turbo_whisper.jobs import Book, Job
from turbo_whisper.spool import Spool

log = logging.getLogger(__name__)


# Between texts pasted one after another: a newline would run a half-typed shell command.
INSERT_JOINER = " "


class OutputLike(Protocol):
    @property
    def inserts(self) -> bool: ...  # True: a paste at the cursor, not a new clipboard

    def deliver(self, transcript: str) -> str | None: ...  # a note for the user, if any


class Deliverer:
    """Transcripts to the output exactly once, and their recordings forgotten after."""

    def __init__(self, output: OutputLike, spool: Spool, book: Book, feedback: Feedback,
                 cue: Callable[[str], None], *, keep_history: bool = False):
        self.output = output
        self.spool = spool
        self.book = book
        self.feedback = feedback
        self._cue = cue
        self._keep_history = keep_history
        self._batch = Batch()

    def copy(self, job: Job, words: str) -> bool:
        """Deliver the words (joined with others that waited); False when neither the output
        nor the undelivered folder took them: the recording must stay kept."""
        together, count = self._batch.add(words, job.waited,
                                          job.waited and self.book.more_waited(), job.order)
        self._remember(together)
        log.debug("Transcript: %s", words)  # before delivery: whoever sees the text sees this
        self._mark_sent(job, words)
        # The clipboard gets the whole batch so far; a paste only this text, since the ones
        # before it are in the window already.
        given = together
        if count > 1 and self.output.inserts:
            given = INSERT_JOINER + words
        try:
            note = self.output.deliver(given)
        except ClipboardError as exc:
            return self._save_undelivered(job, words, exc)
        self.forget(job)
        self.book.note_delivered(words, job.seconds, time.time())
        self._add_to_history(job, words)
        self._announce(job, together, count, note)
        return True

    def _save_undelivered(self, job: Job, words: str, exc: ClipboardError) -> bool:
        try:
            saved = self.spool.keep_text(job.entry, words)
        except OSError as save_exc:
            self.feedback.tell("error", f"{exc} It could not be saved either ({save_exc}); "
                               f"the recording stays kept: {words}")
            return False
        self.feedback.tell("error", f"{exc} The transcript is saved in {saved}: {words}")
        self._cue("error")
        self.forget(job)
        return True

    def _add_to_history(self, job: Job, words: str) -> None:
        if self._keep_history:
            try:
                history.append(words, job.seconds)
            except OSError as exc:
                self.feedback.tell("warning", f"The history file could not be written: {exc}.",
                                   notify=False)

    def _announce(self, job: Job, together: str, count: int, note: str | None) -> None:
        words = len(together.split())
        joined = f"; {count} dictations, in order" if count > 1 else ""
        self.feedback.tell("info", f"Copied {words} words ({job.seconds:.0f} s of audio{joined}).",
                           notify=False)
        preview = " ".join(together.split()[:6]) + ("…" if words > 6 else "")
        if note:
            self.feedback.tell("warning", note)
        else:
            self.feedback.notify("info", f"Copied {count} dictations: {preview}" if count > 1
                                 else f"Copied: {preview}")
        self._cue("done")

    def _mark_sent(self, job: Job, words: str) -> None:
        """On disk before the output: a crash from here on must not send it again."""
        if job.entry is not None:
            try:
                self.spool.mark_sent(job.entry, words)
            except OSError as exc:
                log.warning("Could not note the delivery on disk (%s); a crash in the next "
                            "moment would send this recording again.", exc)

    def _remember(self, together: str) -> None:
        try:
            last.remember(together, self.spool.directory.parent / last.FILE_NAME)
        except OSError as exc:
            log.warning("The last transcript could not be kept for `turbo-whisper last`: %s.",
                        exc)

    def set_aside(self, job: Job) -> bool:
        """Audible but wordless twice: keep the audio out of the spool, so it is not sent again
        at every retry and start, and say where it is; False when it could not be moved: the
        recording must stay kept."""
        earlier = self.book.take_group_entries(job)
        try:
            folder = self.spool.set_aside([*earlier, job.entry] if job.entry else earlier,
                                          job.wav if job.entry is None else None)
        except OSError as exc:
            self.book.give_back_group_entries(job, earlier)
            self.feedback.tell("error", f"Again no words were recognised in {job.seconds:.0f} s "
                               f"of audio, and it could not be set aside ({exc}); it stays kept.")
            return False
        self.feedback.tell("warning", f"Again no words were recognised in {job.seconds:.0f} s "
                           "of clearly audible audio; nothing was copied. The recording is saved "
                           f"in {folder} to listen to, and is not sent again.")
        return True

    def forget(self, job: Job) -> None:
        """Forget the delivered recording on disk, and for a long dictation all of its parts."""
        stuck = None  # said once for a long dictation, not once for each of its parts
        for entry in [*self.book.take_group_entries(job), job.entry]:
            if entry is not None:
                try:
                    self.spool.done(entry)
                except NotRemoved as exc:
                    stuck = exc
        if stuck is not None:
            self.feedback.tell("warning", str(stuck))
