"""Dictation: the state machine that wires recorder, spool, server and clipboard together.

Threads: the hotkey listener, the control socket and the audio callback only post events
or copy buffers. One controller thread owns the recording state; one worker thread owns
every network and clipboard call, and delivers jobs in the order they were recorded.
"""

from __future__ import annotations

import enum
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

import numpy as np

from turbo_whisper import advice, history, journal, last, segment, text
from turbo_whisper.advice import Fate, failure_words
from turbo_whisper.audio import (
    Recording,
    decode_wav,
    encode_flac,
    encode_wav,
    flac_problem,
    loudest_dbfs,
)
from turbo_whisper.batch import Batch
from turbo_whisper.config import Settings
from turbo_whisper.cue_echo import CueEraser
from turbo_whisper.errors import (
    ClipboardError,
    DeviceError,
    ServerError,
    SpoolError,
    TurboWhisperError,
)
from turbo_whisper.feedback import Feedback, cue_samples
from turbo_whisper.server import Backoff
from turbo_whisper.spool import NotKept, NotRemoved, Spool, SpoolEntry
from turbo_whisper.status import EngineStatus, Phase, StatusCallback

log = logging.getLogger(__name__)

MIN_SECONDS = 0.3  # shorter than this is a stray key press, not a dictation
CUT_EVERY_SECONDS = 0.5
PROGRESS_EVERY_SECONDS = 10.0
PROGRESS_NOTIFY_SECONDS = 60.0  # while recording, look for a pause to cut at this often
TAKEN_ANSWER_SECONDS = 100.0  # a command being carried out (a slow disk) is waited for this long


class State(str, enum.Enum):
    IDLE = "idle"
    RECORDING = "recording"


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


class OutputLike(Protocol):
    def deliver(self, transcript: str) -> str | None: ...  # a note for the user, if any


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


