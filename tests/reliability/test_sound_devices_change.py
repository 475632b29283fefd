"""Sound devices that change while the client runs are used at the next dictation, without a
restart: PortAudio reads its device list once, so the client reads it again when the sound
cards, the sound server or ALSA's configuration change. The first case is a login race:
autostart runs the client before the sound server is up."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from support.client import Clients, clipboard_with
from support.services import PulseAudio

pytestmark = pytest.mark.integration

# A capture device ALSA lists without any sound server, as it lists a laptop's own sound card:
# before the sound server is up, it is the only input device and so the default one.
CARD_WITHOUT_SERVER = "pcm.builtin {\n    type null\n}\n"


class LateSound:
    """The login race: a client started before its PulseAudio, which comes up when told."""

    def __init__(self, pulse: PulseAudio, clients: Clients):
        self.pulse, self.clients = pulse, clients

    def client(self, server_url: str, asoundrc: str | None = None):
        run = self.clients(server_url)
        if asoundrc is not None:
            (run.home / ".asoundrc").write_text(asoundrc)
        run.start()
        run.wait_log("Ready:", timeout=30)
        return run

    def dictate(self, run, xvfb: str, wav: Path, word: str) -> str:
        """One dictation with `start` and `stop` once the sound server is up; its text."""
        started = run.command("start")
        assert started.returncode == 0 and "Recording" in started.stdout, (started, run.log())
        self.pulse.play(wav)
        time.sleep(0.3)
        assert run.command("stop").returncode == 0
        return clipboard_with(xvfb, word, run).lower()


@pytest.fixture
def late_sound(xvfb, tmp_path):
    late = PulseAudio(tmp_path / "late-pulse")  # its address is known before it runs
    clients = Clients(tmp_path, {"DISPLAY": xvfb, **late.env})
    try:
        yield LateSound(late, clients)
    finally:
        late.stop()
        clients.stop_all()


def test_a_sound_server_that_comes_up_after_the_client_is_found_at_the_next_start(
        xvfb, speech, servers, late_sound):
    run = late_sound.client(servers().url)
    before = run.command("start")
    assert "Recording" not in before.stdout, before  # no sound server yet: no microphone
    late_sound.pulse.start()
    assert "window" in late_sound.dictate(run, xvfb, speech("open the window please"), "window")
    assert run.terminate() == 0


def test_a_sound_server_that_comes_up_later_replaces_the_card_chosen_without_it(
        xvfb, speech, servers, late_sound):
    run = late_sound.client(servers().url, asoundrc=CARD_WITHOUT_SERVER)
    late_sound.pulse.start()
    # Opening the card chosen before would have worked too, and recorded nothing.
    assert "window" in late_sound.dictate(run, xvfb, speech("open the window please"), "window")
    assert "sound devices changed" in run.log()
    assert run.terminate() == 0


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
            pulse.play(speech("thank you for your patience"), sink="usb")
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
