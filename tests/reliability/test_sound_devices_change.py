"""Sound devices that change while the client runs are used at the next dictation, without a
restart: PortAudio reads its device list once, so the client reads it again when the sound
cards, the sound server or ALSA's configuration change."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
from support.client import Clients, clipboard_with
from support.services import PulseAudio

pytestmark = pytest.mark.integration

# A capture device ALSA lists without any sound server, as it lists a laptop's own sound card:
# before the sound server is up, it is the only input device and so the default one.
CARD_WITHOUT_SERVER = "pcm.builtin {\n    type null\n}\n"


def test_a_sound_server_that_comes_up_later_replaces_the_card_chosen_without_it(
        xvfb, speech, servers, tmp_path):
    server = servers()
    late = PulseAudio(tmp_path / "late-pulse")  # its address is known before it runs
    clients = Clients(tmp_path, {"DISPLAY": xvfb, **late.env})
    try:
        run = clients(server.url)
        (run.home / ".asoundrc").write_text(CARD_WITHOUT_SERVER)
        run.start()
        run.wait_log("Ready:", timeout=30)
        late.start()  # the login race: the sound server comes up after the client
        try:
            started = run.command("start")
            assert started.returncode == 0 and "Recording" in started.stdout, (started, run.log())
            late.play(speech("open the window please"))
            time.sleep(0.3)
            assert run.command("stop").returncode == 0
            # Opening the card chosen before would have worked too, and recorded nothing.
            assert "window" in clipboard_with(xvfb, "window", run).lower()
            assert "sound devices changed" in run.log()
        finally:
            late.stop()
        assert run.terminate() == 0
    finally:
        clients.stop_all()


def test_a_microphone_that_becomes_the_default_is_recorded_at_the_next_dictation(
        xvfb, pulse, speech, warm_server, client):
    run = client(warm_server.url).start()
    run.wait_log("Ready:", timeout=60)
    assert run.command("toggle").returncode == 0
    pulse.play(speech("good morning everyone"))
    time.sleep(0.3)
    assert run.command("toggle").returncode == 0
    assert "morning" in clipboard_with(xvfb, "morning", run).lower()

    # A USB microphone plugged in: a new source, which the sound server makes the default.
    modules = [pulse.pactl("load-module", "module-null-sink", "sink_name=usb", "rate=16000",
                           "channels=1").strip()]
    try:
        modules.append(pulse.pactl("load-module", "module-remap-source", "master=usb.monitor",
                                   "source_name=usbmic").strip())
        pulse.pactl("set-default-source", "usbmic")
        assert run.command("toggle").returncode == 0
        player = pulse.play_async(speech("open the window please"))  # heard by vmic only
        try:
            _play_to(pulse, "usb", speech("thank you for your patience"))
        finally:
            player.wait(30)
        time.sleep(0.3)
        assert run.command("toggle").returncode == 0
        text = clipboard_with(xvfb, "patience", run).lower()
        assert "window" not in text, text  # the new default, not the microphone before it
    finally:
        pulse.pactl("set-default-source", pulse.MIC)
        for module in reversed(modules):
            pulse.pactl("unload-module", module)
    assert "Traceback" not in run.log()


def _play_to(pulse: PulseAudio, sink: str, wav: Path) -> None:
    subprocess.run(["paplay", "-d", sink, str(wav)], env=pulse.child_env(), check=True,
                   timeout=60)
