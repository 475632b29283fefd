"""Hostile text from the server: an API key echoed back in another encoding, and control
characters in a transcript or an error body. The stand-in server's fault modes are
switched while the real client runs."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from urllib.parse import quote

import pytest
from reliability_kit import dictate
from support.client import clipboard_with
from test_security import transcribe_with

pytestmark = pytest.mark.integration

# base64-like, as most generated keys are: its `/` comes back JSON-escaped as `\/`.
KEY = "tw/Secret+Key/7f3a9c2e51d84b06=="
RAW_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def forms_of(key: str) -> dict[str, str]:
    return {"raw": key, "JSON-escaped": key.replace("/", "\\/"),
            "URL-encoded": quote(key, safe=""), "its middle": key[7:-4]}


def leaks(places: dict[str, str]) -> list[str]:
    return [f"{form} in {place}" for place, text in places.items()
            for form, shown in forms_of(KEY).items() if shown in text]


def test_an_api_key_the_server_echoes_escaped_never_shows(servers, headless_client, tmp_path,
                                                         speech):
    server = servers(api_key=KEY)
    server.fault("echo-auth", 100_000)  # every answer from now on echoes the header
    run = headless_client(tmp_path / "home", server.url, TURBO_WHISPER_API_KEY=KEY,
                          TURBO_WHISPER_LOG_LEVEL="debug").start()
    run.wait_log("Invalid credentials", timeout=30)
    status, status_json = run.command("status"), run.command("status", "--json")
    transcribe = transcribe_with(tmp_path / "other", speech("good morning everyone"),
                                 server.url, "--ready-timeout", "3",
                                 TURBO_WHISPER_API_KEY=KEY)
    doctor = run.command("doctor")
    places = {"client log": run.log(), "status": status.stdout + status.stderr,
              "status --json": status_json.stdout + status_json.stderr,
              "transcribe": transcribe.stdout + transcribe.stderr,
              "doctor": doctor.stdout + doctor.stderr}
    assert "Invalid credentials" in places["client log"]  # the server's words are shown...
    assert "Invalid credentials" in places["transcribe"] + places["doctor"]
    assert leaks(places) == []  # ...without the key in any of its forms
    json.loads(status_json.stdout)  # still JSON
    assert run.terminate() == 0


def has_controls(text: str) -> bool:
    return bool(RAW_CONTROLS.search(text))


def test_control_characters_in_a_transcript_never_reach_the_clipboard(xvfb, pulse, speech,
                                                                      servers, client,
                                                                      tmp_path):
    server = servers()
    run = client(server.url).start()
    run.wait_log("Ready:", timeout=30)
    server.fault("controls")
    dictate(run, pulse, speech("open the window please"))
    copied = clipboard_with(xvfb, "window", run)
    assert copied == "Open the window please.", repr(copied)
    # `transcribe` proves a loopback server ready with a silent clip first: both answers
    # carry the control characters.
    server.fault("controls", 2)
    printed = transcribe_with(tmp_path / "other", speech("open the window please"), server.url)
    assert printed.returncode == 0, printed
    assert printed.stdout == "Open the window please.\n", repr(printed.stdout)
    assert not has_controls(run.log()) and not has_controls(run.command("status").stdout)
    assert run.terminate() == 0


def keep_in_spool(home: Path, wav: Path) -> None:
    spool = home / "state" / "turbo-whisper" / "spool"
    spool.mkdir(parents=True, mode=0o700)
    shutil.copy(wav, spool / "00000000000000000001-1-0000.wav")
    (spool / "00000000000000000001-1-0000.wav").chmod(0o600)


def test_control_characters_in_an_error_body_are_shown_escaped(servers, headless_client,
                                                               tmp_path, speech):
    server = servers()
    server.fault("controls-error", 100_000)
    home = tmp_path / "home"
    keep_in_spool(home, speech("good morning everyone"))
    run = headless_client(home, server.url).start()
    run.wait_log("model crashed", timeout=60)
    status = run.command("status")
    status_json = run.command("status", "--json")
    for place, text in {"client log": run.log(), "status": status.stdout + status.stderr,
                        "status --json": status_json.stdout}.items():
        assert not has_controls(text), f"{place}: {text!r}"
    assert "model crashed\\x1b[2J" in run.log(), run.log()  # escaped, so it can be read
    assert run.terminate() == 0
