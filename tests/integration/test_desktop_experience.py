"""Control commands, hotkey modes, pre-roll, paste into a real window, history and doctor."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time

import pytest
from support.client import ClientProcess, read_clipboard
from support.desktop import TK_ENTRY, dictate_with_commands

pytestmark = pytest.mark.integration

def set_clipboard(display: str, text: str) -> subprocess.Popen:
    process = subprocess.Popen(["xclip", "-selection", "clipboard"], stdin=subprocess.PIPE,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env={**os.environ, "DISPLAY": display})
    process.communicate(text.encode(), timeout=10)
    return process


def test_paste_mode_types_into_the_focused_window_and_restores_the_clipboard(
        xvfb, pulse, speech, warm_server, client, tmp_path):
    saved = tmp_path / "entry.txt"
    window = subprocess.Popen([sys.executable, "-c", TK_ENTRY, str(saved)],
                              env={**os.environ, "DISPLAY": xvfb})
    try:
        run = client(warm_server.url, TURBO_WHISPER_OUTPUT="paste").start()
        run.wait_log("Ready:", timeout=60)
        run.wait(saved.exists, 10, "the window")
        set_clipboard(xvfb, "what was there before")
        dictate_with_commands(run, pulse, speech("open the window please"))
        run.wait(lambda: "window" in saved.read_text().lower(), 60, "the text in the window")
        run.wait(lambda: read_clipboard(xvfb) == b"what was there before", 10,
                 "the previous clipboard back")
    finally:
        window.terminate()
        window.wait(10)


def test_hold_mode_records_while_the_keys_are_down(xvfb, pulse, speech, warm_server, client):
    run = client(warm_server.url, TURBO_WHISPER_MODE="hold").start()
    run.wait_log("Global hotkey", timeout=10)
    env = {**os.environ, "DISPLAY": xvfb}
    subprocess.run(["xdotool", "keydown", "ctrl+alt+r"], env=env, check=True, timeout=10)
    run.wait(lambda: run.status()["state"] == "recording", 10, "recording while held")
    pulse.play(speech("good morning everyone"))
    subprocess.run(["xdotool", "keyup", "ctrl+alt+r"], env=env, check=True, timeout=10)
    run.wait(lambda: run.status()["state"] == "idle", 10, "stop on release")
    run.wait(lambda: b"morning" in read_clipboard(xvfb).lower(), 60, "the words")


def test_control_commands_over_the_socket(pulse, speech, warm_server, client):
    run = client(warm_server.url).start()
    sock = run.home / "runtime" / "turbo-whisper" / "control.sock"
    assert stat.S_IMODE(sock.stat().st_mode) == 0o600
    assert "recording" in run.command("start").stdout.lower()
    assert run.status()["state"] == "recording"
    pulse.play(speech("good morning everyone"))
    cancelled = run.command("cancel")
    assert cancelled.returncode == 0 and run.status()["state"] == "idle"
    assert not list(run.spool.glob("*.wav"))  # cancel throws the audio away, on purpose
    status = run.command("status")
    assert status.returncode == 0 and "running" in status.stdout


def test_commands_without_a_client_say_so_and_fail(tmp_path):
    run = ClientProcess(tmp_path / "nobody", {"TURBO_WHISPER_SERVER_URL": "http://127.0.0.1:9"})
    for name in ("toggle", "start", "stop", "cancel"):
        result = run.command(name)
        assert result.returncode == 3 and "not running" in result.stderr
    assert run.command("status").returncode == 3


def test_quit_stops_the_running_client_cleanly_and_pid_follows_it(warm_server, client):
    run = client(warm_server.url).start()
    pid = run.command("pid")
    assert pid.returncode == 0 and int(pid.stdout) == run.process.pid
    result = run.command("quit")
    assert result.returncode == 0, result.stderr
    assert f"Stopped Turbo Whisper (process {run.process.pid})" in result.stdout
    assert run.process.wait(timeout=10) == 0  # it exited cleanly
    assert "Stopping." in run.log()
    assert run.command("pid").returncode == 3
    again = run.command("quit")
    assert again.returncode == 0 and "not running" in again.stdout


def test_quit_stops_a_client_whose_control_socket_is_gone(warm_server, client):
    run = client(warm_server.url).start()
    (run.home / "runtime" / "turbo-whisper" / "control.sock").unlink()
    result = run.command("quit")
    assert result.returncode == 0, result.stderr
    assert run.process.wait(timeout=10) == 0  # SIGTERM through the instance lock's pid: a clean stop


def test_control_commands_start_without_heavy_imports(tmp_path):
    run = ClientProcess(tmp_path / "nobody", {})
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "turbo_whisper", "toggle"], env=run.env,
        capture_output=True, text=True, timeout=30, check=False)
    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines() if "|" in line}
    assert "turbo_whisper.control" in imported
    assert not imported & {"numpy", "sounddevice", "docker", "httpx", "pynput"}


def test_a_stale_socket_after_kill_9_does_not_block_a_restart(warm_server, client):
    run = client(warm_server.url).start()
    sock = run.home / "runtime" / "turbo-whisper" / "control.sock"
    os.kill(run.process.pid, signal.SIGKILL)
    run.process.wait(10)
    assert sock.exists()
    assert run.command("status").returncode == 3  # the socket is there, nobody answers
    run.start()
    assert run.status()["ok"] is True


def test_second_client_is_refused_while_one_runs(warm_server, client):
    run = client(warm_server.url).start()
    second = run.command("run", timeout=30)
    assert second.returncode == 1 and "already running" in second.stderr


def test_preroll_keeps_the_first_word_spoken_with_the_key_press(
        xvfb, pulse, speech, warm_server, client):
    run = client(warm_server.url, TURBO_WHISPER_PREROLL_MS="600").start()
    run.wait_log("Ready:", timeout=60)
    time.sleep(1.0)  # the idle buffer fills
    player = pulse.play_async(speech("open the window please"))
    assert run.command("toggle").returncode == 0
    player.wait(30)
    time.sleep(0.2)
    assert run.command("toggle").returncode == 0
    run.wait(lambda: b"window" in read_clipboard(xvfb).lower(), 60, "the words")
    assert read_clipboard(xvfb).lower().startswith(b"open")


def test_history_keeps_transcripts_privately(xvfb, pulse, speech, warm_server, client):
    run = client(warm_server.url, TURBO_WHISPER_HISTORY="true").start()
    run.wait_log("Ready:", timeout=60)
    dictate_with_commands(run, pulse, speech("good morning everyone"))
    history = run.home / "data" / "turbo-whisper" / "history.jsonl"
    run.wait(history.exists, 60, "the history file")
    assert stat.S_IMODE(history.stat().st_mode) == 0o600
    shown = run.command("history")
    assert "morning" in shown.stdout.lower()


def test_doctor_prints_every_row_and_fails_without_a_server(xvfb, pulse, tmp_path):
    run = ClientProcess(tmp_path / "doc", {"DISPLAY": xvfb, **pulse.env,
                                           "TURBO_WHISPER_SERVER_URL": "http://127.0.0.1:9"})
    result = run.command("doctor", timeout=60)
    assert result.returncode == 1
    for row in ("config file", "display / hotkey", "microphone", "clipboard", "server", "docker"):
        assert row in result.stdout
    assert ("Nothing answers at http://127.0.0.1:9: start the server (`turbo-whisper server up`) "
            "or check `server_url`.") in result.stdout
    assert "clipboard         ok" in result.stdout
    assert "Dictation is blocked by: server" in result.stdout


def test_doctor_passes_with_a_server(xvfb, pulse, warm_server, tmp_path):
    run = ClientProcess(tmp_path / "doc", {"DISPLAY": xvfb, **pulse.env,
                                           "TURBO_WHISPER_SERVER_URL": warm_server.url})
    result = run.command("doctor", timeout=60)
    assert "server            ok" in result.stdout, result.stdout
    assert result.returncode == 0, result.stdout


def microphone_row(run: ClientProcess) -> str:
    shown = run.command("doctor", timeout=60).stdout
    return next(line for line in shown.splitlines() if line.startswith("microphone"))


def test_doctor_calls_a_quiet_microphone_silent(xvfb, pulse, tmp_path):
    run = ClientProcess(tmp_path / "doc", {"DISPLAY": xvfb, **pulse.env,
                                           "TURBO_WHISPER_SERVER_URL": "http://127.0.0.1:9"})
    row = microphone_row(run)  # nothing is played: audio arrives, all of it quiet
    assert "warning" in row and "s recorded at 16000 Hz" in row, row
    assert "silent. Is the microphone muted?" in row, row
    assert "no audio arrived" not in row, row


def test_doctor_hears_speech_played_into_the_microphone(xvfb, pulse, speech, tmp_path):
    run = ClientProcess(tmp_path / "doc", {"DISPLAY": xvfb, **pulse.env,
                                           "TURBO_WHISPER_SERVER_URL": "http://127.0.0.1:9"})
    talking = pulse.play_async(speech("this sentence goes on for a while so that the check "
                                      "of the microphone hears it from its first moment to "
                                      "its last, however late it starts"))
    try:
        row = microphone_row(run)
    finally:
        talking.wait(60)
    assert row.startswith("microphone        ok ") and "s recorded at 16000 Hz" in row, row


def test_doctor_tells_a_microphone_that_sends_nothing_from_a_silent_one(xvfb, pulse, tmp_path):
    with pulse.stalled_mic() as source:
        run = ClientProcess(tmp_path / "doc", {
            "DISPLAY": xvfb, **pulse.env, "PULSE_SOURCE": source,
            "TURBO_WHISPER_SERVER_URL": "http://127.0.0.1:9"})
        row = microphone_row(run)
    assert "warning" in row and "no audio arrived from the input device" in row, row
    assert "silent" not in row and "muted" not in row, row
