"""Answers no test server gives on demand: what the HTTP client makes of them.

The real ServerClient with httpx's MockTransport in place of the network; the loopback
server's faults are covered in test_server_faults.py.
"""

from __future__ import annotations

from dataclasses import replace

import httpx
import pytest

from turbo_whisper.config import Settings
from turbo_whisper.errors import Reason, ServerError
from turbo_whisper.server import MAX_ANSWER_BYTES, ServerClient

KEY = "sk-test-0123456789abcdef"


def client_answering(handler, **settings) -> ServerClient:
    config = replace(Settings(), server_url="http://127.0.0.1:8000", **settings)
    client = ServerClient(config, transport=httpx.MockTransport(handler))
    client.kind = "fedirz"
    return client


def transcribe(client: ServerClient) -> str:
    return client.transcribe(b"RIFF....WAVE", duration_s=2.0)


def test_lone_surrogates_in_a_transcript_become_replacement_characters():
    body = b'{"text": "caf\\ud800e \\ud83c\\udfa4 ok"}'
    client = client_answering(lambda request: httpx.Response(200, content=body,
                                                             headers={"content-type": "application/json"}))
    text = transcribe(client)
    assert text == "caf\ufffde \U0001f3a4 ok"
    text.encode("utf-8")  # every clipboard tool needs UTF-8


class NeverRead(httpx.SyncByteStream):
    def __iter__(self):
        raise AssertionError("a body announced as huge was read")


def test_an_answer_announced_as_huge_is_not_read():
    def handler(request):
        return httpx.Response(200, headers={"content-type": "application/json",
                                            "content-length": str(50 * 1024 * 1024)},
                              stream=NeverRead())

    with pytest.raises(ServerError) as raised:
        transcribe(client_answering(handler))
    assert raised.value.retryable
    assert "larger than 4 MB" in str(raised.value) and raised.value.reason is Reason.BAD_ANSWER


def test_an_endless_answer_is_cut_off_at_the_limit():
    read = []

    def endless():
        yield b'{"text": "'
        while True:
            read.append(1)
            yield b"la " * 65536

    handler = lambda request: httpx.Response(200, content=endless(),  # noqa: E731
                                             headers={"content-type": "application/json"})
    with pytest.raises(ServerError) as raised:
        transcribe(client_answering(handler))
    assert "larger than" in str(raised.value)
    assert len(read) * 3 * 65536 <= MAX_ANSWER_BYTES + 3 * 65536


def test_a_broken_answer_is_not_quoted_in_the_message():
    body = b'{"text": "my bank password is hunter2'
    client = client_answering(lambda request: httpx.Response(
        200, content=body, headers={"content-type": "application/json"}))
    with pytest.raises(ServerError) as raised:
        transcribe(client)
    message = str(raised.value)
    assert "hunter2" not in message and "not a transcript" in message
    assert raised.value.retryable


@pytest.mark.parametrize("status", [401, 403, 500])
def test_a_server_that_echoes_the_api_key_does_not_put_it_in_a_message(status):
    def handler(request):
        assert request.headers["authorization"] == f"Bearer {KEY}"
        return httpx.Response(status, json={"detail": f"Incorrect API key provided: {KEY}"})

    client = client_answering(handler, api_key=KEY)
    with pytest.raises(ServerError) as raised:
        transcribe(client)
    assert KEY not in str(raised.value) and "(hidden)" in str(raised.value)
    client.kind = None
    status_words = client.check().detail
    assert KEY not in status_words


def test_the_api_key_is_not_in_the_settings_repr():
    settings = replace(Settings(), api_key=KEY)
    assert KEY not in repr(settings)


def garbled_gzip(request):
    return httpx.Response(200, content=b"this is not gzip at all",
                          headers={"content-type": "application/json", "content-encoding": "gzip"})


def test_an_answer_that_cannot_be_decoded_is_a_server_error_not_a_crash():
    with pytest.raises(ServerError) as raised:
        transcribe(client_answering(garbled_gzip))
    assert raised.value.retryable and "could not be decoded" in str(raised.value)


