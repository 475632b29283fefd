"""The client among real X windows: the hotkey is grabbed, so the focused window never sees it."""

from __future__ import annotations

import os
import subprocess

import pytest
from support.client import clipboard_with, press
from support.desktop import grab_elsewhere, key_logger
from support.services import stop_process

pytestmark = pytest.mark.integration


def test_the_focused_window_never_receives_the_hotkey_and_the_dictation_happens(
        xvfb, pulse, speech, warm_server, client, tmp_path):
    run = client(warm_server.url).start()
    run.wait_log("Global hotkey", timeout=10)
    run.wait_log("Ready:", timeout=60)
    window = key_logger(xvfb, tmp_path)
    try:
        press(xvfb, "ctrl+alt+r")
        run.wait(lambda: run.status()["state"] == "recording", 10, "recording")
        pulse.play(speech("open the window please"))
        press(xvfb, "ctrl+alt+r")
        assert "window" in clipboard_with(xvfb, "window", run).lower()
        press(xvfb, "x")  # the window does receive other keys
        window.wait_for("press x")
        assert "press r" not in window.text() and "press R" not in window.text()
    finally:
        window.stop()


def test_hold_mode_keeps_the_held_hotkey_from_the_focused_window(
        xvfb, pulse, speech, warm_server, client, tmp_path):
    run = client(warm_server.url, TURBO_WHISPER_MODE="hold").start()
    run.wait_log("Global hotkey", timeout=10)
    run.wait_log("Ready:", timeout=60)
    window = key_logger(xvfb, tmp_path)
    env = {**os.environ, "DISPLAY": xvfb}
    try:
        subprocess.run(["xdotool", "keydown", "ctrl+alt+r"], env=env, check=True, timeout=10)
        run.wait(lambda: run.status()["state"] == "recording", 10, "recording while held")
        pulse.play(speech("good morning everyone"))
        subprocess.run(["xdotool", "keyup", "ctrl+alt+r"], env=env, check=True, timeout=10)
        run.wait(lambda: run.status()["state"] == "idle", 10, "stop on release")
        assert "morning" in clipboard_with(xvfb, "morning", run).lower()
        press(xvfb, "x")
        window.wait_for("press x")
        assert "press r" not in window.text()
    finally:
        window.stop()


def test_a_hotkey_taken_by_another_program_is_named_and_dictation_still_works(
        xvfb, pulse, speech, warm_server, client):
    other = grab_elsewhere(xvfb)
    try:
        run = client(warm_server.url).start()
        run.wait_log("already taken by another program", timeout=10)
        log = run.log()
        assert "Ctrl+Alt+R" in log and "Traceback" not in log
        assert "press Ctrl+Alt+R" not in log
        run.wait_log("Ready:", timeout=60)
        assert run.command("toggle").returncode == 0
        pulse.play(speech("good morning everyone"))
        assert run.command("toggle").returncode == 0
        assert "morning" in clipboard_with(xvfb, "morning", run).lower()
    finally:
        stop_process(other)
