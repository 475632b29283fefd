"""The client with its default settings (sound cues and notifications on) survives hundreds
of dictations, and what it was recording survives the client.

The real `turbo-whisper run` process under Xvfb with the PulseAudio virtual microphone,
driven with `turbo-whisper toggle` as a desktop shortcut would.
"""

from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.integration

CYCLES = 40


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
