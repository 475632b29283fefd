"""A long run: 300 dictations through the control socket against the real server, with
faults on the way. Every one is delivered exactly once and in order; memory, threads and
open files stay flat.

The client runs in this process (the real Dictation, ServerClient, Spool and ControlServer)
with a recorder that hands out five spoken phrases in turn, so the n-th transcript must be
the transcript of phrase n mod 5: a lost, repeated or reordered dictation shows at once.
Commands go over the real Unix socket with `turbo_whisper.control.send`, the function the
`turbo-whisper start` and `stop` commands call.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
from reliability_kit import wait_for

pytestmark = pytest.mark.integration

DICTATIONS = 300
WARM_UP = 30
PHRASES = [
    "open the window please",
    "good morning everyone",
    "please send the report by friday",
    "open the door and turn on the light",
    "the kitchen light is on",
]
# Faults armed just before the dictation with this number; all of them pass on their own
# except "die", after which a new server is started on the same port.
FAULTS = {40: "status:503", 90: "reset", 140: "malformed", 190: "html", 230: "status:502",
          260: "die"}


def usage() -> dict[str, int]:
    """This process's resident memory (kB), threads and open file descriptors."""
    status = Path("/proc/self/status").read_text()
    rss = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
    return {"rss_kb": rss, "threads": threading.active_count(),
            "tasks": len(os.listdir("/proc/self/task")), "fds": len(os.listdir("/proc/self/fd"))}


@pytest.fixture
def controlled(dictation, monkeypatch, tmp_path):
    """Start the control socket for the in-process client, as `turbo-whisper run` does."""
    from turbo_whisper.control import ControlServer
    from turbo_whisper.daemon import handle_command

    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "runtime"))
    servers: list[ControlServer] = []

    def start() -> None:
        control = ControlServer(lambda command: handle_command(dictation.app, command))
        control.start()
        servers.append(control)

    yield start
    for control in servers:
        control.stop()


def test_three_hundred_dictations_with_faults(servers, speech, dictation, controlled):
    from turbo_whisper.control import send

    server = servers()
    dictation.start(server.url, [speech(phrase) for phrase in PHRASES])
    controlled()
    dictation.wait_log("Ready:", timeout=30)
    expected: list[str] = []
    before: dict[str, int] = {}
    for number in range(DICTATIONS):
        if number in FAULTS:
            server.fault(FAULTS[number])
        wait_for(lambda: dictation.app.snapshot()["pending"] <= 2, 60, "the queue to shorten",
                 dictation.log)
        assert send("start")["state"] == "recording"
        assert send("stop")["state"] == "idle"
        if FAULTS.get(number) == "die":
            wait_for(lambda dead=server: not dead.alive(), 30, "the server to exit")
            server = servers.on_port(server.port)
        if number == len(PHRASES) - 1:
            expected = dictation.wait_delivered(len(PHRASES))
            assert all(expected) and len(set(expected)) == len(PHRASES), expected
        if number == WARM_UP:
            dictation.wait_delivered(WARM_UP)
            before = usage()

    texts = dictation.wait_delivered(DICTATIONS, timeout=120)
    dictation.wait_spool_empty()
    time.sleep(0.5)
    texts = list(dictation.output.texts)
    after = usage()

    assert len(texts) == DICTATIONS and dictation.app.delivered == DICTATIONS
    wrong = [(n, text) for n, text in enumerate(texts) if text != expected[n % len(PHRASES)]]
    assert wrong == [], wrong[:5]
    warnings = dictation.log()
    for kind in ("HTTP 503", "closed mid-answer", "not a transcript", "HTTP 500", "HTTP 502"):
        assert kind in warnings, kind
    assert "Traceback" not in warnings and "Unexpected error" not in warnings

    print(f"after {WARM_UP} dictations: {before}; after {DICTATIONS}: {after}")
    growth = {name: after[name] - before[name] for name in after}
    assert growth["rss_kb"] < 40_000, (before, after)
    assert growth["threads"] <= 2 and growth["tasks"] <= 2, (before, after)
    assert growth["fds"] <= 6, (before, after)