def test_a_health_answer_that_cannot_be_decoded_is_a_status_not_a_crash():
    client = client_answering(garbled_gzip)
    client.kind = None
    status = client.check()
    assert status.phase.value == "starting" and not client.ready


# --------------------------------------------------------------------------- detection and readiness

TRANSCRIPTIONS = "/v1/audio/transcriptions"


def routes(table, *, fallback=404):
    """A MockTransport handler answering from {(method, path): answer or callable}."""
    seen = []

    def handler(request):
        seen.append(f"{request.method} {request.url.path}")
        answer = table.get((request.method, request.url.path))
        if callable(answer):
            return answer(request)
        return answer if answer is not None else httpx.Response(fallback,
                                                               json={"detail": "Not Found"})
    handler.seen = seen
    return handler


def client_of(handler, url="http://127.0.0.1:8000", **settings) -> ServerClient:
    config = replace(Settings(), server_url=url, **settings)
    return ServerClient(config, transport=httpx.MockTransport(handler))


def missing_file():
    return httpx.Response(422, json={"detail": [{"type": "missing", "loc": ["body", "file"],
                                                 "msg": "Field required"}]})


def test_a_refused_key_on_the_probe_is_said_at_once_although_health_is_public():
    handler = routes({("GET", "/health"): httpx.Response(200, text="OK"),
                      ("POST", TRANSCRIPTIONS): httpx.Response(401, json={"detail": "Bad key"})},
                     fallback=401)
    client = client_of(handler, api_key="wrong")
    with pytest.raises(ServerError, match="refused the API key") as raised:
        client.wait_until_ready()
    assert raised.value.reason is Reason.KEY_REFUSED and not client.ready
    assert len(handler.seen) == 2  # health, then the probe: no waiting


@pytest.mark.parametrize("where", ["/health", TRANSCRIPTIONS])
def test_a_redirect_is_an_error_that_names_the_https_url(where):
    moved = httpx.Response(301, headers={"location": "https://dictation.example/health"},
                           html="<html><title>301 Moved Permanently</title></html>")
    table = {("GET", "/health"): httpx.Response(200, json={"status": "ok"}),
             ("POST", TRANSCRIPTIONS): missing_file()}
    table[("GET" if where == "/health" else "POST", where)] = moved
    client = client_of(routes(table), url="http://dictation.example")
    status = client.check()
    assert status.phase.value == "failed" and not client.ready
    assert "https://dictation.example/health" in status.detail
    assert "set 'server_url' to https://dictation.example" in status.detail


def test_a_redirect_answer_to_a_transcription_is_never_a_transcript():
    handler = routes({("POST", TRANSCRIPTIONS): httpx.Response(
        302, headers={"location": "https://127.0.0.1:8443/v1/audio/transcriptions"},
        html="<html><body>Found</body></html>")})
    client = client_of(handler)
    client.kind = "openai"
    with pytest.raises(ServerError, match="redirect to https://127.0.0.1:8443") as raised:
        transcribe(client)
    assert raised.value.reason is Reason.REDIRECT and not raised.value.retryable


def test_a_health_route_answering_500_is_a_fault_in_the_servers_words():
    client = client_of(routes({("GET", "/health"): httpx.Response(
        500, json={"detail": "CUDA out of memory"})}))
    status = client.check()
    assert status.phase.value == "fault"
    assert status.detail == "The server at http://127.0.0.1:8000 reports a fault: CUDA out of memory"


def test_a_failed_warm_up_on_a_loopback_fedirz_is_a_fault_not_ready():
    handler = routes({("GET", "/health"): httpx.Response(200, text="OK"),
                      ("POST", TRANSCRIPTIONS): lambda request: missing_file()
                      if not request.content else httpx.Response(500, text="Internal Server Error"),
                      ("GET", "/api/ps"): httpx.Response(200, json={"models": []})})
    client = client_of(handler)
    seen = []
    status = client.check(seen.append, prepare=True)
    assert client.kind == "fedirz" and not client.ready
    assert status.phase.value == "fault" and "reports a fault: Internal Server Error" in status.detail
    assert not any(s.phase.value == "ready" for s in seen)


