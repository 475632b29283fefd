"""A misbehaving transcription server never costs the user a recording.

The real Dictation, the real HTTP client and the real spool run in this process against a
real faster-whisper server on loopback that is made to misbehave; the recorder hands out a
spoken WAV file and the output keeps what it is given. Each fault checks the three things
the user relies on: a message that says what happened, the recording kept on disk while it
lasts, and the transcript delivered once it clears.
"""

from __future__ import annotations

import logging
import time

import httpx
import pytest
from reliability_kit import MODEL, ListOutput, wait_for
from support.services import ServerLauncher, free_port

from turbo_whisper.errors import ClipboardError

pytestmark = pytest.mark.integration

PHRASE = "open the window please"
WORD = "window"


@pytest.fixture(scope="module")
def fault_launcher(tmp_path_factory, model_dir):
    launcher = ServerLauncher(tmp_path_factory.mktemp("fault-servers"), model_dir)
    yield launcher
    launcher.stop_all()


@pytest.fixture
def fault_server(fault_launcher):
    """A server shared by the tests whose faults pass by themselves; replaced when a test
    leaves it dead or with faults still armed."""
    handles = fault_launcher.handles
    if not handles or not handles[-1].alive() or handles[-1].stats()["faults_pending"]:
        if handles:
            handles[-1].stop()
        fault_launcher.start("fedirz")
    return handles[-1]


def ready(dictation, server, speech, **settings):
    """The in-process client, started against `server` and ready to transcribe."""
    dictation.start(server.url, [speech(PHRASE)], **settings)
    dictation.wait_log("Ready:", timeout=30)
    return dictation


def assert_delivered_once(dictation) -> None:
    texts = dictation.wait_delivered(1)
    assert len(texts) == 1 and WORD in texts[0].lower(), texts
    dictation.wait_spool_empty()
    time.sleep(0.2)
    assert len(dictation.output.texts) == 1, dictation.output.texts


# --------------------------------------------------------------------------- passing faults

RETRIED = {
    "status:500": "the server failed while transcribing (HTTP 500",
    "status:502": "not reachable behind its proxy (HTTP 502",
    "status:503": "busy starting, downloading or loading its model (HTTP 503",
    "reset": "the connection was closed mid-answer",
    "malformed": "not a transcript",
    "html": "(HTTP 500: 500 Internal Server Error)",
    "huge": "larger than",
}


@pytest.mark.parametrize("fault, words", RETRIED.items(), ids=list(RETRIED))
def test_a_passing_server_fault_is_retried_and_delivered(fault, words, fault_server, speech,
                                                         dictation):
    server = fault_server
    ready(dictation, server, speech)
    server.fault(fault, count=1)
    dictation.dictate()
    kept = dictation.kept()
    assert len(kept) == 1  # on disk before anything was sent
    line = dictation.wait_log(words, level=logging.WARNING)
    assert "recording is kept" in line and "Trying again" in line, line
    assert dictation.kept() == kept
    assert "<" not in line and "Open the wind" not in line  # no raw markup, no transcript text
    assert len(line) < 400
    assert_delivered_once(dictation)
    assert server.stats()["faults_pending"] == []


def test_repeated_errors_back_off_and_still_deliver(fault_server, speech, dictation):
    ready(dictation, fault_server, speech)
    fault_server.fault("status:503", count=2)
    started = time.monotonic()
    dictation.dictate()
    assert_delivered_once(dictation)
    took = time.monotonic() - started
    warnings = [line for line in dictation.records.lines(logging.WARNING) if "HTTP 503" in line]
    assert len(warnings) == 2
    assert took >= 1.5  # waits between attempts: 0.5-1 s, then 1-2 s


def test_a_response_slower_than_the_timeout_is_abandoned_and_sent_again(fault_server, speech,
                                                                        dictation):
    # request_timeout 1 s plus twice the clip's length (1.9 s) gives up after about 5 s.
    ready(dictation, fault_server, speech, request_timeout=1.0)
    fault_server.fault("slow:6")
    started = time.monotonic()
    dictation.dictate()
    line = dictation.wait_log("took longer than", timeout=15, level=logging.WARNING)
    assert "took longer than 5 s to transcribe 2 s of audio" in line, line
    assert "request_timeout" in line and "recording is kept" in line
    assert 4.5 < time.monotonic() - started < 8
    assert len(dictation.kept()) == 1
    assert_delivered_once(dictation)


