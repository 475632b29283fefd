"""The recording indicator on a real X screen, read back from screenshots of that screen."""

from __future__ import annotations

import os
import subprocess
import time

import pytest
from support.client import press
from support.desktop import Screenshots, key_logger

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


def test_the_indicator_shows_transcribing_and_an_error_and_never_takes_the_focus(
        xvfb, pulse, speech, whisper_server, client, screen, tmp_path):
    server = whisper_server("fedirz")
    run = client(server.url).start()
    run.wait_log("Ready:", timeout=60)
    window = key_logger(xvfb, tmp_path)
    try:
        focused = focus(xvfb)
        server.fault("slow:3")  # the server takes its time: the indicator says it is working
        assert run.command("start").returncode == 0
        seen(run, screen, "recording", 10)
        assert focus(xvfb) == focused  # shown over the window, never in its place
        pulse.play(speech("good morning everyone"))
        assert run.command("stop").returncode == 0
        seen(run, screen, "transcribing", 10)
        seen(run, screen, "copied", 60)
        server.fault("status:413")  # refused: the recording is kept after an error
        assert run.command("start").returncode == 0
        pulse.play(speech("open the window please"))
        assert run.command("stop").returncode == 0
        seen(run, screen, "error", 30)
        press(xvfb, "x")  # the keys still go to the window the user was typing in
        window.wait_for("press x")
        assert focus(xvfb) == focused
    finally:
        window.stop()


def focus(display: str) -> str:
    """The id of the window that has the keyboard focus."""
    return subprocess.run(["xdotool", "getwindowfocus"], env={**os.environ, "DISPLAY": display},
                          capture_output=True, text=True, check=True, timeout=10).stdout.strip()


@pytest.mark.parametrize("position, right, bottom", [
    (None, True, False),  # the default: top right, away from where people type
    ("bottom-left", False, True),
])
def test_the_indicator_sits_where_the_setting_puts_it(
        xvfb, pulse, warm_server, client, screen, position, right, bottom):
    env = {"TURBO_WHISPER_INDICATOR_POSITION": position} if position else {}
    run = client(warm_server.url, **env).start()
    run.wait_log("Ready:", timeout=60)
    assert run.command("start").returncode == 0
    seen(run, screen, "recording", 10)
    box = screen.where()
    size = screen.root.get_geometry()
    assert box is not None
    assert (box.x + box.width / 2 > size.width / 2) is right, (box, size)
    assert (box.y + box.height / 2 > size.height / 2) is bottom, (box, size)
    assert run.command("cancel").returncode == 0
