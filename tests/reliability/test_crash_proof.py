"""The client with its default settings (sound cues and notifications on) survives hundreds
of dictations, and what it was recording survives the client.

The real `turbo-whisper run` process under Xvfb with the PulseAudio virtual microphone,
driven with `turbo-whisper toggle` as a desktop shortcut would.
"""

from __future__ import annotations

import os
import signal
import time
import wave
from pathlib import Path

import pytest
from reliability_kit import kept, set_clipboard, start_recording, stop_recording, wait_for
from support.client import ClientProcess, clipboard_with, read_clipboard

pytestmark = pytest.mark.integration

CYCLES = 40
REPORT = "please send the report by friday"
TWO_PHRASES = "please send the report by friday. good morning everyone, open the window please."


def test_start_and_stop_with_cues_on_never_crash_the_client(warm_server, client):
    """Each start plays a cue while the microphone opens, each stop another, and an empty
    recording an error cue: the audio output and the recorder must not take each other down."""
    run = client(warm_server.url).start()
    for number in range(CYCLES):
        started = run.command("toggle")
        assert started.returncode == 0, (number, started.stderr, run.log()[-2000:])
        time.sleep(0.05 + 0.01 * (number % 5))
        stopped = run.command("toggle")
        assert stopped.returncode == 0, (number, stopped.stderr, run.log()[-2000:])
    assert run.process.poll() is None, run.log()[-3000:]
    assert run.log().count("Recording.") == CYCLES
    assert run.terminate() == 0


def test_the_start_cue_is_not_recorded_into_the_dictation(warm_server, client):
    """The sound server here plays into the microphone, as loudspeakers do: a silent
    dictation with the cue in it would pass for speech and be sent."""
    run = client(warm_server.url).start()
    for _ in range(3):
        assert run.command("toggle").returncode == 0
        time.sleep(1.5)
        assert run.command("toggle").returncode == 0
    run.wait(lambda: run.log().count("Nothing was heard") == 3, 20, "three silent dictations")
    assert "Transcribing" not in run.log()
    assert run.terminate() == 0


# --------------------------------------------------------------------------- kill -9


def wav_seconds(path) -> float:
    with wave.open(str(path), "rb") as reader:
        return reader.getnframes() / reader.getframerate()


def journals(run: ClientProcess) -> list:
    return sorted(run.spool.glob("*.rec"))


def delivered(run: ClientProcess) -> int:
    return int(run.status()["delivered"])


def restarted_delivers_once(client, warm_server, xvfb, first: ClientProcess, word: str) -> str:
    """Start the client again on the same files: the words come once, and only once."""
    again = client(warm_server.url, home=first.home).start()
    text = clipboard_with(xvfb, word, again)
    again.wait(lambda: not kept(again) and not journals(again), 10, "the spool to empty")
    time.sleep(1.0)
    assert delivered(again) == 1, again.log()
    assert again.terminate() == 0
    third = client(warm_server.url, home=first.home).start()
    time.sleep(1.0)
    assert delivered(third) == 0 and "earlier recording" not in third.log()
    assert third.terminate() == 0
    return text


def test_killed_while_speaking_the_audio_up_to_the_last_second_is_delivered_once(
        xvfb, pulse, speech, warm_server, client):
    wav = speech(TWO_PHRASES)
    run = client(warm_server.url).start()
    run.wait_log("Ready:")
    set_clipboard(xvfb, "marker before the crash")
    start_recording(run)
    playing = pulse.play_async(wav)
    time.sleep(wav_seconds(wav) * 0.8)  # the first phrase said, the second not finished
    on_disk = journals(run)
    run.process.kill()  # SIGKILL, in the middle of speaking
    run.process.wait(10)
    playing.wait(30)
    assert len(on_disk) == 1 and on_disk[0].stat().st_size > 16000  # half a second or more
    assert b"marker" in read_clipboard(xvfb)

    text = restarted_delivers_once(client, warm_server, xvfb, run, "report")
    assert "friday" in text.lower()
    assert "Recovered" in (run.home / "client.log").read_text()


def test_killed_right_after_stop_the_recording_is_delivered_once(xvfb, pulse, speech,
                                                                 warm_server, client):
    run = client(warm_server.url).start()
    run.wait_log("Ready:")
    set_clipboard(xvfb, "marker before the crash")
    start_recording(run)
    pulse.play(speech(REPORT))
    stop_recording(run)
    run.process.kill()
    run.process.wait(10)
    if b"friday" in read_clipboard(xvfb).lower():
        pytest.skip("the transcript was faster than the kill")
    text = restarted_delivers_once(client, warm_server, xvfb, run, "report")
    assert "friday" in text.lower()


