"""The client against a real server that is not ours: PyPI faster-whisper-server 0.0.3.

Installed by a fixture into a venv of its own and run with the tiny.en model directory, as a
user would (`faster-whisper-server MODEL_DIR`). It answers /health as whisper.cpp does and
names its model field `model_name`, so only detection by the routes finds it. Each
capability runs warm (the server up first) and cold (the client first).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.client import clipboard_with, dictate
from support.services import free_port

pytestmark = pytest.mark.integration

PHRASE = "open the window please"


def transcribe_command(wav: Path, url: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "turbo_whisper", "transcribe", str(wav), "--server-url", url],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ})


def test_transcribe_finds_the_server_by_its_routes(pypi_server, speech):
    server = pypi_server()
    out, err = transcribe_command(speech(PHRASE), server.url).communicate(timeout=180)
    assert "window" in out.lower(), err
    assert "Ready: OpenAI-compatible server" in err
    assert "Traceback" not in err


def test_transcribe_started_before_the_server_waits_for_it(pypi_server, speech):
    port = free_port()
    command = transcribe_command(speech(PHRASE), f"http://127.0.0.1:{port}")
    time.sleep(1.0)
    assert command.poll() is None  # waiting, not failed
    pypi_server(port=port)
    out, err = command.communicate(timeout=180)
    assert command.returncode == 0, err
    assert "window" in out.lower()
    assert "is starting (not answering yet)" in err and "Ready:" in err


def test_transcribe_gives_up_on_a_url_where_nothing_answers(speech):
    url = f"http://127.0.0.1:{free_port()}"
    command = subprocess.run(
        [sys.executable, "-m", "turbo_whisper", "transcribe", str(speech(PHRASE)),
         "--server-url", url, "--connect-timeout", "1"],
        capture_output=True, text=True, timeout=60, check=False)
    assert command.returncode == 1 and command.stdout == ""
    assert f"Nothing answers at {url}: start the server (`turbo-whisper server up`) or check " \
           "`server_url`." in command.stderr
    assert "kept" not in command.stderr  # nothing is: the file is the user's own


def test_hotkey_dictation_with_the_server_up(xvfb, pulse, speech, pypi_server, client):
    server = pypi_server()
    run = client(server.url).start()
    run.wait_log("Ready: OpenAI-compatible server", timeout=120)
    dictate(xvfb, pulse, speech(PHRASE), run)
    text = clipboard_with(xvfb, "window", run, timeout=90)
    assert "open" in text.lower()
    run.wait(lambda: not list(run.spool.glob("*.wav")), 10, "the spool to empty")
    assert " ERROR" not in run.log()


def test_hotkey_dictation_before_the_server_is_up(xvfb, pulse, speech, pypi_server, client):
    port = free_port()
    run = client(f"http://127.0.0.1:{port}").start()
    dictate(xvfb, pulse, speech("good morning everyone"), run)
    run.wait(lambda: len(list(run.spool.glob("*.wav"))) == 1, 5, "the recording in the spool")
    assert run.status()["pending"] == 1
    pypi_server(port=port)
    text = clipboard_with(xvfb, "morning", run, timeout=120)
    assert "good" in text.lower()
    run.wait(lambda: not list(run.spool.glob("*.wav")), 10, "the spool to empty")
    log = run.log()
    assert "is starting" in log and "Ready: OpenAI-compatible server" in log
    assert " ERROR" not in log


def test_doctor_shows_the_evidence_the_decision_and_a_clip_through_the_route(pypi_server):
    server = pypi_server()
    result = subprocess.run(
        [sys.executable, "-m", "turbo_whisper", "doctor", "--server-url", server.url],
        capture_output=True, text=True, timeout=120, check=False, env={**os.environ})
    rows = {line.split()[0] + (" " + line.split()[1] if line.startswith("server ") else ""): line
            for line in result.stdout.splitlines() if line.strip()}
    api = rows["server API"]
    assert "OpenAI-compatible server through POST /v1/audio/transcriptions" in api
    assert "model field 'model_name'" in api
    assert 'GET /health: 200 ({"status":"ok"})' in api and "POST /inference (empty): 404" in api
    route = rows["server route"]
    assert " ok " in route and "silent clip through POST /v1/audio/transcriptions" in route