def test_a_server_trickling_its_answer_is_abandoned_at_the_deadline_and_sent_again(
        fault_server, speech, dictation):
    # A byte a second never trips the read timeout; the whole request's deadline ends it:
    # 5 s to connect, request_timeout 1 s, and one second of upload per second of audio.
    ready(dictation, fault_server, speech, request_timeout=1.0)
    fault_server.fault("trickle")
    started = time.monotonic()
    dictation.dictate()
    line = dictation.wait_log("did not answer in time", timeout=30, level=logging.WARNING)
    assert time.monotonic() - started < 25, line  # the trickle alone takes ten minutes
    assert len(dictation.kept()) == 1
    assert_delivered_once(dictation)
    assert "trickled" not in dictation.output.texts[0]


# --------------------------------------------------------------------------- readiness answers


@pytest.mark.parametrize("dialect", ["fedirz", "speaches"])
def test_unreadable_readiness_answers_never_stop_the_sending(dialect, servers, speech,
                                                             dictation):
    server = servers(dialect)
    # /api/ps answers {"models": null} to the detection, then JSON nested deeper than Python
    # parses while the model is prepared, then as it should.
    server.fault("ps-null", count=1)
    server.fault("ps-deep", count=1)
    dictation.start(server.url, [speech(PHRASE)])
    dictation.dictate()
    assert_delivered_once(dictation)
    assert server.stats()["faults_served"] == 2
    dictation.dictate()  # the sending thread still runs
    texts = dictation.wait_delivered(2)
    assert WORD in texts[1].lower()
    assert not [r for r in dictation.records.records if r.exc_info], dictation.log()


# --------------------------------------------------------------------------- the server goes away


def test_connection_refused_at_start_waits_for_the_server(servers, speech, dictation):
    port = free_port()
    dictation.start(f"http://127.0.0.1:{port}", [speech(PHRASE)])
    dictation.wait_log("is starting (not answering yet)")
    dictation.dictate()
    assert len(dictation.kept()) == 1
    assert dictation.app.snapshot()["pending"] == 1
    assert "1 recording(s) waiting" in dictation.app.snapshot()["message"]
    time.sleep(1.0)
    assert dictation.output.texts == [] and len(dictation.kept()) == 1
    servers.on_port(port)
    assert_delivered_once(dictation)


def test_refused_for_long_it_says_nothing_answers_once_and_keeps_waiting(servers, speech,
                                                                         dictation, monkeypatch):
    from turbo_whisper.server import client as client_module

    monkeypatch.setattr(client_module, "NOTHING_ANSWERS_AFTER", 1.0)  # 10 s in real use
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    dictation.start(url, [speech(PHRASE)])
    dictation.dictate()
    words = (f"Nothing answers at {url}: start the server (`turbo-whisper server up`) or "
             "check `server_url`.")
    dictation.wait_log(words, timeout=10)
    snapshot = dictation.app.snapshot()
    assert words in snapshot["message"] and snapshot["engine"]["phase"] == "unreachable"
    time.sleep(1.0)
    assert dictation.records.text(logging.INFO).count(words) == 1  # said (and notified) once
    servers.on_port(port)
    assert_delivered_once(dictation)


def test_a_server_that_stops_between_dictations_refuses_then_delivers(servers, speech,
                                                                       dictation):
    server = servers()
    ready(dictation, server, speech)
    server.stop()
    dictation.dictate()
    line = dictation.wait_log("connection refused", level=logging.WARNING)
    assert "recording is kept" in line
    dictation.wait_log("is not answering")
    assert len(dictation.kept()) == 1
    servers.on_port(server.port)
    assert_delivered_once(dictation)