def test_killed_after_the_clipboard_the_recording_is_not_sent_again(xvfb, pulse, speech,
                                                                    warm_server, client):
    run = client(warm_server.url).start()
    run.wait_log("Ready:")
    set_clipboard(xvfb, "marker before the dictation")
    start_recording(run)
    pulse.play(speech(REPORT))
    stop_recording(run)
    clipboard_with(xvfb, "report", run)
    run.process.kill()
    run.process.wait(10)
    set_clipboard(xvfb, "marker after the crash")
    again = client(warm_server.url, home=run.home).start()
    time.sleep(2.0)
    assert delivered(again) == 0 and b"marker" in read_clipboard(xvfb)
    assert not kept(again) and not journals(again)
    assert again.terminate() == 0


# --------------------------------------------------------------------------- supervised


def client_pid(run: ClientProcess) -> int:
    """The supervised client's own process (the holder of the single-instance lock)."""
    holder = (run.home / "runtime" / "turbo-whisper" / "instance.lock").read_text().strip()
    return int(holder)


def test_a_supervised_client_killed_mid_dictation_is_back_and_says_what_happened(
        xvfb, pulse, speech, warm_server, client):
    run = client(warm_server.url).start("--supervised")
    run.wait_log("Ready:")
    set_clipboard(xvfb, "marker before the crash")
    first = client_pid(run)
    assert first != run.process.pid
    start_recording(run)
    pulse.play(speech(REPORT))
    time.sleep(1.0)
    os.kill(first, signal.SIGKILL)

    run.wait_log("restarted after a crash; 1 recording(s) recovered", timeout=30)
    text = clipboard_with(xvfb, "report", run)
    assert "friday" in text.lower()
    log = run.log()
    assert "stopped unexpectedly (killed by SIGKILL)" in log
    assert log.count("restarted after a crash") == 1
    assert client_pid(run) != first and run.process.poll() is None
    assert run.status()["state"] == "idle"
    assert run.terminate() == 0  # the stop reaches the client, which stops cleanly
    wait_for(lambda: not os.path.exists(f"/proc/{client_pid(run)}"), 10, "the client to stop")
    assert "Stopping." in run.log()


# --------------------------------------------------------------------------- soak

SOAK = 200
SPOKEN_EVERY = 10
SOAK_PHRASE = "good morning everyone"


def children(pid: int) -> int:
    """How many processes have `pid` as their parent (finished cue players not reaped count)."""
    count = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        count += int(fields[1]) == pid
    return count


def test_two_hundred_dictations_with_default_settings(xvfb, pulse, speech, warm_server, client,
                                                      monkeypatch):
    """Short clips, cues and notifications on: most are silent (start, stop and error cues
    around an opening and closing microphone), every tenth is spoken and must arrive."""
    from turbo_whisper.control import send

    phrase = speech(SOAK_PHRASE)
    run = client(warm_server.url).start()
    run.wait_log("Ready:")
    monkeypatch.setenv("XDG_RUNTIME_DIR", run.env["XDG_RUNTIME_DIR"])
    spoken = 0
    for number in range(SOAK):
        assert send("start")["state"] == "recording", (number, run.log()[-2000:])
        if number % SPOKEN_EVERY == 0:
            set_clipboard(xvfb, f"marker {number}")
            pulse.play(phrase)
            spoken += 1
        else:
            time.sleep(0.2 + 0.05 * (number % 3))
        assert send("stop")["state"] == "idle", (number, run.log()[-2000:])
        if number % SPOKEN_EVERY == 0:
            assert "morning" in clipboard_with(xvfb, "morning", run).lower()
    run.wait(lambda: (lambda state: state["pending"] == state["held"])(run.status()), 60,
             "the queue to empty")
    log = run.log()
    assert run.process.poll() is None, log[-3000:]
    assert log.count("Recording.") == SOAK
    assert log.count("Copied ") == spoken == run.status()["delivered"]
    kept_audible = log.count("No words were recognised")
    assert log.count("Nothing was heard") + spoken + kept_audible == SOAK, log[-3000:]
    assert len(kept(run)) == kept_audible  # anything heard and not delivered is kept
    assert children(run.process.pid) < 10  # cue players are collected
    assert "Traceback" not in log and "Sound cues are off" not in log
    assert run.terminate() == 0
