"""A login race: autostart runs the client before the sound server is up. Once PulseAudio
comes up, the next `start` must find the microphone, without a restart."""

from __future__ import annotations

import time

import pytest
from support.client import Clients, clipboard_with
from support.services import PulseAudio

pytestmark = pytest.mark.integration


def test_a_sound_server_that_comes_up_after_the_client_is_found_at_the_next_start(
        xvfb, speech, servers, tmp_path):
    server = servers()
    late = PulseAudio(tmp_path / "late-pulse")  # its address is known before it runs
    clients = Clients(tmp_path, {"DISPLAY": xvfb, **late.env})
    try:
        run = clients(server.url).start()
        run.wait_log("Ready:", timeout=30)
        before = run.command("start")
        assert "Recording" not in before.stdout, before  # no sound server yet: no microphone
        late.start()
        try:
            started = run.command("start")
            assert started.returncode == 0 and "Recording" in started.stdout, (started, run.log())
            late.play(speech("open the window please"))
            time.sleep(0.3)
            assert run.command("stop").returncode == 0
            assert "window" in clipboard_with(xvfb, "window", run).lower()
        finally:
            late.stop()
        assert run.terminate() == 0
    finally:
        clients.stop_all()
