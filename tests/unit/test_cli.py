"""What the commands say, from the running client's answers taken as arguments."""

from __future__ import annotations

import time

import numpy as np
import pytest

from turbo_whisper import cli, control
from turbo_whisper.app import Dictation
from turbo_whisper.audio import Recording
from turbo_whisper.cli import retry_words
from turbo_whisper.config import Settings
from turbo_whisper.control import Request
from turbo_whisper.daemon import handle_command
from turbo_whisper.spool import Spool
from turbo_whisper.status import EngineStatus, Phase

READY = {"phase": "ready", "detail": "Ready: speaches at http://127.0.0.1:8000."}
STARTING = {"phase": "starting", "detail": "Server at http://127.0.0.1:8000 is starting."}


@pytest.mark.parametrize("answer, words, sending", [
    ({"pending": 0, "held": 0, "sending": True, "engine": READY},
     "No recordings are waiting.", True),
    ({"pending": 2, "held": 0, "sending": True, "engine": READY},
     "2 recording(s) queued to be sent now.", True),
    ({"pending": 1, "held": 0, "sending": True, "engine": STARTING, "work": "waiting for server",
      "work_detail": "Server at http://127.0.0.1:8000 is starting."},
     "1 recording(s) queued to be sent now. Waiting for the server: Server at "
     "http://127.0.0.1:8000 is starting.", True),
    ({"pending": 1, "held": 0, "sending": True, "engine": STARTING, "work": "idle"},
     "1 recording(s) queued to be sent now. The server: Server at http://127.0.0.1:8000 is "
     "starting.", True),
    ({"pending": 3, "held": 1, "sending": True, "engine": READY},
     "2 recording(s) queued to be sent now. 1 recording(s) were set aside again at once; "
     "`turbo-whisper status` says why.", True),
    ({"pending": 2, "held": 0, "sending": False, "engine": READY},
     "The client cannot send: its sending thread has stopped after an unexpected error (the "
     "log says which). 2 recording(s) are kept on disk; restart the client (`turbo-whisper "
     "quit`, then `turbo-whisper run`) to send them.", False),
    ({"pending": "2", "held": None, "engine": "odd"}, "No recordings are waiting.", True),
])
def test_retry_says_what_the_client_does_with_the_kept_recordings(answer, words, sending):
    assert retry_words({"ok": True, **answer}) == (words, sending)


class BrokenEngine:
    """A server client failing in a way nothing foresaw: the sending thread stops."""

    ready = False
    status = EngineStatus(Phase.STARTING, "starting")

    def wait_until_ready(self, on_status=None, deadline=None, give_up_after=None):
        raise RuntimeError("nothing foresaw this")

    def transcribe(self, audio, *, duration_s, filename="audio.wav"):
        raise RuntimeError("nothing foresaw this")

    def cancel(self):
        pass

    def close(self):
        pass


class OneRecording:
    recording = False

    def start(self):
        self.recording = True

    def stop(self):
        self.recording = False
        samples = (np.sin(np.arange(16000) / 5) * 8000).astype(np.int16)
        return Recording(samples, 16000, time.time())


class NoOutput:
    inserts = False  # a clipboard: each text replaces the one before

    def deliver(self, transcript):
        raise AssertionError("nothing can be delivered")


def command(app, name):
    return handle_command(app, Request({"cmd": name}, time.monotonic() + 5.0, lambda: None))


def test_retry_and_status_say_what_happens_when_the_server_client_fails_unforeseen(
        tmp_path, monkeypatch, capsys):
    app = Dictation(Settings(sounds=False), OneRecording(), BrokenEngine(),
                    Spool(tmp_path / "spool"), NoOutput())
    app.start()
    try:
        command(app, "start")
        command(app, "stop")
        words, sending = retry_words(command(app, "retry"))
        assert sending, words  # the sending thread outlives the error
        assert words.startswith("1 recording(s) queued to be sent now")
        assert len(app.spool.pending()) == 1
        monkeypatch.setattr(control, "send", lambda name, **_: command(app, name))
        assert cli.main(["retry"]) == 0
        assert "queued to be sent now" in capsys.readouterr().out
        assert cli.main(["status"]) == 0
        assert "cannot send" not in capsys.readouterr().out
        assert app.snapshot()["sending"]
    finally:
        app.shutdown(grace=1.0)
