"""The embedded engine: faster-whisper in this process, with the real tiny.en model."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from support.requirements import require_modules

from turbo_whisper.config import Settings
from turbo_whisper.errors import ServerError, ServerNotReady
from turbo_whisper.local_engine import LocalEngine
from turbo_whisper.status import Phase


@pytest.fixture(scope="module")
def engine(model_dir: Path):
    require_modules("faster_whisper", purpose="the embedded engine")
    local = LocalEngine(Settings(engine="local", local_model=str(model_dir), language="en"))
    yield local
    local.close()


def test_loads_then_transcribes_spoken_words(engine, speech):
    said = []
    engine.wait_until_ready(said.append)
    assert [s.phase for s in said] == [Phase.LOADING, Phase.READY]
    assert all(s.server_kind == "local" for s in said)
    assert engine.ready and engine.status.phase is Phase.READY
    wav = speech("open the window please").read_bytes()
    transcript = engine.transcribe(wav, duration_s=2.0)
    assert "window" in transcript.lower()
    assert transcript == transcript.strip()


def test_a_second_wait_is_instant_and_silent(engine):
    engine.wait_until_ready()
    said = []
    engine.wait_until_ready(said.append)
    assert said == []


def test_audio_that_is_not_audio_is_a_clear_error(engine):
    engine.wait_until_ready()
    with pytest.raises(ServerError) as caught:
        engine.transcribe(b"RIFF-not-really-a-wave-file", duration_s=1.0)
    assert "could not transcribe" in str(caught.value)
    assert caught.value.retryable is False


def test_missing_faster_whisper_names_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "faster_whisper", None)
    local = LocalEngine(Settings(engine="local", local_model=str(tmp_path)))
    with pytest.raises(ServerError) as caught:
        local.wait_until_ready()
    assert "pip install 'turbo-whisper[local]'" in str(caught.value)
    assert caught.value.retryable is False


def test_a_model_that_cannot_load_says_which(tmp_path):
    require_modules("faster_whisper", purpose="the embedded engine")
    broken = tmp_path / "not-a-model"
    broken.mkdir()
    said = []
    with pytest.raises(ServerError) as caught:
        LocalEngine(Settings(engine="local", local_model=str(broken))).wait_until_ready(
            said.append)
    assert str(broken) in str(caught.value)
    assert said[-1].phase is Phase.FAILED


def test_a_passed_deadline_is_not_ready(model_dir):
    local = LocalEngine(Settings(engine="local", local_model=str(model_dir)))
    with pytest.raises(ServerNotReady):
        local.wait_until_ready(deadline=0.0)
