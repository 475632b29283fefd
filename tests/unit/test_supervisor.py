"""The supervisor with real child processes that crash, stop, or refuse to run."""

import logging
import signal
import sys
import threading
import time

from turbo_whisper.supervisor import (
    CRASH_LIMIT,
    EXIT_CRASH_LOOP,
    RunMarker,
    Supervisor,
    client_command,
)

SEGFAULT = ("import ctypes, faulthandler; faulthandler.enable(); "
            "print('opening the microphone', flush=True); ctypes.string_at(0)")


def child(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_a_client_that_crashes_in_a_loop_stops_being_restarted_and_says_so(caplog):
    caplog.set_level(logging.INFO, logger="turbo_whisper")
    told = []
    supervisor = Supervisor(child(SEGFAULT), notify=lambda *said: told.append(said),
                            backoff=0.001)
    assert supervisor.run() == EXIT_CRASH_LOOP
    log = caplog.text
    assert log.count("stopped unexpectedly (killed by SIGSEGV)") == CRASH_LIMIT
    assert "opening the microphone" in log and "Segmentation fault" in log  # last words
    assert log.count("Starting Turbo Whisper again") == CRASH_LIMIT - 1
    assert len(told) == 1 and told[0][0] == "error" and "not started again" in told[0][1]


def test_a_crash_is_followed_by_a_restart_after_a_back_off(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="turbo_whisper")
    runs = tmp_path / "runs"
    code = (f"import os, pathlib; p = pathlib.Path({str(runs)!r}); "
            "p.write_text(p.read_text() + 'x' if p.exists() else 'x'); "
            "os.abort() if len(p.read_text()) < 3 else None")
    started = time.monotonic()
    assert Supervisor(child(code), backoff=0.05).run() == 0
    assert runs.read_text() == "xxx"
    assert time.monotonic() - started >= 0.05 + 0.1  # 0.05 s, then twice that
    assert "again in 0.05 s" in caplog.text and "again in 0.1 s" in caplog.text
    assert caplog.text.count("killed by SIGABRT") == 2


def test_a_clean_stop_a_setting_to_fix_and_another_client_are_not_restarted(tmp_path):
    assert Supervisor(child("pass")).run() == 0
    assert Supervisor(child("raise SystemExit(2)")).run() == 2
    already = "print('turbo-whisper: Turbo Whisper is already running (process 7)'); exit(1)"
    assert Supervisor(child(already)).run() == 1


def stop_once_there(path, supervisor):
    """Stop the supervision once the child has made path: it is running and listening."""
    deadline = time.monotonic() + 30
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    supervisor.stop(signal.SIGTERM)


def test_a_stop_is_passed_to_the_client_and_ends_the_supervision(tmp_path):
    listening = tmp_path / "listening"
    code = ("import pathlib, signal, sys, time; "
            "signal.signal(signal.SIGTERM, lambda *a: sys.exit(0)); "
            f"pathlib.Path({str(listening)!r}).touch(); time.sleep(60)")
    supervisor = Supervisor(child(code))
    threading.Thread(target=stop_once_there, args=(listening, supervisor), daemon=True).start()
    started = time.monotonic()
    assert supervisor.run() == 0
    assert time.monotonic() - started < 30


def test_the_child_is_the_client_without_the_supervision():
    assert client_command(["--supervised", "--log-level", "debug"])[-4:] == [
        "turbo_whisper", "run", "--log-level", "debug"]


def test_the_run_marker_tells_a_crash_from_a_clean_stop(tmp_path):
    marker = RunMarker(tmp_path / "state" / "running")
    assert marker.begin() is False
    assert marker.path.stat().st_mode & 0o777 == 0o600  # readable by its owner only
    marker.end()
    assert marker.begin() is False  # the clean stop was noted
    assert RunMarker(marker.path).begin() is True  # no end: that run crashed
