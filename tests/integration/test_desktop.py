"""The client's edges on a real desktop: clipboard text, missing tools, no display, limits."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np
import pytest
from support.client import read_clipboard
from support.services import stop_process

from turbo_whisper.errors import ClipboardError
from turbo_whisper.output import Clipboard

pytestmark = pytest.mark.integration

SAMPLES = [
    "Café déjà vu — œuvre naïve, à l'hôpital.",
    "Dictée 🎤 terminée ✅",
    "東京で会議があります。中文测试。한국어",
]


@pytest.mark.parametrize("text", SAMPLES)
def test_non_ascii_text_survives_byte_for_byte(xvfb, monkeypatch, text):
    monkeypatch.setenv("DISPLAY", xvfb)
    Clipboard().deliver(text)
    assert read_clipboard(xvfb) == text.encode("utf-8")


def test_no_clipboard_tool_names_what_to_install(xvfb, monkeypatch, tmp_path):
    monkeypatch.setenv("DISPLAY", xvfb)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ClipboardError, match="apt install xclip"):
        Clipboard().deliver("hello")


def test_without_a_display_the_client_runs_and_points_to_the_control_command(
        pulse, warm_server, tmp_path):
    from support.client import ClientProcess

    env = {**pulse.env, "TURBO_WHISPER_SERVER_URL": warm_server.url}
    run = ClientProcess(tmp_path / "client", env)
    run.env.pop("DISPLAY", None)
    run.env.pop("WAYLAND_DISPLAY", None)
    try:
        run.start()
        log = run.log()
        assert "no X display" in log and "turbo-whisper toggle" in log
        assert "Traceback" not in log
        assert run.command("status").returncode == 0
    finally:
        run.stop()


def test_length_cap_stops_and_transcribes_what_was_said(xvfb, pulse, speech, warm_server, client):
    run = client(warm_server.url, TURBO_WHISPER_MAX_SECONDS="2.5").start()
    run.wait_log("Ready:", timeout=60)
    assert run.command("start").returncode == 0
    pulse.play(speech("open the window please and then close the door behind you"))
    run.wait_log("limit", timeout=10)
    run.wait(lambda: b"window" in read_clipboard(xvfb).lower(), 60, "the first words")
    assert "door" not in read_clipboard(xvfb).decode().lower()
    assert run.status()["state"] == "idle"


def test_transcribe_command_prints_the_words(warm_server, speech):
    result = subprocess.run(
        [sys.executable, "-m", "turbo_whisper", "transcribe", str(speech("good morning everyone")),
         "--server-url", warm_server.url],
        capture_output=True, text=True, timeout=120, env={**os.environ}, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "morning" in result.stdout.lower()


def test_retry_command_sends_kept_recordings_without_a_running_client(
        xvfb, speech, warm_server, tmp_path):
    from support.client import ClientProcess

    run = ClientProcess(tmp_path / "client", {"DISPLAY": xvfb,
                                               "TURBO_WHISPER_SERVER_URL": warm_server.url})
    run.spool.mkdir(parents=True)
    (run.spool / "00000000000000000001-1-0000.wav").write_bytes(
        speech("please send the report by friday").read_bytes())
    result = run.command("retry")
    assert result.returncode == 0, result.stderr
    assert b"report" in read_clipboard(xvfb).lower()
    assert not list(run.spool.glob("*.wav"))


def test_sound_cues_play_through_the_sound_server(pulse, tmp_path):
    """The cue reaches the sound server: what the speaker plays, its monitor hears."""
    listener = subprocess.Popen(
        ["parec", f"--device={pulse.SINK}.monitor", "--raw", "--format=s16le", "--channels=1",
         "--rate=16000", "--latency-msec=20"],
        env=pulse.child_env(), stdin=subprocess.DEVNULL, stdout=open(tmp_path / "heard.raw", "wb"))
    try:
        time.sleep(0.3)
        script = ("import time\n"
                  "from turbo_whisper.feedback import Feedback\n"
                  "feedback = Feedback(notifications=False, sounds=True)\n"
                  "feedback.cue('start')\n"
                  "time.sleep(1.0)\n"
                  "print('on' if feedback.sounds else 'off')\n")
        env = pulse.child_env({**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")})
        result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                                text=True, timeout=60, check=False)
    finally:
        stop_process(listener)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "on", result.stderr
    heard = np.frombuffer((tmp_path / "heard.raw").read_bytes(), dtype="<i2")
    assert np.abs(heard).max() > 3000  # the cue's 0.2 of full scale, about 6500
