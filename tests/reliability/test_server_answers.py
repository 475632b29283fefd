"""Answers no test server gives on demand: what the HTTP client makes of them.

The real ServerClient with httpx's MockTransport in place of the network; the loopback
server's faults are covered in test_server_faults.py.
"""

from __future__ import annotations

from dataclasses import replace

import httpx
import pytest

from turbo_whisper.config import Settings
from turbo_whisper.errors import ServerError
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
    assert "larger than 4 MB" in str(raised.value) and "will be sent again" in str(raised.value)


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
