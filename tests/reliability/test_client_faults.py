"""Faults on the client's side: killed mid-transcription, microphone unplugged, no clipboard.

The real `turbo-whisper run` process under Xvfb, speech played into the PulseAudio virtual
microphone, driven with `turbo-whisper start` / `stop` as a desktop shortcut would.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from reliability_kit import (
    dictate,
    file_mode,
    kept,
    set_clipboard,
    start_recording,
    stop_recording,
    wait_for,
)
from support.client import ClientProcess, clipboard_with, read_clipboard
from support.services import PulseAudio

pytestmark = pytest.mark.integration

REPORT = "please send the report by friday"
MORNING = "good morning everyone"


# --------------------------------------------------------------------------- kill -9


def test_killed_during_transcription_the_next_start_delivers(xvfb, pulse, speech, servers,
                                                             client):
    server = servers()
    run = client(server.url).start()
    run.wait_log("Ready:", timeout=30)
    set_clipboard(xvfb, "marker before the crash")
    server.fault("slow:30")  # the transcription hangs until the client is killed
    dictate(run, pulse, speech(REPORT))
    wait_for(lambda: "/v1/audio/transcriptions" in server.stats()["requests"], 10,
             "the transcription request")
    assert run.status()["work"] == "transcribing"
    run.process.kill()  # SIGKILL: no chance to clean up
    run.process.wait(10)
    assert len(kept(run)) == 1
    assert b"marker" in read_clipboard(xvfb)

    again = client(server.url, home=run.home).start()
    again.wait_log("1 earlier recording(s) will be sent")
    text = clipboard_with(xvfb, "report", again)
    assert "friday" in text.lower()
    again.wait(lambda: not kept(again), 10, "the spool to empty")
    assert again.terminate() == 0


# --------------------------------------------------------------------------- the microphone goes


def test_unplugging_the_microphone_mid_recording_keeps_the_audio(xvfb, pulse, speech,
                                                                 warm_server, client):
    """PulseAudio moves the client's capture to the source that is left (the speaker's
    monitor); the client keeps recording through it and notices nothing."""
    run = client(warm_server.url).start()
    run.wait_log("Ready:", timeout=60)
    set_clipboard(xvfb, "marker before unplugging")
    start_recording(run)
    pulse.play(speech(REPORT))
    pulse.unload_mic()
    try:
        assert "vmic" not in pulse.sources()
        time.sleep(0.5)
        state = run.status()["state"]
    finally:
        pulse.load_mic()
    if state == "recording":
        stop_recording(run)
    text = clipboard_with(xvfb, "report", run)
    assert "friday" in text.lower()
    run.wait(lambda: not kept(run), 10, "the spool to empty")
    dictate(run, pulse, speech(MORNING))
    clipboard_with(xvfb, "morning", run)


@pytest.fixture
def private_pulse() -> Iterator[PulseAudio]:
    """A PulseAudio of this test's own, whose every source may be removed.

    In a short folder of /tmp: a Unix socket path may not be longer than 107 bytes."""
    folder = Path(tempfile.mkdtemp(prefix="tw-pulse-"))
    server = PulseAudio(folder)
    server.start()
    yield server
    server.stop()
    shutil.rmtree(folder, ignore_errors=True)


def remove_every_source(pulse: PulseAudio) -> None:
    pulse.unload_mic()
    for line in pulse.pactl("list", "short", "modules").splitlines():
        fields = line.split("\t")
        if len(fields) >= 2 and fields[1] == "module-null-sink":
            pulse.pactl("unload-module", fields[0])


def restore_sources(pulse: PulseAudio) -> None:
    pulse.pactl("load-module", "module-null-sink", f"sink_name={pulse.SINK}", "rate=16000",
                "channels=1")
    pulse.pactl("set-default-sink", pulse.SINK)
    pulse.load_mic()


def test_the_last_microphone_vanishing_mid_recording_transcribes_what_was_heard(
        xvfb, private_pulse, speech, warm_server, tmp_path):
    run = ClientProcess(tmp_path / "home", {"DISPLAY": xvfb,
                                            "TURBO_WHISPER_SERVER_URL": warm_server.url,
                                            **private_pulse.env})
    try:
        run.start()
        run.wait_log("Ready:", timeout=60)
        set_clipboard(xvfb, "marker before the microphone goes")
        start_recording(run)
        private_pulse.play(speech(REPORT))
        remove_every_source(private_pulse)
        assert private_pulse.sources() == []
        run.wait_log("The microphone went away; transcribing what was recorded until then.",
                     timeout=10)
        text = clipboard_with(xvfb, "report", run)
        assert "friday" in text.lower()
        assert run.status()["state"] == "idle"
        run.wait(lambda: not kept(run), 10, "the spool to empty")

        restore_sources(private_pulse)
        dictate(run, private_pulse, speech(MORNING))
        clipboard_with(xvfb, "morning", run)
        assert run.terminate() == 0
    finally:
        run.stop()


# --------------------------------------------------------------------------- no clipboard tool


def test_without_a_clipboard_tool_the_transcript_is_saved_and_shown(xvfb, pulse, speech,
                                                                     warm_server, client,
                                                                     tmp_path):
    no_tools = tmp_path / "empty-bin"
    no_tools.mkdir()
    run = client(warm_server.url, PATH=str(no_tools)).start()
    run.wait_log("The clipboard will not work: no clipboard tool was found")
    run.wait_log("Ready:", timeout=60)
    dictate(run, pulse, speech(REPORT))
    run.wait_log("The transcript is saved in", timeout=60)
    line = next(line for line in run.log().splitlines() if "The transcript is saved in" in line)
    assert "xclip" in line and "friday" in line.lower(), line
    folder = run.home / "state" / "turbo-whisper" / "undelivered"
    saved = list(folder.glob("*.txt"))
    assert len(saved) == 1
    assert "report" in saved[0].read_text(encoding="utf-8").lower()
    assert str(saved[0]) in line
    assert file_mode(saved[0]) == 0o600 and file_mode(folder) == 0o700
    run.wait(lambda: not kept(run), 10, "the recording to be done with")
    assert run.terminate() == 0
