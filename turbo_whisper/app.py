"""Dictation: the state machine that wires recorder, spool, server and clipboard together.

Threads: the hotkey listener, the control socket and the audio callback only post events
(`Event`) or copy buffers. One controller thread owns the recording state; one worker thread
owns every network and clipboard call. The recordings between them are in the book
(jobs.py), which tells the worker what comes next: in the order they were recorded, except
that one the server keeps failing lets the later ones go first. What becomes of a transcript
is decided in delivery.py and handed over (clipboard, spool) in handover.py, how a long
dictation is cut in parts.py.
"""

from __future__ import annotations

import enum
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any, Protocol

import numpy as np

from turbo_whisper import advice, journal
from turbo_whisper.advice import Fate, failure_words
from turbo_whisper.audio import (
    Recording,
    decode_wav,
    encode_flac,
    encode_wav,
    flac_problem,
    loudest_dbfs,
)
from turbo_whisper.config import Settings
from turbo_whisper.cue_echo import CueEraser
from turbo_whisper.delivery import Outcome, decide
from turbo_whisper.errors import (
    DeviceError,
    NotKept,
    ServerError,
    SpoolError,
    TurboWhisperError,
)
from turbo_whisper.feedback import Feedback, cue_samples
from turbo_whisper.handover import Deliverer, OutputLike
from turbo_whisper.jobs import (
    ATTEMPTS,
    AfterFailure,
    Book,
    Counts,
    Job,
    Kept,
    after_failure,
    jobs_from_entries,
)
from turbo_whisper.parts import Parts
from turbo_whisper.progress import ProgressWatcher
from turbo_whisper.server import Backoff
from turbo_whisper.spool import Spool, SpoolEntry
from turbo_whisper.status import EngineStatus, Phase, StatusCallback

log = logging.getLogger(__name__)

MIN_SECONDS = 0.3  # shorter than this is a stray key press, not a dictation
TAKEN_ANSWER_SECONDS = 100.0  # a command being carried out (a slow disk) is waited for this long
TROUBLE_WAIT = 1.0  # after an unexpected error, the worker waits this long (doubling) and goes on
EARLIER_PART_ASIDE = "an earlier part of the same dictation was set aside"


class State(str, enum.Enum):
    IDLE = "idle"
    RECORDING = "recording"


class Event(str, enum.Enum):
    """What the controller is asked to do; the value is the control command's name."""

    TOGGLE = "toggle"
    START = "start"
    STOP = "stop"
    CANCEL = "cancel"
    RETRY = "retry"
    STATUS = "status"  # nothing to do: the answer is the state
    LIMIT = "limit"  # the recorder reached max_seconds, or its device went away
    HOTKEY_DOWN = "hotkey_down"
    HOTKEY_UP = "hotkey_up"
    CUE = "cue"  # a sound cue from the worker, played unless a dictation is being recorded
    SHUTDOWN = "shutdown"


class Work(str, enum.Enum):
    IDLE = "idle"
    WAITING = "waiting for server"
    TRANSCRIBING = "transcribing"


class RecorderLike(Protocol):
    @property
    def recording(self) -> bool: ...
    def start(self) -> None: ...
    def stop(self) -> Recording: ...


class EngineLike(Protocol):
    ready: bool

    @property
    def status(self) -> EngineStatus: ...
    def wait_until_ready(self, on_status: StatusCallback | None = None,
                         deadline: float | None = None,
                         give_up_after: float | None = None) -> None: ...
    def transcribe(self, audio: bytes, *, duration_s: float, filename: str = ...) -> str: ...
    def cancel(self) -> None: ...
    def close(self) -> None: ...


