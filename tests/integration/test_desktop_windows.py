"""The client among real X windows: the hotkey is grabbed, so the focused window never sees
it; a paste goes in with the keys that window pastes with, and the text is never lost."""

from __future__ import annotations

import os
import subprocess
import time

import pytest
from support.client import clipboard_with, press, read_clipboard
from support.desktop import (
    dictate_with_commands,
    grab_elsewhere,
    key_logger,
    set_clipboard,
    tk_entry,
    xterm,
)
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


def test_paste_into_xterm_uses_shift_insert_and_gives_the_clipboard_back(
        xvfb, pulse, speech, warm_server, client, tmp_path):
    run = client(warm_server.url, TURBO_WHISPER_OUTPUT="paste").start()
    run.wait_log("Ready:", timeout=60)
    window = xterm(xvfb, tmp_path)
    try:
        set_clipboard(xvfb, b"what was there before")
        dictate_with_commands(run, pulse, speech("open the window please"))
        run.wait(lambda: "window" in window.text().lower(), 60, "the text in the xterm")
        run.wait(lambda: read_clipboard(xvfb) == b"what was there before", 10,
                 "the previous clipboard back")
        assert "did not take the paste" not in run.log()
    finally:
        window.stop()


def test_a_paste_the_window_does_not_take_leaves_the_transcript_in_the_clipboard(
        xvfb, pulse, speech, warm_server, client, tmp_path):
    run = client(warm_server.url, TURBO_WHISPER_OUTPUT="paste").start()
    run.wait_log("Ready:", timeout=60)
    window = key_logger(xvfb, tmp_path)  # a window with nowhere to paste to
    try:
        set_clipboard(xvfb, b"what was there before")
        dictate_with_commands(run, pulse, speech("good morning everyone"))
        run.wait_log("did not take the paste", timeout=60)
        time.sleep(1.0)  # long after any restore would have happened
        assert b"morning" in read_clipboard(xvfb).lower()
        assert "paste_keys" in run.log()
        again = run.command("last", "--print")
        assert again.returncode == 0 and "morning" in again.stdout.lower()
    finally:
        window.stop()


def test_paste_works_while_the_clipboard_holds_bytes_that_are_not_utf8(
        xvfb, pulse, speech, warm_server, client, tmp_path):
    run = client(warm_server.url, TURBO_WHISPER_OUTPUT="paste").start()
    run.wait_log("Ready:", timeout=60)
    window = tk_entry(xvfb, tmp_path)
    try:
        old = b"caf\xe9 \xff\xfe latin-1"
        set_clipboard(xvfb, old)
        dictate_with_commands(run, pulse, speech("open the window please"))
        run.wait(lambda: "window" in window.text().lower(), 60, "the text in the window")
        run.wait(lambda: read_clipboard(xvfb) == old, 10, "the same bytes back")
        assert "Traceback" not in run.log()
    finally:
        window.stop()


def test_last_copies_the_last_transcript_again_without_history(
        xvfb, pulse, speech, warm_server, client):
    run = client(warm_server.url).start()
    run.wait_log("Ready:", timeout=60)
    dictate_with_commands(run, pulse, speech("please send the report by friday"))
    clipboard_with(xvfb, "report", run)
    kept = run.home / "state" / "turbo-whisper" / "last-transcript.txt"
    assert oct(kept.stat().st_mode & 0o777) == "0o600"
    set_clipboard(xvfb, b"something else")
    again = run.command("last")
    assert again.returncode == 0, again.stderr
    assert b"report" in read_clipboard(xvfb).lower()
    assert not (run.home / "data" / "turbo-whisper" / "history.jsonl").exists()


@pytest.mark.parametrize("lock, mask", [("Num_Lock", "Mod2Mask"), ("Caps_Lock", "LockMask")])
def test_the_hotkey_works_with_num_lock_or_caps_lock_on(
        xvfb, pulse, speech, warm_server, client, tmp_path, lock, mask):
    from Xlib import X, display

    run = client(warm_server.url).start()
    run.wait_log("Global hotkey", timeout=10)
    run.wait_log("Ready:", timeout=60)
    window = key_logger(xvfb, tmp_path)
    env = {**os.environ, "DISPLAY": xvfb}
    screen = display.Display(xvfb)

    def locked() -> bool:
        return bool(screen.screen().root.query_pointer().mask & getattr(X, mask))

    subprocess.run(["xdotool", "key", lock], env=env, check=True, timeout=10)
    try:
        assert locked()
        # Pressed as is: xdotool's --clearmodifiers would turn the lock off for the press.
        subprocess.run(["xdotool", "key", "ctrl+alt+r"], env=env, check=True, timeout=10)
        run.wait(lambda: run.status()["state"] == "recording", 10, f"recording with {lock} on")
        pulse.play(speech("good morning everyone"))
        subprocess.run(["xdotool", "key", "ctrl+alt+r"], env=env, check=True, timeout=10)
        assert "morning" in clipboard_with(xvfb, "morning", run).lower()
        assert "press r" not in window.text().lower()
    finally:
        if locked():
            subprocess.run(["xdotool", "key", lock], env=env, check=True, timeout=10)
        screen.close()
        window.stop()