def test_the_server_dies_mid_request_and_a_new_one_takes_its_port(servers, speech, dictation):
    server = servers()
    ready(dictation, server, speech)
    server.fault("die")
    dictation.dictate()
    line = dictation.wait_log("failed (the connection was closed mid-answer)",
                              level=logging.WARNING)
    assert "recording is kept" in line
    wait_for(lambda: not server.alive(), 5, "the server to exit")
    dictation.wait_log("is not answering (connection refused")
    assert len(dictation.kept()) == 1
    assert dictation.app.snapshot()["engine"]["phase"] == "unreachable"
    replacement = servers.on_port(server.port)
    assert_delivered_once(dictation)
    assert replacement.stats()["transcriptions"] == 2  # its warm-up clip, then the recording


# --------------------------------------------------------------------------- refusals that last


HELD = {
    "status:413": "the recording is larger than the server accepts (HTTP 413",
    "status:422": "the server rejected the request's fields (HTTP 422",
}


@pytest.mark.parametrize("fault, words", HELD.items(), ids=list(HELD))
def test_a_refusal_keeps_the_recording_until_retry(fault, words, fault_server, speech,
                                                  dictation):
    server = fault_server
    ready(dictation, server, speech)
    server.fault(fault)
    dictation.dictate()
    line = dictation.wait_log(words, level=logging.ERROR)
    assert "recording is kept" in line and "`turbo-whisper retry`" in line, line
    dictation.wait_log("until `turbo-whisper retry`")
    assert len(dictation.kept()) == 1
    snapshot = dictation.app.snapshot()
    assert snapshot["held"] == 1 and "`turbo-whisper retry`" in snapshot["message"]
    time.sleep(1.0)
    assert dictation.output.texts == []  # not sent again behind the user's back
    dictation.app.request("retry")
    assert_delivered_once(dictation)
    assert dictation.app.snapshot()["held"] == 0


def test_a_plain_404_from_the_route_finds_the_server_again_and_delivers(fault_server, speech,
                                                                       dictation):
    def probes() -> int:
        return fault_server.stats()["requests"].count("/inference")

    ready(dictation, fault_server, speech)
    before = probes()
    fault_server.fault("status:404")
    dictation.dictate()
    line = dictation.wait_log("HTTP 404", level=logging.WARNING)
    assert "recording is kept" in line and "Trying again" in line, line
    assert_delivered_once(dictation)
    assert probes() == before + 1  # the server was detected again after the 404


def test_a_model_removed_from_speaches_is_installed_again_and_the_recording_sent(
        servers, speech, dictation):
    server = servers("speaches", installed=[MODEL])
    ready(dictation, server, speech)
    assert httpx.delete(f"{server.url}/v1/models/{MODEL}").status_code == 200
    dictation.dictate()
    line = dictation.wait_log("is not installed", level=logging.WARNING)
    assert "HTTP 404" in line and "recording is kept" in line
    dictation.wait_log(f"Downloading model {MODEL}")
    assert_delivered_once(dictation)
    assert MODEL in server.stats()["models"]["installed"]


# --------------------------------------------------------------------------- empty answers


def test_an_empty_transcript_of_speech_is_reported(fault_server, speech, dictation):
    server = fault_server
    ready(dictation, server, speech)
    server.fault("empty")
    dictation.dictate()
    dictation.wait_log("No words were recognised")
    assert dictation.output.texts == []  # never an empty string pasted into the user's window


def test_an_empty_transcript_of_speech_keeps_the_recording_for_retry(fault_server, speech,
                                                                      dictation):
    server = fault_server
    ready(dictation, server, speech)
    server.fault("empty")
    dictation.dictate()
    dictation.wait_log("No words were recognised")
    assert len(dictation.kept()) == 1
    dictation.app.request("retry")
    assert_delivered_once(dictation)


# --------------------------------------------------------------------------- never ready


def test_a_server_that_never_gets_ready_in_time_keeps_the_recording_and_says_retry(
        servers, speech, dictation):
    server = servers("fedirz", download_delay=5.5)  # a cold model download
    dictation.start(server.url, [speech(PHRASE)], ready_timeout=2.0)
    first = dictation.wait_log("did not become ready in time", timeout=10, level=logging.ERROR)
    assert "downloading" in first and "`turbo-whisper retry`" in first, first
    assert "kept" in first
    dictation.dictate()
    assert len(dictation.kept()) == 1
    dictation.wait_log("until `turbo-whisper retry`", timeout=10)
    snapshot = dictation.app.snapshot()
    assert snapshot["held"] == 1 and len(dictation.kept()) == 1
    assert "`turbo-whisper retry`" in snapshot["message"]
    wait_for(lambda: MODEL in server.stats()["models"]["loaded"], 20, "the download to finish")
    dictation.app.request("retry")
    assert_delivered_once(dictation)