class Answer:
    """The controller's answer to one request, which its asker may withdraw until taken."""

    def __init__(self) -> None:
        self.taken = threading.Event()
        self._answer: queue.Queue[Any] = queue.Queue(maxsize=1)
        self._withdrawn = False
        self._lock = threading.Lock()

    def take(self) -> bool:
        """The controller starts on it; False when it was withdrawn first."""
        with self._lock:
            if not self._withdrawn:
                self.taken.set()
            return not self._withdrawn

    def withdraw(self) -> bool:
        """The asker gives up; False when the controller took it first."""
        with self._lock:
            self._withdrawn = not self.taken.is_set()
            return self._withdrawn

    def put(self, value: Any) -> None:
        self._answer.put(value)

    def get(self, timeout: float) -> Any:
        return self._answer.get(timeout=timeout)


class Dictation:
    """The client's heart: recordings in, transcripts out, nothing lost on the way."""

    def __init__(self, settings: Settings, recorder: RecorderLike, engine: EngineLike,
                 spool: Spool, output: OutputLike, feedback: Feedback | None = None,
                 progress: Callable[[], EngineStatus | None] | None = None):
        self.settings = settings
        self.recorder = recorder
        self.engine = engine
        self.spool = spool
        self.feedback = feedback or Feedback(notifications=False)
        # e.g. the server container's download progress, while the server is not ready
        self._progress = ProgressWatcher(progress, lambda: self.engine.ready, self.feedback)
        self._events: queue.Queue[tuple[Event, Any, Answer | None]] = queue.Queue()
        self.book = Book()  # the recordings not yet delivered, and what comes next
        # The worker hands transcripts to it; its cues go through the controller.
        self.deliverer = Deliverer(output, spool, self.book, self.feedback,
                                   self._cue_unless_recording, keep_history=settings.history)
        self._trouble = Backoff(start=TROUBLE_WAIT, factor=2.0, cap=30.0)  # worker's errors
        self._lock = threading.Lock()  # the controller's and the worker's state below
        self._state = State.IDLE
        self._work = Work.IDLE
        self._work_detail = ""
        self._stopping = threading.Event()
        # A long dictation is cut at pauses and sent part by part while it is recorded.
        self._parts = Parts()
        self._cue_echo = CueEraser(lambda rate: cue_samples("start", rate=rate))
        self._journal: journal.Journal | None = None  # the recording in progress, on disk
        self._in_memory: list[Job] = []  # no folder took them: saved once more at shutdown
        self.recovered = 0  # dictations an earlier run left undelivered, found at start
        self._threads: list[threading.Thread] = []
        self._told_waiting = False  # the user heard that the server is not ready
        self._flac = settings.upload_format == "flac"
        problem = flac_problem() if self._flac else None
        if problem:
            self._flac = False
            self.feedback.tell("warning", f'upload_format = "flac" cannot be used: {problem}. '
                               "Recordings are sent as WAV; pip install soundfile (in the "
                               "client's environment) to send FLAC.", notify=False)

    # --- life cycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Queue what earlier runs left behind, then start the controller and the worker."""
        self._recover()
        pending = self.spool.pending()
        self.recovered = len({entry.group or entry.name for entry in pending})
        self._queue_entries(pending)
        counts = self.book.counts()
        if counts.aside:
            self.feedback.tell("warning", f"{counts.aside} recording(s) set aside by an earlier "
                               "session, after the server failed on them again and again, are "
                               "kept: `turbo-whisper status` lists them, `turbo-whisper retry` "
                               "sends them.", notify=False)
        waiting = counts.queued
        if waiting:
            self.feedback.tell("info", f"{waiting} earlier recording(s) will be sent "
                               "as soon as the server is ready: kept from an earlier session, "
                               "their text will replace what is in the clipboard.")
        for target, name in ((self._control_loop, "controller"), (self._work_loop, "worker")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def _recover(self) -> None:
        """Finish what a crash interrupted: recordings half made, files half renamed."""
        staying = self.spool.settle_delivered()
        if staying:
            self.feedback.tell("warning", advice.still_there(staying))
        for saved in self.spool.settle_sent():
            self.feedback.tell("warning", "A transcript was being delivered when the client "
                               "stopped; it may not have reached the clipboard, so it is not "
                               f"sent again: it is saved in {saved}.")
        self.spool.recover_temporary()
        for entry in journal.recover(self.spool, self._worth_sending):
            self.feedback.tell("info", f"Recovered {entry.seconds:.1f} s of a recording that "
                               "was interrupted by a crash; it is sent like any other.",
                               notify=False)

    def _worth_sending(self, samples: np.ndarray, rate: int) -> bool:
        """Long and loud enough to be a dictation (the start cue not counted)."""
        self._cue_echo.reset(True)
        self._cue_echo.locate(samples, rate, final=True)
        samples = self._cue_echo.silence(samples)
        return (len(samples) >= MIN_SECONDS * rate
                and loudest_dbfs(samples, rate) >= self.settings.silence_threshold_db)

    def shutdown(self, grace: float = 5.0) -> None:
        """Keep a recording in progress, let the worker finish briefly, then stop."""
        done = Answer()
        self._events.put((Event.SHUTDOWN, None, done))
        try:
            done.get(timeout=grace)
        except queue.Empty:
            log.warning("The controller did not stop in time.")
        self._stopping.set()
        self._progress.stop()
        self.engine.cancel()
        self.book.close()
        for thread in self._threads:
            thread.join(timeout=grace)
        self._save_in_memory()
        self.engine.close()

    def _save_in_memory(self) -> None:
        """A last try to write what exists only in memory; say plainly what is lost."""
        lost, refusals = [], []
        with self._lock:  # a worker that did not stop in time may still deliver one
            in_memory = list(self._in_memory)
        for job in in_memory:
            try:
                entry = self.spool.put(job.wav)
            except NotKept as exc:
                lost.append(job.seconds)
                refusals = exc.refusals
                continue
            self.feedback.tell("warning", advice.kept_at_exit(entry.path.parent, job.seconds))
        if lost:
            self.feedback.tell("error", advice.lost_at_exit(sum(lost), len(lost), refusals))

    def send_pending_now(self) -> int:
        """Send every kept recording from this thread, in order; return how many are left."""
        self._recover()
        self._queue_entries(self.spool.pending(), retry=True)
        while self.book.busy() and not self._stopping.is_set():
            if not self._survive(self._work_once):
                break  # said in the log; what is left stays kept for the next try
        return len(self.spool.pending())

    @property
    def delivered(self) -> int:
        """How many transcripts this run delivered."""
        return self.book.delivery()[0]

    def post(self, event: Event | str, argument: Any = None) -> None:
        """Hand an event to the controller; safe from any thread, returns at once."""
        self._events.put((Event(event), argument, None))

    def request(self, event: Event | str, timeout: float = 5.0,
                on_taken: Callable[[], None] | None = None) -> dict[str, Any]:
        """Post an event and wait for the controller's answer (for the control socket).

        Not taken within `timeout`, the event is withdrawn and never happens; once taken
        (`on_taken` is told), it is carried out and answered."""
        answer = Answer()
        self._events.put((Event(event), None, answer))
        if not answer.taken.wait(max(0.0, timeout)) and answer.withdraw():
            return {"ok": False, "withdrawn": True, "error": "The client was busy and did not "
                    "take the command in time; it was withdrawn and will not happen. Try again."}
        if on_taken is not None:
            on_taken()
        try:
            result: dict[str, Any] = answer.get(timeout=TAKEN_ANSWER_SECONDS)
        except queue.Empty:
            return {"ok": False, "error": "The client took the command and is still carrying it "
                    "out; `turbo-whisper status` shows what it is doing."}
        return result

    # --- controller: owns the recording state --------------------------------------------

    def _handlers(self) -> dict[Event, Callable[..., None]]:
        return {
            Event.TOGGLE: self._toggle, Event.START: self._start_recording,
            Event.STOP: self._stop_recording, Event.CANCEL: self._cancel_recording,
            Event.LIMIT: self._limit_reached, Event.HOTKEY_DOWN: self._hotkey_down,
            Event.HOTKEY_UP: self._hotkey_up, Event.RETRY: self._retry_held,
            Event.STATUS: lambda: None, Event.CUE: self._cue_when_idle,
        }

    def _control_loop(self) -> None:
        handlers = self._handlers()
        while True:
            try:
                event, argument, reply = self._events.get(timeout=self._until_next_cut())
            except queue.Empty:
                self._cut_part()
                continue
            if reply is not None and not reply.take():
                continue  # withdrawn: its asker was told it would not happen
            if event is Event.SHUTDOWN:
                self._finish_recording_for_shutdown()
                if reply is not None:
                    reply.put(True)
                return
            try:
                handlers[event](*([] if argument is None else [argument]))
            except TurboWhisperError as exc:
                self.feedback.tell("error", str(exc))
            except Exception:
                log.exception("Unexpected error while handling %s", event)
            if reply is not None:
                reply.put(self.snapshot())

    def _until_next_cut(self) -> float | None:
        """Seconds until the recording is next searched for a pause; None when not splitting."""
        splitting = (self._state is State.RECORDING and self.settings.split_at_pauses
                     and hasattr(self.recorder, "read_new"))
        return self._parts.until_next_cut(time.monotonic()) if splitting else None

    def _cut_part(self) -> None:
        """Send the speech up to the latest pause while the user goes on speaking."""
        parts = self._parts
        parts.add(self.recorder.read_new(), time.monotonic())  # type: ignore[attr-defined]
        rate = self.recorder.samplerate  # type: ignore[attr-defined]
        if self._cue_echo.pending:  # nothing is cut before the start cue is out
            self._cue_echo.locate(parts.unsent, rate, final=False)
            if self._cue_echo.pending:
                return
            parts.unsent = self._cue_echo.silence(parts.unsent)
        part = parts.cut(rate, self.settings.silence_threshold_db)
        if part is None:
            return
        if loudest_dbfs(part, rate) >= self.settings.silence_threshold_db:
            self._queue_part(part, rate, last=False)
        if self._journal is not None:
            self._journal.mark_spooled(parts.cut_frames, parts.index)

    def _queue_part(self, samples: np.ndarray, rate: int, last: bool) -> None:
        name = self._parts.name_next(
            lambda: self._journal.name if self._journal else self.spool.new_name())
        loudest = loudest_dbfs(samples, rate)
        silent = len(samples) < MIN_SECONDS * rate or loudest < self.settings.silence_threshold_db
        wav = encode_wav(samples, rate)
        entry = self._keep(wav, name, final=last)
        self._queue(Job(wav, len(samples) / rate, loudest, entry, self._parts.group, last,
                        silent))

    def _keep(self, wav: bytes, name: str | None, final: bool) -> SpoolEntry | None:
        """Put a recording (or a part) in the spool; the finished recording's journal goes
        then, before it is queued, so that a restart never sends it a second time."""
        entry = None
        try:
            entry = self.spool.put(wav, name)
        except SpoolError as exc:
            self.feedback.tell("error", str(exc))
        if entry is not None and entry.refused:
            self.feedback.tell("warning", advice.kept_elsewhere(  # notified once a dictation
                self.spool.directory, entry.path.parent, entry.refused), notify=final)
        if final:
            self._drop_journal()
        return entry

    def _drop_journal(self) -> None:
        if self._journal is not None:
            self._journal.remove()
            self._journal = None

    def _toggle(self) -> None:
        if self._state is State.RECORDING:
            self._stop_recording()
        else:
            self._start_recording()

    def _hotkey_down(self) -> None:
        if self.settings.mode == "hold":
            self._start_recording()
        else:
            self._toggle()

    def _hotkey_up(self) -> None:
        if self.settings.mode == "hold":
            self._stop_recording()

    def _start_recording(self) -> None:
        if self._state is State.RECORDING:
            return
        hushed = self.feedback.hush()  # an earlier cue must not sound into this dictation
        try:
            self.recorder.start()
        except DeviceError as exc:
            self.feedback.tell("error", str(exc))
            self.feedback.cue("error")
            return
        self._parts = Parts(time.monotonic())
        self._journal = journal.begin(self.spool, self.recorder, self.spool.new_name())
        self._set_state(State.RECORDING)
        self._cue_echo.reset(self.feedback.sounds, hushed)
        self.feedback.cue("start")
        log.info("Recording.")

    def _stop_recording(self) -> None:
        if self._state is not State.RECORDING:
            return
        recording = self.recorder.stop()
        if self._journal is not None:
            self._journal.finish()  # what it lacks is in `recording`, put in the spool next
        self._set_state(State.IDLE)
        self.feedback.cue("stop")
        self._cue_echo.locate(recording.samples, recording.samplerate, final=True)
        recording = replace(recording, samples=self._cue_echo.silence(recording.samples))
        if self._parts.group is None:
            self._take(recording)
        else:  # earlier parts are on their way: send the rest, which completes the dictation
            self._queue_part(self._parts.rest(recording.samples), recording.samplerate, True)

    def _cancel_recording(self) -> None:
        if self._state is State.RECORDING:
            self.recorder.stop()
            self._drop_journal()
            self._set_state(State.IDLE)
            self.feedback.tell("info", "Recording cancelled; nothing was sent.", notify=False)

    def _limit_reached(self, reason: str = "limit") -> None:
        if self._state is not State.RECORDING:
            return
        if reason == "device":
            self.feedback.tell("warning", "The microphone went away; transcribing what was "
                               "recorded until then.")
        else:
            minutes = self.settings.max_seconds / 60
            self.feedback.tell("warning", f"The recording reached its {minutes:g}-minute limit "
                               "(setting 'max_seconds'); transcribing what was recorded.")
        self._stop_recording()

    def _finish_recording_for_shutdown(self) -> None:
        if self._state is State.RECORDING:
            log.info("Stopping: the recording in progress is saved first.")
            self._stop_recording()

    def _take(self, recording: Recording) -> None:
        """Check a finished recording, keep it on disk, and queue it for transcription."""
        loudest = loudest_dbfs(recording.samples, recording.samplerate)
        if recording.seconds < MIN_SECONDS or loudest < self.settings.silence_threshold_db:
            self._drop_journal()
            self.feedback.tell("info", "Nothing was heard (the recording was silent); "
                               "check the microphone if you spoke.")
            self.feedback.cue("error")
            return
        wav = encode_wav(recording.samples, recording.samplerate)
        entry = self._keep(wav, self._journal.name if self._journal else None, final=True)
        self._queue(Job(wav, recording.seconds, loudest, entry))

    # --- worker: owns network and clipboard ----------------------------------------------

    def _queue_entries(self, entries: list[SpoolEntry], *, retry: bool = False) -> None:
        """Queue kept recordings; those an earlier run set aside stay aside unless `retry`."""
        jobs, unreadable = jobs_from_entries(entries)
        for entry, exc in unreadable:
            self._set_aside_unreadable(entry, exc)
        aside_groups: set[str] = set()
        for job in jobs:
            job.waited = True
            why = self._aside_before(job, aside_groups) if not retry else None
            if why is None:
                self._clear_aside(job)
                self._queue(job)
            else:
                self.book.keep(job, Kept.ASIDE, why)

    def _aside_before(self, job: Job, aside_groups: set[str]) -> str | None:
        """Why an earlier run set this recording aside (or a part before it); None if not."""
        why = self.spool.aside_reason(job.entry) if job.entry is not None else None
        if why is None and job.group in aside_groups:
            why = EARLIER_PART_ASIDE
        if why is not None and job.group is not None:
            aside_groups.add(job.group)
        return why

    def _clear_aside(self, job: Job) -> None:
        if job.entry is None:
            return
        try:
            self.spool.clear_aside(job.entry)
        except OSError as exc:
            log.warning("The note that %s was set aside could not be removed (%s).",
                        job.entry.name, exc)

    def _set_aside_unreadable(self, entry: SpoolEntry, exc: Exception) -> None:
        """A damaged file would fail at every start: move it out of the queue, and say so once.
        One that cannot be read now (permissions, a disk error) stays for the next try."""
        if not isinstance(exc, ValueError):
            self.feedback.tell("error", f"The kept recording {entry.path} cannot be read "
                               f"({exc}); it is left in place.", notify=False)
            return
        try:
            folder = self.spool.set_aside([entry])
        except OSError as move_exc:
            self.feedback.tell("error", f"The kept recording {entry.path} is damaged ({exc}) and "
                               f"could not be moved aside ({move_exc}).", notify=False)
            return
        self.feedback.tell("error", f"The kept recording {entry.path.name} is damaged ({exc}); "
                           f"it cannot be sent and was moved to {folder}.", notify=False)

    def _queue(self, job: Job) -> None:
        if not self.engine.ready and job.entry is not None and not job.waited:
            job.waited = True
            if job.last:
                self._told_waiting = True
                self.feedback.tell("info", "The recording is kept; it is transcribed once the "
                                   f"server is ready ({self.engine.status.detail}).")
        if job.entry is None:
            with self._lock:
                if all(other is not job for other in self._in_memory):
                    self._in_memory.append(job)
        self.book.add(job)

    def _retry_held(self) -> None:
        held, known = self.book.take_kept()
        for job in held:
            self._clear_aside(job)
            self._queue(job)
        known |= {job.entry.name for job in held if job.entry}
        self._queue_entries([e for e in self.spool.pending() if e.name not in known], retry=True)

    def _work_loop(self) -> None:
        self._survive(self._wait_for_engine)  # at once: a cold server starts its download
        while not self._stopping.is_set():
            self._survive(self._work_once)

    def _survive(self, step: Callable[[], Any]) -> bool:
        """Run one step of the worker; any error is logged once with its traceback and waited
        out (longer each time it repeats): nothing may stop the worker, and every recording
        stays kept. False after an error."""
        try:
            step()
        except Exception:
            log.exception("Unexpected error in the sending thread; every recording stays kept "
                          "and it goes on")
            self._stopping.wait(self._trouble.next())
            return False
        self._trouble.reset()
        return True

    def _work_once(self) -> None:
        """Send the recording that is due next, once the server is ready."""
        if not self.book.wait_for_due():
            return
        if not self._wait_for_engine():
            chilled = self.book.chill_first_due()
            if chilled is not None:
                self._log_kept(chilled)
            return
        job = self.book.next_job()
        if job is None:
            return
        try:
            self._process(job)
        except Exception:  # the worker must outlive any one recording
            log.exception("Unexpected error while sending a recording")
            self.feedback.tell("error", "A recording could not be sent (unexpected error, see "
                               "the log). " + advice.fate_words(job.entry is not None, Fate.HELD))
            self._hold(job)
        finally:
            self.book.finish(job)

    def _wait_for_engine(self) -> bool:
        if self.engine.ready:
            return True
        self._progress.start()
        self._set_work(Work.WAITING, self.engine.status.detail)
        try:
            self.engine.wait_until_ready(self._on_engine_status)
            return True
        except ServerError as exc:
            if not self._stopping.is_set():
                with self._lock:
                    on_disk = not self._in_memory
                self.feedback.tell("error", failure_words(exc, advice.fate_of(on_disk, Fate.WAITING)))
            return False
        finally:
            self._set_work(Work.IDLE)

    def _on_engine_status(self, status: EngineStatus) -> None:
        """Log every step; notify it while recordings wait, and "ready" after such a wait."""
        self._set_work(Work.WAITING, status.detail)
        if status.phase is Phase.FAILED:
            self.feedback.tell("error", status.detail)
            return
        if status.phase in (Phase.FAULT, Phase.UNREACHABLE):  # the user has something to do
            self.feedback.tell("warning", status.detail)
            return
        ready = status.phase is Phase.READY
        notify = self._told_waiting if ready else self.book.busy()
        self._told_waiting = not ready and (self._told_waiting or notify)
        self.feedback.tell("info", status.detail, notify=notify)

    def _process(self, job: Job) -> None:
        """One attempt at a job the book gave out: it ends delivered, kept, or queued again."""
        broken = self.book.broken(job.group)
        if broken is not None:
            why = EARLIER_PART_ASIDE if broken is Kept.ASIDE else ""
            self._hold(job, broken, why)  # keep the dictation's order
            return
        if job.skip:
            self._deliver(job, "")
            return
        self._set_work(Work.TRANSCRIBING, f"Transcribing {job.seconds:.0f} s of audio.")
        log.info("Transcribing %.1f s of audio.", job.seconds)
        try:
            transcript = self._transcribe(job)
        except ServerError as exc:
            self._failed(job, exc)
            return
        finally:
            self._set_work(Work.IDLE)
        self._deliver(job, transcript)

    def _failed(self, job: Job, exc: ServerError) -> None:
        step = after_failure(exc, job.attempts)
        if step is AfterFailure.HOLD:
            self.feedback.tell("error", failure_words(
                exc, advice.fate_of(job.entry is not None, Fate.HELD)))
            self._hold(job)
            return
        if step is AfterFailure.SET_ASIDE:
            fate = advice.fate_of(job.entry is not None, Fate.SET_ASIDE)
            self.feedback.tell("error", f"The server failed {ATTEMPTS} times on a recording of "
                               f"{job.seconds:.0f} s. {failure_words(exc, fate)}")
            self._hold(job, Kept.ASIDE, str(exc).strip())
            return
        delay = job.backoff.next()
        attempt = ""
        if step is AfterFailure.AGAIN:  # a failure of this recording: it spends its budget
            job.attempts += 1
            attempt = f" (attempt {job.attempts + 1} of {ATTEMPTS})"
        fate = advice.fate_of(job.entry is not None, Fate.SENT_AGAIN)
        self.feedback.tell("warning", f"{failure_words(exc, fate)} "
                           f"Trying again in {delay:.0f} s{attempt}.")
        # The later ones wait for it, so that a passing fault does not paste dictations out of
        # the order they were spoken in; they wait only while its short budget lasts.
        self.book.retry_later(job, delay)

    def _transcribe(self, job: Job) -> str:
        if self._flac:
            samples, rate = decode_wav(job.wav)
            return self.engine.transcribe(encode_flac(samples, rate), duration_s=job.seconds,
                                          filename="audio.flac")
        return self.engine.transcribe(job.wav, duration_s=job.seconds)

    def _hold(self, job: Job, kind: Kept = Kept.HELD, why: str = "") -> None:
        """Keep a job for `retry` (or, when the server was only cold, for its readiness); one
        set aside is noted on disk, so that the next start does not wait for it either."""
        if kind is Kept.ASIDE and job.entry is not None:
            try:
                self.spool.mark_aside(job.entry, why or job.why)
            except OSError as exc:
                log.warning("The note that %s is set aside could not be written (%s); the next "
                            "start sends it again.", job.entry.name, exc)
        self.book.keep(job, kind, why)
        self._log_kept(job, kind)

    def _log_kept(self, job: Job, kind: Kept = Kept.HELD) -> None:
        if job.entry is not None:
            until = "`turbo-whisper retry`" if kind is Kept.ASIDE else \
                "`turbo-whisper retry` or the next start"
            log.info("Recording %s stays in %s until %s.", job.entry.name, self.spool.directory,
                     until)

    def _deliver(self, job: Job, transcript: str) -> None:
        decision = decide(job, transcript, self.settings, self.book.earlier_parts(job))
        if decision.dropped:
            log.info("Dropped %r: Whisper invents it for near-silence.", decision.dropped)
        if decision.outcome is Outcome.PART:
            self.book.keep_part(job, decision.text)
        elif decision.outcome is Outcome.QUIET:
            self.feedback.tell("info", f"No words were recognised in {job.seconds:.0f} s of "
                               "audio; nothing was copied.")
            self._forget(job)
        elif decision.outcome is Outcome.HOLD_WORDLESS:
            job.wordless = True
            self.feedback.tell("warning", f"No words were recognised in {job.seconds:.0f} s "
                               "of clearly audible audio; nothing was copied. "
                               + advice.fate_words(job.entry is not None, Fate.HELD))
            self._hold(job)
        elif decision.outcome is Outcome.SET_ASIDE:
            self._settle(job, self.deliverer.set_aside(job))
        else:
            self._settle(job, self.deliverer.copy(job, decision.text))

    def _settle(self, job: Job, gone: bool) -> None:
        """After the deliverer: a recording it is done with is forgotten, else kept."""
        if gone:
            self._forget_in_memory(job)
        else:
            self._hold(job)

    def _forget(self, job: Job) -> None:
        """Nothing to deliver: forget the recording, and for a long dictation all its parts."""
        self._forget_in_memory(job)
        self.deliverer.forget(job)

    def _forget_in_memory(self, job: Job) -> None:
        with self._lock:
            self._in_memory = [other for other in self._in_memory if other is not job]

    def _cue_unless_recording(self, name: str) -> None:
        """A cue from the worker goes through the controller, which owns the cues: it is
        not played while a dictation is recorded (it would be in it)."""
        self.post(Event.CUE, name)

    def _cue_when_idle(self, name: str) -> None:
        if self._state is not State.RECORDING:
            self.feedback.cue(name)

    # --- what the user sees ---------------------------------------------------------------

    def _set_state(self, state: State) -> None:
        with self._lock:
            self._state = state

    def _set_work(self, work: Work, detail: str = "") -> None:
        with self._lock:
            self._work, self._work_detail = work, detail

    def _sending(self) -> bool:
        """Whether the worker thread is alive to send what is queued (once started)."""
        return all(thread.is_alive() for thread in self._threads if thread.name == "worker")

    def snapshot(self) -> dict[str, Any]:
        """The client's state as plain data, for `turbo-whisper status`."""
        engine = self.engine.status
        counts = self.book.counts()
        aside = self.book.set_aside()
        delivered, last_delivery = self.book.delivery()
        with self._lock:
            return {
                "ok": True,
                "state": self._state.value,
                "work": self._work.value,
                "work_detail": self._work_detail,
                "engine": {"phase": engine.phase.value, "detail": engine.detail,
                           "server": engine.server_kind},
                "pending": counts.queued + counts.held + counts.aside,
                "held": counts.held,
                "set_aside": aside,
                "sending": self._sending(),
                "delivered": delivered,
                "last": last_delivery,
                "message": self._message(engine, counts, aside),
            }

    def _message(self, engine: EngineStatus, counts: Counts,
                 aside: list[dict[str, Any]]) -> str:
        parts = []
        if self._state is State.RECORDING:
            parts.append("Recording.")
        if self._work is Work.TRANSCRIBING:
            parts.append(self._work_detail)
        elif self._work is Work.WAITING:
            parts.append(f"Waiting for the server: {self._work_detail}")
            progress = self._progress.detail
            if progress:
                parts.append(progress)
        else:
            parts.append(engine.detail)
        if counts.queued:
            parts.append(f"{counts.queued} recording(s) waiting to be transcribed.")
        if counts.held:
            parts.append(f"{counts.held} recording(s) kept after an error; `turbo-whisper retry` "
                         "sends them.")
        if aside:
            parts.append(aside_words(aside))
        if self._in_memory:
            parts.append(advice.in_memory_now(len(self._in_memory)))
        return " ".join(parts)


def aside_words(aside: list[dict[str, Any]]) -> str:
    """The recordings set aside, and why, in one sentence for `turbo-whisper status`."""
    each = "; ".join(f"{item['seconds']:.0f} s: {item['why']}" for item in aside)
    return (f"{len(aside)} recording(s) set aside after failing again and again, kept "
            f"({each}); `turbo-whisper retry` sends them again.")
