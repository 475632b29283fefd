"""One recording the server always fails never holds up the dictations after it.

The real `turbo-whisper run` process with its default settings under Xvfb, speech played
into the PulseAudio virtual microphone, against the stand-in server with a fault that
strikes every upload of one recording only.
"""

from __future__ import annotations

import time

import pytest
from reliability_kit import dictate, kept, set_clipboard, wait_for
from support.client import clipboard_with, read_clipboard

pytestmark = pytest.mark.integration

REPORT = "please send the report by friday"
MORNING = "good morning everyone"


def test_a_recording_that_always_fails_is_set_aside_and_the_next_dictation_is_delivered(
        xvfb, pulse, speech, servers, client):
    server = servers()
    run = client(server.url).start()
    run.wait_log("Ready:", timeout=60)
    server.fault("status:500", count=1000, one_recording=True)
    dictate(run, pulse, speech(REPORT))
    wait_for(lambda: server.stats()["faults_served"] >= 1, 30, "the first failed attempt")

    set_clipboard(xvfb, "marker before the second dictation")
    dictate(run, pulse, speech(MORNING))
    text = clipboard_with(xvfb, "morning", run, timeout=60)
    assert "friday" not in text.lower()

    # Its attempts spent, the failing one is set aside: kept, said once, listed with why.
    run.wait(lambda: run.status().get("set_aside"), 60, "the failing recording set aside")
    [aside] = run.status()["set_aside"]
    assert "HTTP 500" in aside["why"], aside
    plain = run.command("status").stdout
    assert "set aside" in plain and "turbo-whisper retry" in plain, plain
    assert run.log().count("times on a recording of") == 1, run.log()[-3000:]
    assert len(kept(run)) == 1
    served = server.stats()["faults_served"]
    time.sleep(3)
    assert server.stats()["faults_served"] == served  # not sent again by itself

    server.clear_faults()
    transcribed = server.stats()["transcriptions"]
    answer = run.command("retry")
    assert answer.returncode == 0, answer
    text = clipboard_with(xvfb, "friday", run, timeout=60)
    assert text.lower().count("friday") == 1 and "morning" not in text.lower()
    run.wait(lambda: not kept(run), 10, "the spool to empty")
    time.sleep(2)
    assert server.stats()["transcriptions"] == transcribed + 1  # delivered exactly once
    assert "friday" in read_clipboard(xvfb).decode().lower()
    assert run.status()["set_aside"] == []
    assert run.terminate() == 0
