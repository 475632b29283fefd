"""What Dictation tells the desktop: "ready" only after a wait the user heard about."""

from __future__ import annotations

from test_app import ListOutput, ListRecorder, ScriptedEngine, dictate, speech, wait_for

from turbo_whisper.app import Dictation
from turbo_whisper.config import Settings
from turbo_whisper.feedback import Feedback
from turbo_whisper.spool import Spool
from turbo_whisper.status import EngineStatus, Phase


class Notes(Feedback):
    def __init__(self):
        super().__init__(notifications=False, sounds=False)
        self.shown = []

    def notify(self, level, message):
        self.shown.append(message)


class ReportingEngine(ScriptedEngine):
    """Says "starting" until it is ready, as a server that comes up does."""

    def wait_until_ready(self, on_status=None, deadline=None):
        on_status(EngineStatus(Phase.STARTING, "The server is starting."))
        super().wait_until_ready()
        on_status(EngineStatus(Phase.READY, "Ready: test server."))


def run(tmp_path, engine, recorder):
    notes = Notes()
    app = Dictation(Settings(), recorder, engine, Spool(tmp_path / "spool"), ListOutput(),
                    notes)
    app.start()
    return app, notes


def test_a_start_with_nothing_waiting_notifies_neither_starting_nor_ready(tmp_path):
    engine = ReportingEngine(ready_after=0.2)
    app, notes = run(tmp_path, engine, ListRecorder())
    wait_for(lambda: engine.ready)
    app.shutdown()
    assert notes.shown == []


def test_a_dictation_that_waits_hears_of_the_server_and_of_its_readiness(tmp_path):
    engine = ReportingEngine(ready_after=0.0)
    engine.ready_at = float("inf")
    app, notes = run(tmp_path, engine, ListRecorder(speech(marker=7)))
    dictate(app)
    wait_for(lambda: any("transcribed once the server is ready" in n for n in notes.shown))
    engine.ready_at = 0.0
    wait_for(lambda: any(n.startswith("Copied") for n in notes.shown))
    app.shutdown()
    assert any(n.startswith("Ready") for n in notes.shown)
