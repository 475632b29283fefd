"""Which dialect the evidence shows, for the answers real servers gave (shared/SERVERS.md)."""

from __future__ import annotations

import json

import pytest

from turbo_whisper.advice import Fate, failure_words
from turbo_whisper.errors import Reason, ServerError
from turbo_whisper.server import answers
from turbo_whisper.server.detection import Evidence, decide

PYPI_FORM = frozenset({"file", "model_name", "language", "prompt", "response_format",
                       "temperature"})
OPENAI_FORM = frozenset({"file", "model", "language", "prompt", "response_format",
                         "temperature"})

# name: (evidence as measured, dialect, route, model field, /api/ps)
REAL_SERVERS = {
    "PyPI faster-whisper-server 0.0.3": (
        Evidence(200, '{"status":"ok"}', "uvicorn", 422, frozenset({"file"}), 404, 404, 404,
                 None, PYPI_FORM),
        "openai", "/v1/audio/transcriptions", "model_name", False),
    "fedirz faster-whisper-server v0.5.0 offline": (
        Evidence(200, "OK", "uvicorn", 422, frozenset({"file"}), 404, 200, 500, None,
                 OPENAI_FORM),
        "fedirz", "/v1/audio/transcriptions", "model", True),
    "speaches v0.8.3, model installed": (
        Evidence(200, "OK", "uvicorn", 422, frozenset({"file", "model"}), 404, 200, 200,
                 ("Systran/faster-whisper-tiny.en",), OPENAI_FORM),
        "speaches", "/v1/audio/transcriptions", "model", True),
    "speaches v0.8.3, model not installed": (
        Evidence(200, "OK", "uvicorn", 422, frozenset({"file", "model"}), 404, 200, 404, (),
                 OPENAI_FORM),
        "speaches", "/v1/audio/transcriptions", "model", True),
    "speaches v0.9.0-rc.3": (
        Evidence(200, '{"message":"OK"}', "uvicorn", 422, frozenset({"file", "model"}), 404,
                 200, 200, ("Systran/faster-whisper-tiny.en",), OPENAI_FORM),
        "speaches", "/v1/audio/transcriptions", "model", True),
    "speaches without /api/ps": (
        Evidence(200, '{"message":"OK"}', "uvicorn", 422, frozenset({"file", "model"}), 404,
                 404, 200, ("Systran/faster-whisper-tiny.en",), OPENAI_FORM),
        "speaches", "/v1/audio/transcriptions", "model", False),
    "whisper.cpp v1.9.3 whisper-server": (
        Evidence(200, '{"status":"ok"}', "whisper.cpp", 404, frozenset(), 400),
        "whispercpp", "/inference", None, False),
    "whisper.cpp with --inference-path /v1/audio/transcriptions": (
        Evidence(200, '{"status":"ok"}', "whisper.cpp", 400, frozenset(), 404),
        "whispercpp", "/v1/audio/transcriptions", None, False),
    "an OpenAI-compatible server without /health or OpenAPI": (
        Evidence(404, '{"error":{"message":"Invalid URL"}}', "", 400, frozenset(), 404, 404, 404,
                 ("whisper-1",)),
        "openai", "/v1/audio/transcriptions", "model", False),
}


@pytest.mark.parametrize("evidence, dialect, route, field, has_ps", REAL_SERVERS.values(),
                         ids=list(REAL_SERVERS))
def test_the_evidence_of_each_real_server_picks_its_dialect(evidence, dialect, route, field,
                                                            has_ps):
    decision = decide(evidence)
    assert (decision.dialect, decision.route, decision.model_field, decision.has_api_ps) == (
        dialect, route, field, has_ps)
    assert decision.why


def test_a_health_answer_alone_decides_nothing():
    # whisper.cpp and the PyPI server answer /health alike; only the routes tell them apart.
    same_health = dict(health_status=200, health_body='{"status":"ok"}')
    assert decide(Evidence(**same_health, openai_route=422, inference_route=404)).dialect == "openai"
    assert decide(Evidence(**same_health, openai_route=404, inference_route=400)).dialect == \
        "whispercpp"


def test_no_transcription_route_is_no_dialect_and_says_what_was_seen():
    decision = decide(Evidence(200, "OK", "nginx", 404, frozenset(), 405))
    assert decision.dialect is None
    assert "404" in decision.why and "405" in decision.why


@pytest.mark.parametrize("forced, dialect, route", [
    ("openai", "openai", "/v1/audio/transcriptions"),
    ("whispercpp", "whispercpp", "/inference"),
])
def test_server_api_forces_the_dialect_whatever_the_evidence(forced, dialect, route):
    evidence = REAL_SERVERS["speaches v0.8.3, model installed"][0]
    decision = decide(evidence, forced)
    assert (decision.dialect, decision.route) == (dialect, route)
    assert "server_api" in decision.why


def test_the_evidence_reads_as_lines_for_doctor():
    lines = REAL_SERVERS["PyPI faster-whisper-server 0.0.3"][0].lines()
    assert 'GET /health: 200 ({"status":"ok"})' in lines
    assert "POST /v1/audio/transcriptions (empty): 422 (missing file)" in lines
    assert "POST /inference (empty): 404" in lines


# --- reading the probes' answers ---------------------------------------------------------

def test_missing_fields_of_a_fastapi_422():
    body = json.dumps({"detail": [
        {"type": "missing", "loc": ["body", "file"], "msg": "Field required", "input": None},
        {"type": "missing", "loc": ["body", "model"], "msg": "Field required", "input": None},
    ]}).encode()
    assert answers.missing_fields(body) == {"file", "model"}
    assert answers.missing_fields(b"Invalid request") == frozenset()


def test_form_fields_from_an_openapi_document():
    document = {"paths": {"/v1/audio/transcriptions": {"post": {"requestBody": {"content": {
        "multipart/form-data": {"schema": {"$ref": "#/components/schemas/Body"}}}}}}},
        "components": {"schemas": {"Body": {"properties": {"file": {}, "model_name": {}}}}}}
    assert answers.form_fields(json.dumps(document).encode(), "/v1/audio/transcriptions") == {
        "file", "model_name"}
    assert answers.form_fields(b"{}", "/v1/audio/transcriptions") is None


def test_model_ids_of_the_listings_servers_give():
    assert answers.model_ids(b'{"data":[{"id":"Systran/faster-whisper-tiny.en"}]}') == (
        "Systran/faster-whisper-tiny.en",)
    assert answers.model_ids(b'{"models":["a","b"]}') == ("a", "b")
    assert answers.model_ids(b'{"detail":"Not Found"}') is None


# --- the user's words --------------------------------------------------------------------

def test_a_file_transcription_never_claims_a_kept_recording():
    error = ServerError("The server took longer than 60 s to transcribe 2 s of audio.",
                        reason=Reason.TIMEOUT)
    words = failure_words(error, Fate.NOT_KEPT)
    assert "kept" not in words and "retry" not in words
    assert "request_timeout" in words and "took longer than 60 s" in words


@pytest.mark.parametrize("fate, promise", [
    (Fate.SENT_AGAIN, "will be sent again"),
    (Fate.HELD, "`turbo-whisper retry`"),
    (Fate.WAITING, "once it is ready"),
])
def test_a_kept_recording_is_promised_only_by_the_app(fate, promise):
    error = answers.failure(500, "CUDA out of memory")
    assert "kept" not in str(error)  # the server's side states the fact only
    words = failure_words(error, fate)
    assert "CUDA out of memory" in words and "kept" in words and promise in words
