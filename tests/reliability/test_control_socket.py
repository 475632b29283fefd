"""The control socket under pressure: silent and trickling peers, a full backlog, a frozen
client, answers that are not commands, and a disk so slow that a command takes seconds.

Every command either happens and says so, or is withdrawn and never happens later."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
from reliability_kit import wait_for

pytestmark = pytest.mark.integration

NOWHERE = "http://127.0.0.1:9"
TRIED_TO_RECORD = "ERROR: Cannot use"  # what the headless client (no sound server) says at `start`


def socket_of(run) -> str:
    return str(run.home / "runtime" / "turbo-whisper" / "control.sock")


def connect(run) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(30)
    sock.connect(socket_of(run))
    return sock


def ask(run, payload: bytes) -> dict:
    with connect(run) as sock:
        sock.sendall(payload)
        return json.loads(sock.makefile("rb").readline())


def test_silent_peers_do_not_hold_up_a_command(headless_client, tmp_path):
    run = headless_client(tmp_path / "home", NOWHERE).start()
    silent = [connect(run) for _ in range(20)]  # connected, never say anything
    try:
        for command in ("status", "cancel", "status"):
            result = run.command(command)
            if command == "cancel":  # answered by the client: there is nothing to cancel
                assert result.returncode == 3 and "Nothing to stop" in result.stderr, result
            else:
                assert result.returncode == 0, result
    finally:
        for sock in silent:
            sock.close()


def test_a_peer_that_trickles_its_command_is_cut_off_and_nothing_happens(headless_client,
                                                                         tmp_path):
    run = headless_client(tmp_path / "home", NOWHERE).start()
    command = b'{"cmd": "start"}\n'
    with connect(run) as sock:
        closed = False
        for byte in command:  # one byte every half second: each read is quick, the whole is not
            try:
                sock.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            time.sleep(0.5)
        answer = sock.makefile("rb").readline() if not closed else b""
    assert closed or b"not sent in time" in answer, answer
    time.sleep(1)
    assert TRIED_TO_RECORD not in run.log() and run.status()["state"] == "idle"


@pytest.mark.parametrize("payload", [b"[1, 2]\n", b'"toggle"\n', b"null\n", b"42\n",
                                     b"[" * 100_000 + b"]" * 100_000 + b"\n"],
                         ids=["a list", "a string", "null", "a number", "nested 100 000 deep"])
def test_json_that_is_not_a_command_is_a_bad_request_not_a_traceback(headless_client, tmp_path,
                                                                     payload):
    run = headless_client(tmp_path / "home", NOWHERE).start()
    answer = ask(run, payload)
    assert answer["ok"] is False and "bad request" in answer["error"], answer
    assert "Traceback" not in run.log() and "failed" not in run.log().lower()
    assert run.command("status").returncode == 0


def fill_backlog(path: str) -> list[socket.socket]:
    """Connect until the kernel refuses more: the listening socket's backlog is full."""
    held: list[socket.socket] = []
    for _ in range(10_000):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            sock.connect(path)
        except (BlockingIOError, InterruptedError):
            sock.close()
            return held
        held.append(sock)
    raise AssertionError("the backlog never filled")


def freeze(pid: int) -> None:
    """SIGSTOP, then wait until every thread has really stopped (kill returns before)."""
    os.kill(pid, signal.SIGSTOP)

    def stopped() -> bool:
        states = []
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                states.append((task / "stat").read_text().rsplit(")", 1)[1].split()[0])
        return bool(states) and all(state in ("T", "t") for state in states)

    wait_for(stopped, 10, f"process {pid} to stop")


def test_a_full_backlog_is_one_line_and_nothing_happens_later(headless_client, tmp_path):
    run = headless_client(tmp_path / "home", NOWHERE).start()
    freeze(run.process.pid)  # a client that hangs, e.g. swapped out
    try:
        held = fill_backlog(socket_of(run))
        result = run.command("toggle")
    finally:
        os.kill(run.process.pid, signal.SIGCONT)
    for sock in held:
        sock.close()
    assert result.returncode != 0 and "Traceback" not in result.stderr, result
    lines = [line for line in result.stderr.splitlines() if line.startswith("turbo-whisper:")]
    assert len(lines) == 1 and "nothing was sent" in lines[0], result.stderr
    assert run.command("status").returncode == 0
    assert TRIED_TO_RECORD not in run.log()


def test_a_command_to_a_frozen_client_is_withdrawn_not_done_later(headless_client, tmp_path):
    run = headless_client(tmp_path / "home", NOWHERE).start()
    freeze(run.process.pid)
    try:
        result = run.command("start")
    finally:
        os.kill(run.process.pid, signal.SIGCONT)
    assert result.returncode != 0 and "Traceback" not in result.stderr, result
    assert "did not happen" in result.stderr, result.stderr
    wait_for(lambda: run.command("status").returncode == 0, 30, "the client to answer again")
    time.sleep(1)
    assert TRIED_TO_RECORD not in run.log(), run.log()


# --------------------------------------------------------------------------- a slow disk


def slow_fsync(pid: int, seconds: float) -> subprocess.Popen:
    """strace every thread of the client, delaying each fsync: a disk that takes its time."""
    if shutil.which("strace") is None:
        pytest.skip("strace is needed to slow the disk down")
    micros = int(seconds * 1_000_000)
    tracer = subprocess.Popen(
        ["strace", "-f", "-qq", "-o", "/dev/null", "-p", str(pid),
         "-e", f"inject=fsync,fdatasync:delay_enter={micros}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(1.0)  # strace attaches to each thread
    if tracer.poll() is not None:
        _, said = tracer.communicate()
        pytest.skip(f"strace cannot attach here: {said.decode().strip()}")
    return tracer


def test_stop_on_a_slow_disk_happens_and_says_so_and_a_toggle_meanwhile_is_never_late(
        xvfb, pulse, speech, servers, client):
    from reliability_kit import start_recording

    server = servers()
    run = client(server.url).start()
    run.wait_log("Ready:", timeout=30)
    start_recording(run)
    pulse.play(speech("open the window please"))
    tracer = slow_fsync(run.process.pid, 7.0)
    try:
        results: dict[str, subprocess.CompletedProcess] = {}
        stopper = threading.Thread(target=lambda: results.update(stop=run.command("stop")))
        stopper.start()
        time.sleep(0.5)  # the stop is being written to the slow disk now
        results["toggle"] = run.command("toggle")
        stopper.join(timeout=120)
    finally:
        tracer.terminate()
        tracer.wait(timeout=10)
    stop, toggle = results["stop"], results["toggle"]
    assert stop.returncode == 0, stop  # it happened (after the slow write) and says so
    assert "did not answer in time" not in stop.stderr
    if toggle.returncode != 0:  # withdrawn: then it must never happen later
        assert "will not happen" in toggle.stderr or "did not happen" in toggle.stderr, toggle
        time.sleep(3)
        assert run.status()["state"] == "idle", run.log()
    else:
        assert "Recording" in toggle.stdout, toggle
        assert run.status()["state"] == "recording"
        run.command("cancel")
    assert run.terminate() == 0
