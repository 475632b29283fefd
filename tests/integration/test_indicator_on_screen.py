"""The recording indicator on a real X screen, read back from screenshots of that screen."""

from __future__ import annotations

import time

import pytest
from support.desktop import Screenshots

pytestmark = pytest.mark.integration


@pytest.fixture
def screen(xvfb):
    shots = Screenshots(xvfb)
    yield shots
    shots.close()


def seen(run, screen, state: str, timeout: float = 30.0) -> None:
    run.wait(lambda: screen.indicator()[0] == state, timeout, f"the indicator showing {state}")


def test_the_indicator_shows_recording_with_the_input_level_then_copied_then_goes(
        xvfb, pulse, speech, warm_server, client, screen):
    run = client(warm_server.url).start()
    run.wait_log("Ready:", timeout=60)
    assert screen.indicator() == (None, 0.0)
    assert run.command("start").returncode == 0
    seen(run, screen, "recording", 10)
    time.sleep(0.5)
    assert screen.indicator()[1] < 0.05  # silence: no level
    player = pulse.play_async(speech("open the window please and close the door"))
    run.wait(lambda: screen.indicator()[1] > 0.3, 10, "the level bar rising with the speech")
    player.wait(30)
    assert run.command("stop").returncode == 0
    seen(run, screen, "copied", 60)
    run.wait(lambda: screen.indicator()[0] is None, 10, "the indicator gone")


def test_the_indicator_shows_waiting_while_a_cold_server_starts(
        xvfb, pulse, speech, whisper_server, client, screen):
    server = whisper_server("fedirz", start_delay=8)
    run = client(server.url).start()
    assert run.command("start").returncode == 0
    seen(run, screen, "recording", 10)
    pulse.play(speech("good morning everyone"))
    assert run.command("stop").returncode == 0
    seen(run, screen, "waiting", 10)
    seen(run, screen, "copied", 90)


def test_indicator_false_shows_nothing(xvfb, pulse, warm_server, client, screen):
    run = client(warm_server.url, TURBO_WHISPER_INDICATOR="false").start()
    assert run.command("start").returncode == 0
    run.wait(lambda: run.status()["state"] == "recording", 10, "recording")
    time.sleep(0.5)
    assert screen.indicator() == (None, 0.0)
    assert run.command("cancel").returncode == 0
