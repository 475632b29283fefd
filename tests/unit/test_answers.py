"""Every answer a server can give is read without an exception other than ServerError.

The readers of answers.py take bodies as arguments; the client is driven through httpx's
MockTransport, with each route answering one shape from the table.
"""

from __future__ import annotations

import json
from dataclasses import replace

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from turbo_whisper.config import Settings
from turbo_whisper.errors import Reason, ServerError
from turbo_whisper.server import ServerClient
from turbo_whisper.server.answers import (
    NOT_JSON,
    form_fields,
    json_of,
    missing_fields,
    model_ids,
    read_at_most,
    read_error_body,
    transcript_of,
)
from turbo_whisper.status import Phase

DEEP = 100_000
SHAPES = {
    "null": b"null",
    "empty": b"",
    "list": b"[1, 2, 3]",
    "string": b'"just a string"',
    "number": b"42",
    "number as string": b'"42"',
    "models null": b'{"models": null}',
    "data null": b'{"data": null, "models": null}',
    "models of nulls": b'{"models": [null, 5, {"id": 5}, {"id": null}, [], "ok-model"]}',
    "data a string": b'{"data": "Systran/faster-whisper-tiny.en"}',
    "detail a number": b'{"detail": 422}',
    "detail of odd items": b'{"detail": [null, 5, {"loc": 5, "type": "missing"}, {"loc": []}]}',
    "paths a list": b'{"paths": [], "components": 5}',
    "ref a number": b'{"paths": {"/v1/audio/transcriptions": {"post": {"requestBody": {"content": '
                    b'{"multipart/form-data": {"schema": {"$ref": 5}}}}}}}}',
    "text null": b'{"text": null}',
    "text a number": b'{"text": 5}',
    "text a list": b'{"text": ["open", "the", "door"]}',
    "error a list": b'{"error": [{"message": null}, 7]}',
    "nested lists": b"[" * DEEP + b"]" * DEEP,
    "nested objects": b'{"a":' * DEEP + b"1" + b"}" * DEEP,
    "nested unclosed": b"[" * DEEP,
    "nested errors": b'{"error":' * 5000 + b'"deep"' + b"}" * 5000,
    "not UTF-8": b'\xff\xfe{"text": "\xc3\x28"}',
    "latin-1 text": '{"text": "caf\xe9"}'.encode("latin-1"),
    "integer of 5000 digits": b'{"text": ' + b"9" * 5000 + b"}",
    "float beyond range": b'{"models": [1e400], "text": 1e400}',
    "NaN": b'{"text": NaN}',
    "NUL bytes": b'{"text": "a\x00b"}\x00\x00',
    "lone surrogate": b'{"text": "\\ud800"}',
    "huge": b'{"text": "' + b"a" * (3 * 1024 * 1024) + b'"}',
}


@pytest.mark.parametrize("body", SHAPES.values(), ids=list(SHAPES))
def test_the_readers_of_answers_take_any_shape(body):
    json_of(body)
    assert isinstance(missing_fields(body), frozenset)
    assert form_fields(body, "/v1/audio/transcriptions") is None or isinstance(
        form_fields(body, "/v1/audio/transcriptions"), frozenset)
    ids = model_ids(body)
    assert ids is None or all(isinstance(i, str) and i for i in ids)
    message = read_error_body(body, "application/json")
    assert isinstance(message, str) and 0 < len(message) <= 300


def test_json_deeper_than_python_parses_is_not_json():
    assert json_of(b"[" * DEEP + b"]" * DEEP) is NOT_JSON
    assert json_of(b"\xff\xfe") is NOT_JSON
    assert json_of(b"null") is None  # a JSON null is a value, told apart from no JSON


def test_a_listing_with_odd_items_keeps_only_the_ids_that_are_names():
    assert model_ids(SHAPES["models of nulls"]) == ("ok-model",)
    assert model_ids(SHAPES["models null"]) is None
    assert model_ids(SHAPES["nested lists"]) is None


def answer(body: bytes, content_type: str = "application/json") -> httpx.Response:
    request = httpx.Request("POST", "http://127.0.0.1:9/v1/audio/transcriptions")
    return httpx.Response(200, headers={"content-type": content_type}, content=body,
                          request=request)


@pytest.mark.parametrize("body", SHAPES.values(), ids=list(SHAPES))
def test_a_transcription_answer_of_any_shape_is_text_or_a_bad_answer(body):
    for content_type in ("application/json", "text/plain", ""):
        try:
            text = transcript_of(answer(body, content_type))
        except ServerError as exc:
            assert exc.reason is Reason.BAD_ANSWER
            assert "\n" not in str(exc)
        else:
            assert isinstance(text, str)
            assert not any(0xD800 <= ord(c) <= 0xDFFF for c in text)


def test_a_declared_length_in_odd_digits_is_read_as_no_length():
    response = httpx.Response(200, headers={"content-length": "\xb2".encode("latin-1")}, content=b"{}")
    assert read_at_most(response, 100) == b"{}"


# --- the client, with every route of a server answering one shape --------------------------

def settings_for(**values) -> Settings:
    return replace(Settings(), **{"server_url": "http://127.0.0.1:9", "model": "m",
                                  "ready_timeout": 5.0, **values})


def server(routes: dict[str, tuple[int, bytes]], default: tuple[int, bytes] = (404, b"")):
    """A MockTransport answering each path (or "METHOD path") from `routes`."""
    def handle(request: httpx.Request) -> httpx.Response:
        key = f"{request.method} {request.url.path}"
        code, body = routes.get(key, routes.get(request.url.path, default))
        return httpx.Response(code, content=body, headers={"content-type": "application/json"})
    return httpx.MockTransport(handle)


