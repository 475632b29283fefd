"""Preparing the model is best-effort: a server that refuses to load it is still used once a
transcription proves it works; one that cannot download it says why, in its own words."""

from __future__ import annotations

import json
import logging
from dataclasses import replace

import httpx

from turbo_whisper.config import Settings
from turbo_whisper.server import ServerClient
from turbo_whisper.status import Phase

MISSING_MODEL = json.dumps({"detail": [{"type": "missing", "loc": ["body", "model"]}]}).encode()


def answering(routes: dict[str, tuple[int, bytes]], uploads: list[bytes]) -> httpx.MockTransport:
    """A server answering "METHOD path" from `routes`; an upload with a file is transcribed."""
    def handle(request: httpx.Request) -> httpx.Response:
        key = f"{request.method} {request.url.path}"
        if key == "POST /v1/audio/transcriptions" and b'name="file"' in request.read():
            uploads.append(request.content)
            return httpx.Response(200, json={"text": ""})
        code, body = routes.get(key, (404, b'{"detail": "Not Found"}'))
        return httpx.Response(code, content=body, headers={"content-type": "application/json"})
    return httpx.MockTransport(handle)


def client_of(routes, uploads, **values) -> ServerClient:
    settings = replace(Settings(), **{"server_url": "http://127.0.0.1:9", "model": "m",
                                      "ready_timeout": 5.0, **values})
    return ServerClient(settings, transport=answering(routes, uploads))


def test_a_server_refusing_to_load_the_model_is_ready_once_a_transcription_works(caplog):
    routes = {"GET /health": (200, b"OK"), "POST /v1/audio/transcriptions": (422, b"{}"),
              "GET /api/ps": (200, b'{"models": []}'),
              "POST /api/ps/m": (500, b'{"detail": "Loading is disabled on this server"}')}
    uploads: list[bytes] = []
    client = client_of(routes, uploads)
    try:
        with caplog.at_level(logging.INFO):
            status = client.check(prepare=True)
    finally:
        client.close()
    assert status.phase is Phase.READY, status.detail
    assert len(uploads) == 1  # the warm-up clip proved the model
    assert "could not load model m (500: Loading is disabled on this server)" in caplog.text


def test_a_model_the_server_cannot_download_is_said_in_the_servers_words():
    routes = {"GET /health": (200, b'{"message": "OK"}'),
              "POST /v1/audio/transcriptions": (422, MISSING_MODEL),
              "GET /v1/models/m": (404, b'{"detail": "Model m is not installed"}'),
              "POST /v1/models/m": (500, b'{"detail": "Repository Not Found for url"}'),
              "GET /api/ps": (200, b'{"models": []}')}
    uploads: list[bytes] = []
    client = client_of(routes, uploads)
    try:
        status = client.check(prepare=True)
    finally:
        client.close()
    assert status.phase is not Phase.READY
    assert "could not download it (500: Repository Not Found for url)" in status.detail
    assert "Set 'model' to one it has" in status.detail
    assert uploads == []  # never a transcription with a model it does not have