class Dictation:
    """The client's heart: recordings in, transcripts out, nothing lost on the way."""

    def __init__(self, settings: Settings, recorder: RecorderLike, engine: EngineLike,
                 spool: Spool, output: OutputLike, feedback: Feedback | None = None,
                 progress: Callable[[], EngineStatus | None] | None = None):
        self.settings = settings
        self.recorder = recorder
        self.engine = engine
        self.spool = spool
        self.output = output
        self.feedback = feedback or Feedback(notifications=False)
        self._progress = progress  # e.g. the server container's download progress
        self._progress_detail = ""
        self._progress_thread: threading.Thread | None = None
        self._events: queue.Queue[tuple[str, Any, Answer | None]] = queue.Queue()
        self._jobs: queue.Queue[Job | None] = queue.Queue()
        self._queued: set[str] = set()  # spool names in the job queue or being worked on
        self._held: list[Job] = []  # failed in a way only the user can clear; kept on disk
        self._cold: list[Job] = []  # the server was not ready in time; sent first once it is
        self._lock = threading.Lock()
        self._state = State.IDLE
        self._work = Work.IDLE
        self._work_detail = ""
        self._stopping = threading.Event()
        self._last: dict[str, Any] = {}
        self._current: Job | None = None  # the job the worker holds now
        # A long dictation is cut at pauses and sent part by part while it is recorded.
        self._group: str | None = None
        self._part_index = 0
        self._unsent: np.ndarray = np.zeros(0, dtype=np.int16)
        self._cut_frames = 0
        self._next_cut = 0.0
        self._partials: dict[str, list[str]] = {}  # group -> transcripts of its earlier parts
        self._group_entries: dict[str, list[SpoolEntry]] = {}  # their files, removed at delivery
        self._broken_groups: dict[str, bool] = {}  # a part was held (cold?): hold the rest too
        self._cue_echo = CueEraser(lambda rate: cue_samples("start", rate=rate))
        self._journal: journal.Journal | None = None  # the recording in progress, on disk
        self._in_memory: list[Job] = []  # no folder took them: saved once more at shutdown
        self.recovered = 0  # dictations an earlier run left undelivered, found at start
        self._threads: list[threading.Thread] = []
        self.delivered = 0
        self._batch = Batch()
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
        if self._jobs.qsize():
            self.feedback.tell("info", f"{self._jobs.qsize()} earlier recording(s) will be sent "
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
        self._events.put(("shutdown", None, done))
        try:
            done.get(timeout=grace)
        except queue.Empty:
            log.warning("The controller did not stop in time.")
        self._stopping.set()
        self.engine.cancel()
        self._jobs.put(None)
        for thread in self._threads:
            thread.join(timeout=grace)
        self._save_in_memory()
        self.engine.close()

    def _save_in_memory(self) -> None:
        """A last try to write what exists only in memory; say plainly what is lost."""
        lost, refusals = [], []
        for job in self._in_memory:
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
        self._queue_entries(self.spool.pending())
        while not self._jobs.empty():
            job = self._jobs.get()
            if job is not None:
                self._process(job)
        return len(self.spool.pending())

    def post(self, event: str, argument: Any = None) -> None:
        """Hand an event to the controller; safe from any thread, returns at once."""
        self._events.put((event, argument, None))

    def request(self, event: str, timeout: float = 5.0,
                on_taken: Callable[[], None] | None = None) -> dict[str, Any]:
        """Post an event and wait for the controller's answer (for the control socket).

        Not taken within `timeout`, the event is withdrawn and never happens; once taken
        (`on_taken` is told), it is carried out and answered."""
        answer = Answer()
        self._events.put((event, None, answer))
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

    def _control_loop(self) -> None:
        handlers: dict[str, Any] = {
            "toggle": self._toggle, "start": self._start_recording, "stop": self._stop_recording,
            "cancel": self._cancel_recording, "limit": self._limit_reached,
            "hotkey_down": self._hotkey_down, "hotkey_up": self._hotkey_up,
            "retry": self._retry_held, "status": lambda: None, "cue": self._cue_when_idle,
        }
        while True:
            try:
                event, argument, reply = self._events.get(timeout=self._until_next_cut())
            except queue.Empty:
                self._cut_part()
                continue
            if reply is not None and not reply.take():
                continue  # withdrawn: its asker was told it would not happen
            if event == "shutdown":
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
        return max(0.0, self._next_cut - time.monotonic()) if splitting else None

    def _cut_part(self) -> None:
        """Send the speech up to the latest pause while the user goes on speaking."""
        self._next_cut = time.monotonic() + CUT_EVERY_SECONDS
        new = self.recorder.read_new()  # type: ignore[attr-defined]
        self._unsent = np.concatenate([self._unsent, new]) if len(new) else self._unsent
        rate = self.recorder.samplerate  # type: ignore[attr-defined]
        if self._cue_echo.pending:  # nothing is cut before the start cue is out
            self._cue_echo.locate(self._unsent, rate, final=False)
            if self._cue_echo.pending:
                return
            self._unsent = self._cue_echo.silence(self._unsent)
        cut = segment.find_cut(self._unsent, rate, self.settings.silence_threshold_db)
        if cut is None:
            return
        part, self._unsent = self._unsent[:cut], self._unsent[cut:]
        self._cut_frames += cut
        if loudest_dbfs(part, rate) >= self.settings.silence_threshold_db:
            self._queue_part(part, rate, last=False)
        if self._journal is not None:
            self._journal.mark_spooled(self._cut_frames, self._part_index)

    def _queue_part(self, samples: np.ndarray, rate: int, last: bool) -> None:
        if self._group is None:
            self._group = self._journal.name if self._journal else self.spool.new_name()
        name = f"{self._group}.p{self._part_index:03d}"
        self._part_index += 1
        loudest = loudest_dbfs(samples, rate)
        silent = len(samples) < MIN_SECONDS * rate or loudest < self.settings.silence_threshold_db
        wav = encode_wav(samples, rate)
        entry = self._keep(wav, name, final=last)
        self._queue(Job(wav, len(samples) / rate, loudest, entry, self._group, last, silent))

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
        self._group, self._part_index, self._cut_frames = None, 0, 0
        self._unsent = np.zeros(0, dtype=np.int16)
        self._next_cut = time.monotonic() + CUT_EVERY_SECONDS
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
        if self._group is None:
            self._take(recording)
        else:  # earlier parts are on their way: send the rest, which completes the dictation
            self._queue_part(recording.samples[self._cut_frames:], recording.samplerate, True)

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

    def _queue_entries(self, entries: list[SpoolEntry]) -> None:
        jobs, unreadable = jobs_from_entries(entries)
        for entry, exc in unreadable:
            self._set_aside_unreadable(entry, exc)
        for job in jobs:
            job.waited = True
            self._queue(job)

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
        with self._lock:
            if job.entry is None and all(other is not job for other in self._in_memory):
                self._in_memory.append(job)
            if job.entry is not None:
                if job.entry.name in self._queued:
                    return
                self._queued.add(job.entry.name)
        self._jobs.put(job)

    def _retry_held(self) -> None:
        with self._lock:
            held, self._held, self._cold = self._cold + self._held, [], []
            self._queued -= {job.entry.name for job in held if job.entry}
            known = self._queued | {job.entry.name for job in held if job.entry}
            self._broken_groups.clear()
        for job in held:
            self._queue(job)
        self._queue_entries([e for e in self.spool.pending() if e.name not in known])

    def _work_loop(self) -> None:
        self._wait_for_engine()  # at once: a cold server starts its download before the first dictation
        while not self._stopping.is_set():
            job = self._jobs.get()
            if job is None:
                return
            self._current = job
            try:
                self._process(job)
            except Exception:  # the worker must outlive any one recording
                log.exception("Unexpected error while sending a recording")
                self.feedback.tell("error", "A recording could not be sent (unexpected error, see "
                                   "the log). " + advice.fate_words(job.entry is not None, Fate.HELD))
                self._hold(job)
            with self._lock:
                self._current = None
                kept = self._held + self._cold
                if job.entry is not None and all(other is not job for other in kept):
                    self._queued.discard(job.entry.name)

    def _wait_for_engine(self) -> bool:
        if self.engine.ready:
            return True
        self._watch_progress()
        self._set_work(Work.WAITING, self.engine.status.detail)
        try:
            self.engine.wait_until_ready(self._on_engine_status)
            return True
        except ServerError as exc:
            if not self._stopping.is_set():
                on_disk = self._current is None or self._current.entry is not None
                self.feedback.tell("error", failure_words(exc, advice.fate_of(on_disk, Fate.WAITING)))
            return False
        finally:
            self._set_work(Work.IDLE)

    def _watch_progress(self) -> None:
        """While the server is not ready, report what its container says every few seconds."""
        if self._progress is None or (self._progress_thread and self._progress_thread.is_alive()):
            return
        self._progress_thread = threading.Thread(target=self._progress_loop, name="progress",
                                                 daemon=True)
        self._progress_thread.start()

    def _progress_loop(self) -> None:
        assert self._progress is not None
        notified = time.monotonic()  # the phase change itself was just notified
        while not self._stopping.wait(PROGRESS_EVERY_SECONDS) and not self.engine.ready:
            status = self._progress()
            detail = status.detail if status is not None else ""
            if detail and detail != self._progress_detail:
                # The log gets every step; the desktop a progress note a minute at most.
                due = time.monotonic() - notified >= PROGRESS_NOTIFY_SECONDS
                notified = time.monotonic() if due else notified
                self.feedback.tell("info", detail, notify=due)
            with self._lock:
                self._progress_detail = detail
        with self._lock:
            self._progress_detail = ""

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
        notify = self._told_waiting if ready else not self._jobs.empty() or self._current is not None
        self._told_waiting = not ready and (self._told_waiting or notify)
        self.feedback.tell("info", status.detail, notify=notify)

    def _process(self, job: Job) -> None:
        if job.group in self._broken_groups:
            self._hold(job, self._broken_groups[job.group])  # keep the dictation's order
            return
        if job.skip:
            self._deliver(job, "")
            return
        backoff = Backoff(start=1.0, factor=2.0, cap=30.0)
        while not self._stopping.is_set():
            if not self._wait_for_engine():
                self._hold(job, cold=True)
                return
            self._send_cold_first()
            self._set_work(Work.TRANSCRIBING, f"Transcribing {job.seconds:.0f} s of audio.")
            log.info("Transcribing %.1f s of audio.", job.seconds)
            try:
                transcript = self._transcribe(job)
            except ServerError as exc:
                if not exc.retryable:
                    self.feedback.tell("error", failure_words(
                        exc, advice.fate_of(job.entry is not None, Fate.HELD)))
                    self._hold(job)
                    return
                delay = backoff.next()
                fate = advice.fate_of(job.entry is not None, Fate.SENT_AGAIN)
                self.feedback.tell("warning", f"{failure_words(exc, fate)} "
                                   f"Trying again in {delay:.0f} s.")
                self._stopping.wait(delay)
                continue
            finally:
                self._set_work(Work.IDLE)
            self._deliver(job, transcript)
            return

    def _send_cold_first(self) -> None:
        """Recordings that waited out a cold server go before newer ones, in order."""
        with self._lock:
            cold, self._cold = self._cold, []
            for earlier in cold:
                self._broken_groups.pop(earlier.group or "", None)
        for earlier in cold:
            self._process(earlier)

    def _transcribe(self, job: Job) -> str:
        if self._flac:
            samples, rate = decode_wav(job.wav)
            return self.engine.transcribe(encode_flac(samples, rate), duration_s=job.seconds,
                                          filename="audio.flac")
        return self.engine.transcribe(job.wav, duration_s=job.seconds)

    def _hold(self, job: Job, cold: bool = False) -> None:
        """Keep a job for `retry` (or, when the server was only cold, for its readiness)."""
        job.waited = True
        with self._lock:
            (self._cold if cold else self._held).append(job)
            if job.group is not None and not job.last:
                self._broken_groups[job.group] = cold
        if job.entry is not None:
            log.info("Recording %s stays in %s until `turbo-whisper retry` or the next start.",
                     job.entry.name, self.spool.directory)

    def _deliver(self, job: Job, transcript: str) -> None:
        if text.is_hallucination(transcript, job.loudest_dbfs):
            log.info("Dropped %r: Whisper invents it for near-silence.", transcript)
            transcript = ""
        if job.group is not None:
            transcript = self._join_parts(job, transcript)
            if not job.last:
                return
        words = text.finish(transcript, self.settings.replacements, self.settings.trailing_space)
        if not words.strip():
            if job.loudest_dbfs >= text.QUIET_DBFS and not job.skip:
                if job.wordless:
                    self._set_aside(job)
                    return
                job.wordless = True
                self.feedback.tell("warning", f"No words were recognised in {job.seconds:.0f} s "
                                   "of clearly audible audio; nothing was copied. "
                                   + advice.fate_words(job.entry is not None, Fate.HELD))
                self._hold(job)
                return
            self.feedback.tell("info", f"No words were recognised in {job.seconds:.0f} s of "
                               "audio; nothing was copied.")
            self._done(job)
            return
        together, count = self._batch.add(words, job.waited, job.waited and self._more_waited())
        self._remember(together)
        log.debug("Transcript: %s", words)  # before delivery: whoever sees the text sees this
        self._mark_sent(job, words)
        try:
            note = self.output.deliver(together)
        except ClipboardError as exc:
            try:
                saved = self.spool.keep_text(job.entry, words)
            except OSError as save_exc:
                self.feedback.tell("error", f"{exc} It could not be saved either ({save_exc}); "
                                   f"the recording stays kept: {words}")
                self._hold(job)
                return
            self.feedback.tell("error", f"{exc} The transcript is saved in {saved}: {words}")
            self._cue_unless_recording("error")
            self._done(job)
            return
        self._done(job)
        self.delivered += 1
        if self.settings.history:
            try:
                history.append(words, job.seconds)
            except OSError as exc:
                self.feedback.tell("warning", f"The history file could not be written: {exc}.",
                                   notify=False)
        self._last = {"words": len(words.split()), "seconds": round(job.seconds, 1),
                      "at": time.time()}
        self._announce(job, together, count, note)

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
        self._cue_unless_recording("done")

    def _cue_unless_recording(self, name: str) -> None:
        """A cue from the worker goes through the controller, which owns the cues: it is
        not played while a dictation is recorded (it would be in it)."""
        self.post("cue", name)

    def _cue_when_idle(self, name: str) -> None:
        if self._state is not State.RECORDING:
            self.feedback.cue(name)

    def _mark_sent(self, job: Job, words: str) -> None:
        """On disk before the clipboard: a crash from here on must not send it again."""
        if job.entry is not None:
            try:
                self.spool.mark_sent(job.entry, words)
            except OSError as exc:
                log.warning("Could not note the delivery on disk (%s); a crash in the next "
                            "moment would send this recording again.", exc)

    def _more_waited(self) -> bool:
        """Whether recordings that waited, like this one, are still to be delivered."""
        with self._jobs.mutex:
            queued = [job for job in self._jobs.queue if job is not None]
        return any(job.waited for job in queued) or bool(self._cold)

    def _remember(self, together: str) -> None:
        try:
            last.remember(together, self.spool.directory.parent / last.FILE_NAME)
        except OSError as exc:
            log.warning("The last transcript could not be kept for `turbo-whisper last`: %s.",
                        exc)

    def _set_aside(self, job: Job) -> None:
        """Audible but wordless twice: keep the audio out of the spool, so it is not sent again
        at every retry and start, and say where it is."""
        earlier = self._group_entries.pop(job.group, []) if job.group else []
        try:
            folder = self.spool.set_aside([*earlier, job.entry] if job.entry else earlier,
                                          job.wav if job.entry is None else None)
        except OSError as exc:
            if job.group and earlier:
                self._group_entries[job.group] = earlier
            self.feedback.tell("error", f"Again no words were recognised in {job.seconds:.0f} s "
                               f"of audio, and it could not be set aside ({exc}); it stays kept.")
            self._hold(job)
            return
        with self._lock:
            self._in_memory = [other for other in self._in_memory if other is not job]
        self.feedback.tell("warning", f"Again no words were recognised in {job.seconds:.0f} s "
                           "of clearly audible audio; nothing was copied. The recording is saved "
                           f"in {folder} to listen to, and is not sent again.")

    def _join_parts(self, job: Job, transcript: str) -> str:
        """Keep an earlier part's text for later; for the last part, the whole dictation."""
        assert job.group is not None
        with self._lock:
            parts = self._partials.setdefault(job.group, [])
            parts.append(transcript.strip())
            if job.entry is not None and not job.last:
                self._group_entries.setdefault(job.group, []).append(job.entry)
            if job.last:
                del self._partials[job.group]
        return " ".join(part for part in parts if part)

    def _done(self, job: Job) -> None:
        """Forget the delivered recording, and for a long dictation all of its parts."""
        earlier = self._group_entries.pop(job.group, []) if job.group else []
        with self._lock:
            self._in_memory = [other for other in self._in_memory if other is not job]
        stuck = None  # said once for a long dictation, not once for each of its parts
        for entry in [*earlier, job.entry]:
            if entry is not None:
                try:
                    self.spool.done(entry)
                except NotRemoved as exc:
                    stuck = exc
        if stuck is not None:
            self.feedback.tell("warning", str(stuck))

    # --- what the user sees ---------------------------------------------------------------

    def _set_state(self, state: State) -> None:
        with self._lock:
            self._state = state

    def _set_work(self, work: Work, detail: str = "") -> None:
        with self._lock:
            self._work, self._work_detail = work, detail

    def snapshot(self) -> dict[str, Any]:
        """The client's state as plain data, for `turbo-whisper status`."""
        with self._lock:
            engine = self.engine.status
            pending = (self._jobs.qsize() + (self._current is not None) + len(self._held)
                       + len(self._cold))
            return {
                "ok": True,
                "state": self._state.value,
                "work": self._work.value,
                "work_detail": self._work_detail,
                "engine": {"phase": engine.phase.value, "detail": engine.detail,
                           "server": engine.server_kind},
                "pending": pending,
                "held": len(self._held) + len(self._cold),
                "delivered": self.delivered,
                "last": self._last,
                "message": self._message(engine, pending),
            }

    def _message(self, engine: EngineStatus, pending: int) -> str:
        parts = []
        if self._state is State.RECORDING:
            parts.append("Recording.")
        if self._work is Work.TRANSCRIBING:
            parts.append(self._work_detail)
        elif self._work is Work.WAITING:
            parts.append(f"Waiting for the server: {self._work_detail}")
            if self._progress_detail:
                parts.append(self._progress_detail)
        else:
            parts.append(engine.detail)
        held = self._held + self._cold
        kept = sum(job.entry is not None for job in held)
        if pending - len(held):
            parts.append(f"{pending - len(held)} recording(s) waiting to be transcribed.")
        if kept:
            parts.append(f"{kept} recording(s) kept after an error; `turbo-whisper retry` "
                         "sends them.")
        if self._in_memory:
            parts.append(advice.in_memory_now(len(self._in_memory)))
        return " ".join(parts)