def fedirz_answering(shape: bytes) -> dict[str, tuple[int, bytes]]:
    """A faster-whisper-server whose /api/ps (and model routes) answer `shape`."""
    return {"/health": (200, b"OK"), "POST /v1/audio/transcriptions": (422, b"{}"),
            "/api/ps": (200, shape), "/v1/models": (200, shape), "/v1/models/m": (200, shape),
            "/openapi.json": (200, shape), "POST /api/ps/m": (200, shape)}


def speaches_answering(shape: bytes) -> dict[str, tuple[int, bytes]]:
    missing = json.dumps({"detail": [{"type": "missing", "loc": ["body", "model"]}]}).encode()
    return {**fedirz_answering(shape), "/health": (200, shape),
            "POST /v1/audio/transcriptions": (422, missing), "/v1/models/m": (404, shape)}


@pytest.mark.parametrize("servers", [fedirz_answering, speaches_answering])
@pytest.mark.parametrize("shape", SHAPES.values(), ids=list(SHAPES))
def test_a_readiness_answer_of_any_shape_is_a_status_never_an_exception(shape, servers):
    client = ServerClient(settings_for(), transport=server(servers(shape)))
    try:
        status = client.check(prepare=True)
        assert status.phase in Phase and "\n" not in status.detail
        client.check(prepare=False)
    finally:
        client.close()


@pytest.mark.parametrize("shape", SHAPES.values(), ids=list(SHAPES))
def test_a_health_answer_of_any_shape_is_a_status_never_an_exception(shape):
    for code in (200, 500, 503):
        routes = {**fedirz_answering(b'{"models": []}'), "/health": (code, shape)}
        client = ServerClient(settings_for(), transport=server(routes))
        try:
            assert client.check(prepare=True).phase in Phase
        finally:
            client.close()


@pytest.mark.parametrize("shape", SHAPES.values(), ids=list(SHAPES))
def test_a_transcription_or_error_answer_of_any_shape_is_text_or_a_server_error(shape):
    for code in (200, 400, 404, 422, 500, 503):
        routes = {"/health": (200, b'{"status": "ok"}'),
                  "POST /v1/audio/transcriptions": (code, shape)}
        client = ServerClient(settings_for(server_url="http://192.0.2.1:9"),
                              transport=server(routes))
        client.kind = "openai"
        try:
            assert isinstance(client.transcribe(b"RIFF", duration_s=1.0), str)
        except ServerError as exc:
            assert isinstance(exc.reason, Reason) and "\n" not in str(exc)
        finally:
            client.close()


def test_whisper_cpp_errors_of_any_shape_are_server_errors():
    for shape in SHAPES.values():
        client = ServerClient(settings_for(), transport=server({"POST /inference": (200, shape)}))
        client.kind = "whispercpp"
        try:
            assert isinstance(client.transcribe(b"RIFF", duration_s=1.0), str)
        except ServerError as exc:
            assert exc.reason in (Reason.BAD_ANSWER, Reason.BAD_REQUEST, Reason.BUSY)
        finally:
            client.close()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["models", "data", "id", "text", "detail", "error", "loc", "type",
                         "paths", "message"]) | st.text(max_size=5), inner, max_size=4),
    max_leaves=20)


@settings(max_examples=60, deadline=None)
@given(json_values, st.sampled_from([fedirz_answering, speaches_answering]))
def test_any_json_on_the_readiness_routes_is_a_status(value, servers):
    shape = json.dumps(value).encode()
    client = ServerClient(settings_for(), transport=server(servers(shape)))
    try:
        assert client.check(prepare=True).phase in Phase
    finally:
        client.close()


@settings(max_examples=60, deadline=None)
@given(json_values | st.binary(max_size=200), st.sampled_from([200, 404, 422, 500]))
def test_any_transcription_answer_is_text_or_a_server_error(value, code):
    shape = value if isinstance(value, bytes) else json.dumps(value).encode()
    routes = {"POST /v1/audio/transcriptions": (code, shape)}
    client = ServerClient(settings_for(server_url="http://192.0.2.1:9"), transport=server(routes))
    client.kind = "speaches"
    try:
        assert isinstance(client.transcribe(b"RIFF", duration_s=1.0), str)
    except ServerError as exc:
        assert isinstance(exc.reason, Reason)
    finally:
        client.close()


def test_a_reader_failing_in_a_way_nothing_foresaw_is_a_fault_status_then_ready_again():
    broken = {"on": True}

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/ps" and broken["on"]:
            raise RecursionError("maximum recursion depth exceeded")
        if request.url.path == "/v1/audio/transcriptions" and request.content:
            return httpx.Response(200, json={"text": ""})  # the warm-up clip
        routes = fedirz_answering(b'{"models": ["m"]}')
        key = f"{request.method} {request.url.path}"
        code, body = routes.get(key, routes.get(request.url.path, (404, b"")))
        return httpx.Response(code, content=body)

    client = ServerClient(settings_for(server_url="http://192.0.2.1:9"),
                          transport=httpx.MockTransport(handle))
    try:
        status = client.check(prepare=True)
        assert status.phase is Phase.FAULT and "\n" not in status.detail
        assert "cannot read (RecursionError)" in status.detail
        broken["on"] = False
        assert client.check(prepare=True).phase is Phase.READY
    finally:
        client.close()


def test_a_health_answer_larger_than_any_is_a_fault_that_names_the_route_limit():
    routes = {**fedirz_answering(b'{"models": []}'), "/health": (200, SHAPES["nested lists"])}
    client = ServerClient(settings_for(), transport=server(routes))
    try:
        status = client.check(prepare=True)
    finally:
        client.close()
    assert status.phase is Phase.FAULT
    assert "larger than 64 KB, which no answer of this route is" in status.detail
