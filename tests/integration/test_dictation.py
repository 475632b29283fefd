"""End to end: the real client, hotkey pressed on a real X display, speech into a virtual
microphone, a real Whisper model behind the HTTP API, the transcript read from the clipboard."""

from __future__ import annotations

import time

import pytest
from support.client import clipboard_with, dictate, press

pytestmark = pytest.mark.integration

PHRASE = "open the window please"


def test_hotkey_speech_to_clipboard(xvfb, pulse, speech, warm_server, client):
    run = client(warm_server.url).start()
    run.wait_log("Global hotkey", timeout=10)
    run.wait_log("Ready:", timeout=60)
    dictate(xvfb, pulse, speech(PHRASE), run)
    text = clipboard_with(xvfb, "window", run)
    assert "open" in text.lower()
    assert text == text.strip()
    run.wait(lambda: not list(run.spool.glob("*.wav")), 10, "the spool to empty")
    assert run.terminate() == 0


def test_dictation_while_the_server_is_still_cold(xvfb, pulse, speech, whisper_server, client):
    server = whisper_server("fedirz", start_delay=6, download_delay=4)
    run = client(server.url).start()
    dictate(xvfb, pulse, speech("good morning everyone"), run)
    run.wait(lambda: len(list(run.spool.glob("*.wav"))) == 1, 5, "the recording in the spool")
    status = run.status()
    assert status["pending"] == 1
    assert status["engine"]["phase"] in ("starting", "downloading")
    text = clipboard_with(xvfb, "morning", run, timeout=90)
    assert "good" in text.lower()
    log = run.log()
    assert "is starting" in log and "downloading" in log
    assert " ERROR" not in log and "busy" not in log.lower()
    assert run.terminate() == 0


def test_sigterm_while_recording_keeps_the_audio_for_the_next_start(
        xvfb, pulse, speech, whisper_server, client):
    server = whisper_server("speaches", start_delay=30)  # not up during the first run
    first = client(server.url).start()
    press(xvfb, "ctrl+alt+r")
    first.wait(lambda: first.status().get("state") == "recording", 10, "recording")
    pulse.play(speech("please send the report by friday"))
    assert first.terminate() == 0
    kept = list(first.spool.glob("*.wav"))
    assert len(kept) == 1
    server.stop()
    ready = whisper_server("speaches")
    second = client(ready.url, home=first.home).start()
    text = clipboard_with(xvfb, "report", second, timeout=60)
    assert "friday" in text.lower()
    second.wait(lambda: not list(second.spool.glob("*.wav")), 10, "the spool to empty")


LONG_SCRIPT = ("Please send the report by Friday. Good morning everyone. Open the window please. "
               "The meeting starts at nine tomorrow. We will review the budget and the schedule. "
               "Thank you all for coming today.")


def test_long_dictation_is_transcribed_while_speaking_and_pasted_whole(
        xvfb, pulse, speech, warm_server, client):
    run = client(warm_server.url).start()
    run.wait_log("Ready:", timeout=60)
    assert run.command("toggle").returncode == 0
    pulse.play(speech(LONG_SCRIPT))
    time.sleep(0.5)
    parts_before_stop = run.log().count("Transcribing")
    assert run.command("toggle").returncode == 0
    text = clipboard_with(xvfb, "today", run, timeout=90).lower()
    assert parts_before_stop >= 1
    for word in ("report", "morning", "window", "meeting", "budget"):
        assert word in text
    run.wait(lambda: not list(run.spool.glob("*.wav")), 10, "the spool to empty")
    run.wait_log("Copied")
    assert run.log().count("Copied") == 1
    assert "Traceback" not in run.log()
