"""What the commands print: safe to pipe, each thing said once, an idle stop said plainly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
from support.client import ClientProcess
from support.desktop import set_clipboard

pytestmark = pytest.mark.integration


def piped(run: ClientProcess, command: str, reader: str, timeout: float = 90
          ) -> subprocess.CompletedProcess:
    """`turbo-whisper COMMAND | READER` through a real shell pipe."""
    line = f"'{sys.executable}' -m turbo_whisper {command} | {reader}"
    return subprocess.run(["sh", "-c", line], env=run.env, capture_output=True, text=True,
                          timeout=timeout, check=False)


def test_doctor_into_a_pipe_ends_with_the_clipboard_restored(xvfb, pulse, warm_server, tmp_path):
    run = ClientProcess(tmp_path / "doc", {"DISPLAY": xvfb, **pulse.env,
                                           "TURBO_WHISPER_SERVER_URL": warm_server.url})
    set_clipboard(xvfb, b"what the user copied")
    # grep waits for the end of the pipe: a clipboard tool holding it open would hang here.
    result = piped(run, "doctor", "grep clipboard", timeout=60)
    assert "clipboard" in result.stdout and "ok" in result.stdout
    read = subprocess.run(["xclip", "-o", "-selection", "clipboard"], capture_output=True,
                          env={**os.environ, "DISPLAY": xvfb}, timeout=10, check=False)
    assert read.stdout == b"what the user copied"


def test_a_reader_that_stops_early_gets_no_traceback(tmp_path):
    run = ClientProcess(tmp_path / "nobody", {"TURBO_WHISPER_SERVER_URL": "http://127.0.0.1:9"})
    run.env.pop("DBUS_SESSION_BUS_ADDRESS", None)  # no way to a real systemd user manager
    for command in ("history", "--help", "last --print", "autostart install",
                    "autostart remove"):
        result = piped(run, command, "true")
        assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr, command


def test_autostart_install_and_remove_into_head_end_without_a_traceback(tmp_path):
    # Unbuffered, each line is written when printed, so head has gone before the second
    # one; buffered, the whole output is one write that head reads.
    run = ClientProcess(tmp_path / "user", {"TURBO_WHISPER_SERVER_URL": "http://127.0.0.1:9",
                                            "PYTHONUNBUFFERED": "1"})
    run.env.pop("DBUS_SESSION_BUS_ADDRESS", None)  # no way to a real systemd user manager
    autostart = run.home / "config" / "autostart" / "turbo-whisper.desktop"
    for command, first_line, installed in (("autostart install", "Wrote ", True),
                                           ("autostart remove", "Removed ", False)):
        result = piped(run, command, "head -1")
        assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr, \
            result.stderr
        assert result.stdout.startswith(first_line) and result.stdout.count("\n") == 1, \
            result.stdout
        assert autostart.exists() is installed, command
    assert not (run.home / "config" / "systemd" / "user" / "turbo-whisper.service").exists()


def test_stop_and_cancel_when_idle_say_there_is_nothing_to_stop(warm_server, client):
    run = client(warm_server.url).start()
    for name in ("stop", "cancel"):
        result = run.command(name)
        assert result.returncode == 3, result
        assert "Nothing to stop" in result.stderr


def test_status_while_recording_says_recording_once(warm_server, client):
    run = client(warm_server.url).start()
    run.wait_log("Ready:", timeout=60)
    assert run.command("start").returncode == 0
    shown = run.command("status").stdout
    assert shown.count("ecording") == 1, shown
    assert run.command("cancel").returncode == 0


def test_ctrl_c_to_the_clients_process_group_leaves_the_clipboard_to_the_user(
        xvfb, pulse, speech, warm_server, client):
    """As in a terminal: `turbo-whisper run` in the foreground, then Ctrl+C (SIGINT to the
    whole process group)."""
    from support.desktop import dictate_with_commands

    run = client(warm_server.url)
    with open(run.log_path, "ab") as log:
        run.process = subprocess.Popen([sys.executable, "-m", "turbo_whisper", "run"],
                                       env=run.env, stdin=subprocess.DEVNULL, stdout=log,
                                       stderr=subprocess.STDOUT, process_group=0)
    run.wait_log("Ready:", timeout=60)
    dictate_with_commands(run, pulse, speech("good morning everyone"))
    run.wait_log("Copied", timeout=60)
    os.killpg(run.process.pid, signal.SIGINT)
    assert run.process.wait(15) == 0
    read = subprocess.run(["xclip", "-o", "-selection", "clipboard"], capture_output=True,
                          env={**os.environ, "DISPLAY": xvfb}, timeout=10, check=False)
    assert b"morning" in read.stdout.lower()