# ----------------------------------------------------------------- the client's disk and clipboard


def test_a_spool_that_cannot_be_written_is_reported_and_the_text_still_delivered(
        servers, speech, dictation, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the spool folder should be")
    server = servers()
    dictation.start(server.url, [speech(PHRASE)], spool_dir=blocker / "spool")
    dictation.wait_log("Ready:")
    dictation.dictate()
    line = dictation.wait_log("could not be saved", level=logging.ERROR, timeout=5)
    assert str(blocker / "spool") in line and "Free some disk space" in line, line
    texts = dictation.wait_delivered(1)
    assert WORD in texts[0].lower()


def test_recordings_held_while_the_server_was_cold_go_out_before_newer_ones(
        servers, speech, dictation):
    # Waits shorter than the download, yet long enough for the model's warm-up on a busy machine.
    server = servers("fedirz", download_delay=6)
    dictation.start(server.url, [speech(PHRASE), speech("good morning everyone")],
                    ready_timeout=2.5)
    dictation.wait_log("did not become ready in time", timeout=10)
    dictation.dictate()
    dictation.wait_log("until `turbo-whisper retry`", timeout=10)
    wait_for(lambda: MODEL in server.stats()["models"]["loaded"], 20, "the download to finish")
    dictation.dictate()
    dictation.wait_delivered(1)
    time.sleep(1.5)
    texts = [text.lower() for text in dictation.output.texts]
    assert len(texts) == 2 and WORD in texts[0] and "morning" in texts[1], texts


class FailingOutput(ListOutput):
    """A clipboard whose tool is missing for the first `failures` transcripts."""

    def __init__(self, failures: int):
        super().__init__()
        self.failures = failures

    def deliver(self, transcript: str) -> None:
        if self.failures:
            self.failures -= 1
            raise ClipboardError("The transcript could not be copied: no clipboard tool was found.")
        super().deliver(transcript)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_with_neither_clipboard_nor_undelivered_folder_later_dictations_still_go_out(
        fault_server, speech, dictation):
    blocker = dictation.home / "state" / "undelivered"
    blocker.parent.mkdir(parents=True)
    blocker.write_text("a file where the undelivered folder should be")
    dictation.output = FailingOutput(failures=1)
    ready(dictation, fault_server, speech)
    dictation.dictate()
    dictation.dictate()
    texts = dictation.wait_delivered(1, timeout=4)
    assert WORD in texts[0].lower()
    line = dictation.wait_log("could not be copied", level=logging.ERROR, timeout=1)
    assert str(blocker) in line, line
    assert len(dictation.kept()) == 1  # all that is left of the first dictation's words


# --------------------------------------------------------------------------- what retry says


def test_retry_says_the_recordings_wait_for_the_server_then_that_none_are_left(
        headless_client, servers, speech, tmp_path):
    port = free_port()
    run = headless_client(tmp_path / "home", f"http://127.0.0.1:{port}")
    run.spool.mkdir(parents=True)
    (run.spool / "00000000000000000001-1-0000.wav").write_bytes(speech(PHRASE).read_bytes())
    run.start()
    run.wait_log("is starting (not answering yet)")
    answer = run.command("retry")
    assert answer.returncode == 0, answer
    assert answer.stdout.startswith("1 recording(s) queued to be sent now."), answer.stdout
    assert "Waiting for the server:" in answer.stdout and "not answering yet" in answer.stdout
    servers.on_port(port)
    wait_for(lambda: not list(run.spool.glob("*.wav")), 60, "the recording to be sent", run.log)
    again = run.command("retry")
    assert again.returncode == 0 and again.stdout.strip() == "No recordings are waiting.", again
    assert "Traceback" not in run.log()