def test_a_read_error_right_after_an_error_answer_is_tried_once_more_anew():
    answers = iter([httpx.Response(500, text="Internal Server Error"), "reset",
                    httpx.Response(200, json={"text": "open the door"})])

    def handler(request):
        answer = next(answers)
        if answer == "reset":
            raise httpx.ReadError("connection closed by the server after its 500")
        return answer

    client = client_of(handler)
    client.kind = "openai"
    with pytest.raises(ServerError, match="HTTP 500"):
        transcribe(client)
    assert transcribe(client) == "open the door"


def test_a_plain_404_from_the_route_detects_the_server_again_once():
    client = client_of(routes({}))
    client.kind = "openai"
    with pytest.raises(ServerError) as first:
        transcribe(client)
    assert first.value.retryable and first.value.reason is Reason.NO_ROUTE
    assert client.kind is None and not client.ready  # found again before the next attempt
    client.kind = "openai"
    with pytest.raises(ServerError) as second:
        transcribe(client)
    assert not second.value.retryable  # the same route again: the user must look


def test_refused_connections_for_long_say_that_nothing_answers(monkeypatch):
    from turbo_whisper.server import client as client_module

    def refused(request):
        raise httpx.ConnectError("Connection refused")

    client = client_of(refused)
    assert "is starting" in client.check().detail
    monkeypatch.setattr(client_module, "NOTHING_ANSWERS_AFTER", 0.0)
    status = client.check()
    assert status.phase.value == "unreachable"
    assert status.detail.startswith("Nothing answers at http://127.0.0.1:8000: start the server "
                                    "(`turbo-whisper server up`) or check `server_url`.")
    with pytest.raises(ServerError, match="Nothing answers at") as raised:
        client.wait_until_ready(give_up_after=0.0)
    assert raised.value.reason is Reason.UNREACHABLE


def listing_server(*ids):
    return routes({("GET", "/health"): httpx.Response(404),
                   ("POST", TRANSCRIPTIONS): httpx.Response(400, json={"error": {
                       "message": "Missing required parameter: 'file'."}}),
                   ("GET", "/v1/models"): httpx.Response(200, json={
                       "data": [{"id": model_id} for model_id in ids]})})


def test_a_model_the_server_does_not_list_is_named_with_what_it_has():
    client = client_of(listing_server("whisper-1", "distil-large-v3"),
                       url="https://api.example", model="large-v2")
    status = client.check(prepare=True)
    assert status.phase.value == "failed"
    assert "Model large-v2 is not on the server" in status.detail
    assert "It has: whisper-1, distil-large-v3." in status.detail


def test_model_auto_takes_the_only_model_the_server_lists():
    client = client_of(listing_server("whisper-1"), url="https://api.example", model="auto")
    status = client.check(prepare=True)
    assert status.phase.value == "ready" and "with whisper-1" in status.detail
    assert client.dialect.form(client.settings)["model"] == "whisper-1"


def test_an_oversized_openapi_document_is_no_evidence_and_no_failure():
    handler = routes({("GET", "/health"): httpx.Response(200, json={"status": "ok"}),
                      ("POST", TRANSCRIPTIONS): missing_file(),
                      ("GET", "/openapi.json"): httpx.Response(
                          200, headers={"content-length": str(50 * 1024 * 1024)},
                          stream=NeverRead())})
    client = client_of(handler, url="https://api.example")
    assert client.check().phase.value == "ready"
    assert client.kind == "openai" and client.evidence.form is None


def test_an_older_whisper_cpp_answering_503_while_loading_is_loading_not_a_fault():
    client = client_of(routes({("GET", "/health"): httpx.Response(
        503, json={"status": "loading model"}, headers={"server": "whisper.cpp"})}))
    status = client.check()
    assert status.phase.value == "loading" and "loading its model" in status.detail
