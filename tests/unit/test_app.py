"""The dictation state machine with stand-in parts; the real parts are tested end to end."""

import io
import logging
import threading
import time

import numpy as np
import pytest
import soundfile

import turbo_whisper.app as app_module
import turbo_whisper.jobs as jobs_module
import turbo_whisper.parts as parts_module
import turbo_whisper.progress as progress_module
from turbo_whisper import advice, last
from turbo_whisper.app import Dictation, Event
from turbo_whisper.audio import Recording, decode_wav
from turbo_whisper.config import Settings
from turbo_whisper.errors import ClipboardError, ServerError
from turbo_whisper.spool import Spool
from turbo_whisper.status import EngineStatus, Phase


def speech(seconds=1.0, level=8000, marker=0):
    samples = (np.sin(np.arange(int(16000 * seconds)) / 5) * level).astype(np.int16)
    samples[0] = marker  # lets the engine tell recordings apart
    return samples


class ListRecorder:
    """Hands out prepared recordings in turn."""

    def __init__(self, *clips):
        self.clips = list(clips)
        self.recording = False

    def start(self):
        self.recording = True

    def stop(self):
        self.recording = False
        return Recording(self.clips.pop(0), 16000, time.time())


class ScriptedEngine:
    """Answers each clip with 'clip <marker>', after the scripted failures."""

    def __init__(self, failures=(), ready_after=0.0):
        self.failures = list(failures)
        self.ready = False
        self.ready_at = time.monotonic() + ready_after
        self.status = EngineStatus(Phase.STARTING, "starting")
        self.calls = 0
        self.filenames = []
        self.cancelled = threading.Event()

    def wait_until_ready(self, on_status=None, deadline=None):
        while time.monotonic() < self.ready_at:
            if self.cancelled.wait(0.01):
                raise ServerError("cancelled")
        self.ready = True
        self.status = EngineStatus(Phase.READY, "ready")

    def transcribe(self, audio, *, duration_s, filename="audio.wav"):
        self.calls += 1
        if self.failures:
            failure = self.failures.pop(0)
            if isinstance(failure, Exception):
                raise failure
            return failure
        self.filenames.append(filename)
        if filename.endswith(".flac"):
            samples, _ = soundfile.read(io.BytesIO(audio), dtype="int16")
        else:
            samples, _ = decode_wav(audio)
        return f" clip {samples[0]} "

    def cancel(self):
        self.cancelled.set()

    def close(self):
        pass


class ListOutput:
    inserts = False  # a clipboard: each text replaces the one before

    def __init__(self, fail=0):
        self.texts = []
        self.fail = fail

    def deliver(self, transcript):
        if self.fail:
            self.fail -= 1
            raise ClipboardError("no clipboard tool")
        self.texts.append(transcript)


def make(tmp_path, recorder, engine, output=None, **settings):
    app = Dictation(Settings(**settings), recorder, engine, Spool(tmp_path / "spool"),
                    output or ListOutput())
    app.start()
    return app


def dictate(app):
    app.request("start")
    app.request("stop")


def wait_for_spool_empty(spool, timeout=5.0):
    """A recording is forgotten just after its text is delivered, never before."""
    wait_for(lambda: spool.pending() == [], timeout)


def wait_for(condition, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return
        time.sleep(0.01)
    raise AssertionError("timed out")


def test_dictations_made_before_the_server_is_ready_are_joined_in_order(tmp_path):
    engine = ScriptedEngine(ready_after=0.5)
    output = ListOutput()
    app = make(tmp_path, ListRecorder(speech(marker=1), speech(marker=2), speech(marker=3)),
               engine, output)
    for _ in range(3):
        dictate(app)
    assert len(app.spool.pending()) == 3  # on disk while the server is cold
    wait_for(lambda: len(output.texts) == 3)
    # Ready together: each delivery holds the ones before it, so none is overwritten.
    assert output.texts == ["clip 1", "clip 1\nclip 2", "clip 1\nclip 2\nclip 3"]
    assert (tmp_path / last.FILE_NAME).read_text() == "clip 1\nclip 2\nclip 3"
    wait_for_spool_empty(app.spool)
    app.shutdown()


def test_retryable_failures_keep_the_recording_and_resend_it(tmp_path, short_waits):
    engine = ScriptedEngine(failures=[ServerError("503 loading")])
    output = ListOutput()
    app = make(tmp_path, ListRecorder(speech(marker=7)), engine, output)
    dictate(app)
    wait_for(lambda: output.texts == ["clip 7"], timeout=5)
    assert engine.calls == 2
    wait_for_spool_empty(app.spool)
    app.shutdown()


def test_a_rejected_recording_stays_kept_until_retry(tmp_path):
    engine = ScriptedEngine(failures=[ServerError("413 too large", retryable=False)])
    output = ListOutput()
    app = make(tmp_path, ListRecorder(speech(marker=4)), engine, output)
    dictate(app)
    wait_for(lambda: app.snapshot()["held"] == 1)
    assert len(app.spool.pending()) == 1 and output.texts == []
    assert "turbo-whisper retry" in app.snapshot()["message"]
    app.request("retry")
    wait_for(lambda: output.texts == ["clip 4"])
    wait_for_spool_empty(app.spool)
    app.shutdown()


def test_silence_is_not_sent(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    engine = ScriptedEngine()
    app = make(tmp_path, ListRecorder(np.zeros(16000, dtype=np.int16)), engine)
    dictate(app)
    time.sleep(0.2)
    assert engine.calls == 0 and app.spool.pending() == []
    assert "Nothing was heard" in caplog.text
    app.shutdown()


def test_whisper_inventions_on_a_quiet_clip_are_not_pasted(tmp_path):
    engine = ScriptedEngine(failures=["Thank you."])
    output = ListOutput()
    app = make(tmp_path, ListRecorder(speech(level=300)), engine, output)  # about -40 dBFS
    dictate(app)
    wait_for(lambda: engine.calls == 1)
    wait_for_spool_empty(app.spool)
    assert output.texts == []
    app.shutdown()


def test_clipboard_failure_keeps_the_text(tmp_path, caplog):
    engine = ScriptedEngine()
    app = make(tmp_path, ListRecorder(speech(marker=9)), engine, ListOutput(fail=1))
    dictate(app)
    kept = tmp_path / "undelivered"
    wait_for(lambda: "clip 9" in caplog.text)  # shown in the log as the last resort
    assert [p.read_text() for p in kept.iterdir()] == ["clip 9"]
    app.shutdown()


def test_spool_failure_still_delivers(tmp_path, caplog):
    (tmp_path / "spool").write_text("a file where the folder should be")
    output = ListOutput()
    app = make(tmp_path, ListRecorder(speech(marker=5)), ScriptedEngine(), output)
    dictate(app)
    wait_for(lambda: output.texts == ["clip 5"])
    assert "could not be saved" in caplog.text
    app.shutdown()


def test_shutdown_while_recording_keeps_the_audio(tmp_path):
    engine = ScriptedEngine(ready_after=60)
    app = make(tmp_path, ListRecorder(speech(marker=3)), engine)
    app.request("start")
    app.shutdown(grace=1.0)
    assert len(app.spool.pending()) == 1


def test_pending_recordings_from_an_earlier_run_go_first(tmp_path):
    from turbo_whisper.audio import encode_wav

    Spool(tmp_path / "spool").put(encode_wav(speech(marker=1), 16000))
    output = ListOutput()
    app = make(tmp_path, ListRecorder(speech(marker=2)), ScriptedEngine(), output)
    dictate(app)
    wait_for(lambda: len(output.texts) == 2)
    assert output.texts == ["clip 1", "clip 2"]
    app.shutdown()


@pytest.mark.parametrize("command", ["toggle", "start", "stop", "cancel", "retry", "status"])
def test_each_control_command_is_an_event_the_controller_knows(command):
    assert Event(command).value == command


def test_an_unknown_event_is_refused_to_its_sender_and_never_reaches_the_controller(tmp_path):
    app = Dictation(Settings(), ListRecorder(), ScriptedEngine(), Spool(tmp_path / "spool"),
                    ListOutput())
    with pytest.raises(ValueError):
        app.post("Toggle")


@pytest.mark.parametrize("mode, events, recording", [
    ("toggle", ["hotkey_down", "hotkey_up"], True),
    ("hold", ["hotkey_down"], True),
    ("hold", ["hotkey_down", "hotkey_up"], False),
])
def test_hotkey_modes(tmp_path, mode, events, recording):
    app = make(tmp_path, ListRecorder(speech()), ScriptedEngine(), mode=mode)
    for event in events:
        app.post(event)
    assert (app.request("status")["state"] == "recording") is recording
    app.shutdown()


SPEED = 40.0  # prepared audio plays this many times faster than real time


@pytest.fixture
def quick_cuts(monkeypatch):
    """Look for a pause to cut at as often, in the audio's time, as when it is spoken."""
    monkeypatch.setattr(parts_module, "CUT_EVERY_SECONDS", 0.5 * 20 / SPEED)


class StreamingRecorder:
    """Plays prepared audio as if spoken, `speed` times faster than real time."""

    def __init__(self, samples, speed=SPEED):
        self.samples, self.speed, self.samplerate = samples, speed, 16000
        self.recording, self._read, self._began = False, 0, 0.0

    def _heard(self):
        frames = int((time.monotonic() - self._began) * self.speed * self.samplerate)
        return min(frames, len(self.samples))

    def start(self):
        self.recording, self._read, self._began = True, 0, time.monotonic()

    def read_new(self):
        end = self._heard()
        new, self._read = self.samples[self._read:end], end
        return new

    def stop(self):
        self.recording = False
        return Recording(self.samples[: self._heard()], self.samplerate, time.time())


class CountingEngine(ScriptedEngine):
    """Answers with one word per loud burst, numbered by where the burst starts."""

    def transcribe(self, audio, *, duration_s, filename="audio.wav"):
        from turbo_whisper.audio import decode_wav

        self.calls += 1
        samples, _ = decode_wav(audio)
        loud = np.abs(samples.astype(np.int32)).reshape(-1, 160).max(axis=1) > 1000
        starts = np.flatnonzero(loud[1:] & ~loud[:-1]) + 1
        return " ".join(f"w{int(samples[s * 160 + 1])}" for s in starts) + " " + (
            "w0 " if loud[0] else "")


def numbered_bursts(count, speech_seconds=2.0, pause_seconds=0.6):
    pieces = [np.zeros(1600, dtype=np.int16)]
    for number in range(1, count + 1):
        tone = (np.sin(np.arange(int(16000 * speech_seconds)) / 4) * 9000).astype(np.int16)
        tone[1] = number  # the word's name, read back by the engine
        pieces += [tone, np.zeros(int(16000 * pause_seconds), dtype=np.int16)]
    return np.concatenate(pieces)


def test_long_dictation_is_sent_in_parts_while_recording_and_delivered_once(tmp_path,
                                                                            quick_cuts):
    engine = CountingEngine()
    output = ListOutput()
    audio = numbered_bursts(12)  # about 31 s of "speech" in under a second
    app = make(tmp_path, StreamingRecorder(audio), engine, output)
    app.request("start")
    time.sleep(len(audio) / 16000 / SPEED + 0.3)
    sent_while_recording = engine.calls
    app.request("stop")
    wait_for(lambda: output.texts)
    time.sleep(0.2)
    assert sent_while_recording >= 2
    assert len(output.texts) == 1
    assert output.texts[0].split() == [f"w{n}" for n in range(1, 13)]
    wait_for_spool_empty(app.spool)
    app.shutdown()


def test_parts_of_an_interrupted_long_dictation_are_joined_at_the_next_start(tmp_path):
    from turbo_whisper.audio import encode_wav

    spool = Spool(tmp_path / "spool")
    group = spool.new_name()
    for index, marker in enumerate((3, 4)):
        spool.put(encode_wav(speech(marker=marker), 16000), f"{group}.p{index:03d}")
    spool.put(encode_wav(speech(marker=5), 16000))
    output = ListOutput()
    app = make(tmp_path, ListRecorder(), ScriptedEngine(), output)
    wait_for(lambda: len(output.texts) == 2)
    assert output.texts == ["clip 3 clip 4", "clip 3 clip 4\nclip 5"]  # kept ones arrive together
    wait_for_spool_empty(spool)
    app.shutdown()


def test_without_splitting_a_long_dictation_is_sent_whole(tmp_path, quick_cuts):
    engine = CountingEngine()
    output = ListOutput()
    audio = numbered_bursts(6)
    app = make(tmp_path, StreamingRecorder(audio), engine, output, split_at_pauses=False)
    app.request("start")
    time.sleep(len(audio) / 16000 / SPEED + 0.2)
    app.request("stop")
    wait_for(lambda: output.texts)
    assert engine.calls == 1 and output.texts[0].split() == [f"w{n}" for n in range(1, 7)]
    app.shutdown()


def test_container_progress_shows_in_status_while_waiting(tmp_path, monkeypatch):
    monkeypatch.setattr(progress_module, "PROGRESS_EVERY_SECONDS", 0.05)
    said = EngineStatus(Phase.DOWNLOADING, "The server is downloading its model: 1.2 GB so far.")
    engine = ScriptedEngine(ready_after=60)
    app = Dictation(Settings(), ListRecorder(), engine, Spool(tmp_path / "spool"), ListOutput(),
                    progress=lambda: said)
    app.start()
    wait_for(lambda: "1.2 GB so far" in app.snapshot()["message"])
    assert app.snapshot()["work"] == "waiting for server"
    app.shutdown(grace=1.0)


def test_parts_are_cut_even_while_status_is_polled_all_the_time(tmp_path, quick_cuts):
    engine = CountingEngine()
    output = ListOutput()
    audio = numbered_bursts(12)
    app = make(tmp_path, StreamingRecorder(audio), engine, output)
    app.request("start")
    end = time.monotonic() + len(audio) / 16000 / SPEED + 0.3
    while time.monotonic() < end:
        app.request("status")  # a desktop widget asking faster than the cut interval
        time.sleep(0.05)
    sent_while_recording = engine.calls
    app.request("stop")
    wait_for(lambda: output.texts)
    assert sent_while_recording >= 2
    assert output.texts[0].split() == [f"w{n}" for n in range(1, 13)]
    app.shutdown()


def test_a_damaged_kept_recording_is_set_aside_once_while_the_rest_go_out(tmp_path, caplog):
    from turbo_whisper.audio import encode_wav

    spool = Spool(tmp_path / "spool")
    broken = spool.put(b"not a wav at all")
    spool.put(encode_wav(speech(marker=6), 16000))
    output = ListOutput()
    app = make(tmp_path, ListRecorder(), ScriptedEngine(), output)
    wait_for(lambda: output.texts == ["clip 6"])
    assert "is damaged" in caplog.text and not broken.path.exists()
    assert (tmp_path / "undelivered" / broken.path.name).read_bytes() == b"not a wav at all"
    app.shutdown()


def test_flac_upload_sends_the_recording_as_flac(tmp_path):
    engine = ScriptedEngine()
    output = ListOutput()
    app = make(tmp_path, ListRecorder(speech(marker=3)), engine, output, upload_format="flac")
    dictate(app)
    wait_for(lambda: output.texts == ["clip 3"])
    assert engine.filenames == ["audio.flac"]
    app.shutdown()


def test_flac_without_soundfile_sends_wav_and_says_why(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(app_module, "flac_problem",
                        lambda: "the soundfile package cannot be loaded (no module)")
    engine = ScriptedEngine()
    output = ListOutput()
    app = make(tmp_path, ListRecorder(speech(marker=5)), engine, output, upload_format="flac")
    assert "Recordings are sent as WAV" in caplog.text
    assert "pip install soundfile" in caplog.text
    dictate(app)
    wait_for(lambda: output.texts == ["clip 5"])
    assert engine.filenames == ["audio.wav"]
    app.shutdown()


def test_audible_audio_wordless_twice_is_set_aside_not_sent_again(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    engine = ScriptedEngine(failures=["", ""])
    output = ListOutput()
    app = make(tmp_path, ListRecorder(speech(marker=6)), engine, output)
    dictate(app)
    wait_for(lambda: app.snapshot()["held"] == 1)
    assert len(app.spool.pending()) == 1
    app.request("retry")
    wait_for(lambda: "is not sent again" in caplog.text)
    aside = list((tmp_path / "undelivered").glob("*.wav"))
    assert len(aside) == 1 and app.spool.pending() == []
    assert decode_wav(aside[0].read_bytes())[0][0] == 6  # the recording itself, intact
    assert str(tmp_path / "undelivered") in caplog.text
    app.request("retry")
    time.sleep(0.2)
    assert engine.calls == 2 and output.texts == [] and app.snapshot()["held"] == 0
    app.shutdown()


class Killed(BaseException):
    """Stands for a kill -9: nothing after it runs."""


class KilledAtTheClipboard(ListOutput):
    def deliver(self, transcript):
        raise Killed


def test_a_kill_between_noting_the_delivery_and_the_clipboard_never_sends_it_twice(
        tmp_path, monkeypatch):
    monkeypatch.setattr(threading, "excepthook", lambda args: None)  # the "killed" worker
    app = make(tmp_path, ListRecorder(speech(marker=6)), ScriptedEngine(), KilledAtTheClipboard())
    dictate(app)
    wait_for(lambda: any(note.read_text() for note in (tmp_path / "spool").glob("*.sent")))
    assert len(Spool(tmp_path / "spool").pending()) == 1  # the recording is still there
    output = ListOutput()
    again = make(tmp_path, ListRecorder(), ScriptedEngine(), output)
    time.sleep(0.3)
    assert output.texts == [] and Spool(tmp_path / "spool").pending() == []
    saved = list((tmp_path / "undelivered").glob("*.txt"))
    assert [path.read_text() for path in saved] == ["clip 6"]
    again.shutdown()


# --------------------------------------------------------------------------- the attempt budget


class OneFailingEngine(ScriptedEngine):
    """Fails every upload of the clip marked `failing` with an HTTP 500, until `healed`."""

    def __init__(self, failing):
        super().__init__()
        self.failing, self.healed, self.failed = failing, False, 0

    def transcribe(self, audio, *, duration_s, filename="audio.wav"):
        if not self.healed and decode_wav(audio)[0][0] == self.failing:
            self.failed += 1
            raise ServerError("The server failed while transcribing (HTTP 500: boom).")
        return super().transcribe(audio, duration_s=duration_s, filename=filename)


@pytest.fixture
def short_waits(monkeypatch):
    monkeypatch.setattr(jobs_module, "FIRST_WAIT", 0.01)


def test_a_recording_that_always_fails_is_set_aside_and_the_later_one_goes(tmp_path, caplog,
                                                                           short_waits):
    engine = OneFailingEngine(failing=1)
    output = ListOutput()
    app = make(tmp_path, ListRecorder(speech(marker=1), speech(marker=2)), engine, output)
    wait_for(lambda: engine.ready)  # both are dictated to a ready server, none waited for it
    dictate(app)
    dictate(app)
    wait_for(lambda: app.snapshot()["set_aside"])
    wait_for(lambda: output.texts == ["clip 2"])
    assert engine.failed == jobs_module.ATTEMPTS
    [aside] = app.snapshot()["set_aside"]
    assert "HTTP 500: boom" in aside["why"] and "set aside" in app.snapshot()["message"]
    assert caplog.text.count("The server failed 4 times on a recording") == 1
    [kept] = app.spool.pending()
    assert "HTTP 500" in app.spool.aside_reason(kept)
    engine.healed = True
    app.request("retry")
    wait_for(lambda: output.texts == ["clip 2", "clip 1"])
    wait_for(lambda: list(app.spool.directory.iterdir()) == [])  # the note went with it
    assert app.snapshot()["set_aside"] == []
    app.shutdown()


def test_a_recording_set_aside_is_not_sent_at_the_next_start_only_by_retry(tmp_path):
    from turbo_whisper.audio import encode_wav

    spool = Spool(tmp_path / "spool")
    spool.mark_aside(spool.put(encode_wav(speech(marker=1), 16000)), "HTTP 500: boom")
    spool.put(encode_wav(speech(marker=2), 16000))
    engine, output = ScriptedEngine(), ListOutput()
    app = make(tmp_path, ListRecorder(), engine, output)
    wait_for(lambda: output.texts == ["clip 2"])
    assert app.snapshot()["set_aside"][0]["why"] == "HTTP 500: boom"
    assert engine.calls == 1
    app.request("retry")
    wait_for(lambda: output.texts == ["clip 2", "clip 1"])
    app.shutdown()


def test_the_later_parts_of_a_dictation_whose_part_was_set_aside_stay_aside_with_it(tmp_path):
    from turbo_whisper.audio import encode_wav

    spool = Spool(tmp_path / "spool")
    group = spool.new_name()
    first = spool.put(encode_wav(speech(marker=3), 16000), f"{group}.p000")
    spool.put(encode_wav(speech(marker=4), 16000), f"{group}.p001")
    spool.mark_aside(first, "HTTP 500: boom")
    output = ListOutput()
    app = make(tmp_path, ListRecorder(speech(marker=5)), ScriptedEngine(), output)
    dictate(app)
    wait_for(lambda: output.texts == ["clip 5"])
    assert len(app.snapshot()["set_aside"]) == 2
    app.request("retry")
    wait_for(lambda: output.texts == ["clip 5", "clip 3 clip 4"])
    app.shutdown()


class ReadinessThatBreaksOnce(ScriptedEngine):
    """A readiness check that raises an error nobody expected, once."""

    def __init__(self):
        super().__init__()
        self.broke = False

    def wait_until_ready(self, on_status=None, deadline=None):
        if not self.broke:
            self.broke = True
            raise TypeError("'NoneType' object is not iterable")
        super().wait_until_ready()


def test_the_sending_thread_outlives_an_unexpected_error_while_waiting_for_the_server(
        tmp_path, caplog, monkeypatch):
    monkeypatch.setattr(app_module, "TROUBLE_WAIT", 0.01)
    output = ListOutput()
    app = make(tmp_path, ListRecorder(speech(marker=8)), ReadinessThatBreaksOnce(), output)
    dictate(app)
    wait_for(lambda: output.texts == ["clip 8"])
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and errors[0].exc_info is not None  # one line, with the traceback
    assert "NoneType" in caplog.text
    app.shutdown()


# --------------------------------------------------------------------------- full and read-only disks


def test_a_recording_no_folder_takes_is_never_called_kept_and_its_loss_is_told_at_exit(
        tmp_path, caplog):
    (tmp_path / "spool").write_text("a file where the folder should be")
    engine = ScriptedEngine(ready_after=60)
    app = make(tmp_path, ListRecorder(speech(seconds=1.5, marker=4)), engine)
    with caplog.at_level(logging.INFO, logger="turbo_whisper"):
        dictate(app)
        app.shutdown(grace=1.0)
    assert "only in memory" in caplog.text and "kept" not in caplog.text
    lost = [r for r in caplog.records if "is lost now" in r.getMessage()]
    assert len(lost) == 1 and lost[0].levelno == logging.ERROR
    assert "1.5 s of audio" in lost[0].getMessage()


def test_a_recording_only_in_memory_is_written_at_exit_once_its_folder_takes_it(tmp_path,
                                                                               caplog):
    blocker = tmp_path / "spool"
    blocker.write_text("a file where the folder should be")
    app = make(tmp_path, ListRecorder(speech(marker=4)), ScriptedEngine(ready_after=60))
    dictate(app)
    blocker.unlink()
    app.shutdown(grace=1.0)
    assert len(app.spool.pending()) == 1 and "now kept in" in caplog.text


class ReadOnlySpool(Spool):
    """A spool whose delivered files cannot be removed, as on a disk remounted read-only."""

    def done(self, entry):
        import errno

        from turbo_whisper.errors import NotRemoved

        self._delivered.add(entry.name)
        refused = OSError(errno.EROFS, "Read-only file system")
        raise NotRemoved(advice.not_removed(entry.path.parent, refused), entry.name)


def test_a_delivered_recording_that_cannot_be_removed_is_told_as_delivered_and_not_resent(
        tmp_path, caplog):
    output = ListOutput()
    app = Dictation(Settings(), ListRecorder(speech(marker=6)), ScriptedEngine(),
                    ReadOnlySpool(tmp_path / "spool"), output)
    app.start()
    dictate(app)
    wait_for(lambda: "could not be removed" in caplog.text)
    assert "was delivered" in caplog.text and "could not be sent" not in caplog.text
    app.request("retry")
    time.sleep(0.3)
    assert output.texts == ["clip 6"]
    app.shutdown()


def test_status_says_a_recording_is_only_in_memory(tmp_path):
    (tmp_path / "spool").write_text("a file where the folder should be")
    app = make(tmp_path, ListRecorder(speech(marker=4)), ScriptedEngine(ready_after=60))
    dictate(app)
    message = app.snapshot()["message"]
    assert "1 recording(s) only in memory" in message and "kept" not in message, message
    app.shutdown(grace=1.0)
