"""The server client against a real transcription server on loopback, in each server's dialect."""

from __future__ import annotations

import time

import pytest

from turbo_whisper.audio import decode_wav, encode_flac
from turbo_whisper.config import Settings
from turbo_whisper.errors import ServerError, ServerNotReady
from turbo_whisper.server import ServerClient
from turbo_whisper.status import Phase

pytestmark = pytest.mark.integration


def client_for(url: str, **settings) -> ServerClient:
    return ServerClient(Settings(server_url=url, **settings))


def transcribe(client: ServerClient, wav) -> str:
    return client.transcribe(wav.read_bytes(), duration_s=2.0).lower()


@pytest.mark.parametrize("dialect, phases, kind", [
    ("fedirz", ["starting", "downloading", "ready"], "fedirz"),
    ("speaches", ["starting", "downloading", "loading", "ready"], "speaches"),
    ("whispercpp", ["starting", "loading", "ready"], "whispercpp"),
    ("openai", ["starting", "ready"], "openai"),
])
def test_cold_start_of_each_server_is_waited_out_and_told(whisper_server, speech, dialect,
                                                         phases, kind):
    server = whisper_server(dialect, start_delay=1.5, download_delay=2)
    client = client_for(server.url)
    seen: list[str] = []
    client.wait_until_ready(lambda status: seen.append(status.phase.value))
    assert seen == phases
    assert client.kind == kind
    assert "window" in transcribe(client, speech("open the window please"))
    client.close()


def test_fedirz_model_download_is_triggered_at_start_not_by_the_first_dictation(
        whisper_server, speech):
    server = whisper_server("fedirz", download_delay=3)
    client = client_for(server.url)
    client.wait_until_ready()
    began = time.monotonic()
    assert "window" in transcribe(client, speech("open the window please"))
    assert time.monotonic() - began < 3  # the download already happened during readiness


def test_ready_timeout_keeps_the_user_informed(whisper_server):
    server = whisper_server("openai", start_delay=30)
    client = client_for(server.url, ready_timeout=1.0)
    with pytest.raises(ServerNotReady, match="turbo-whisper retry"):
        client.wait_until_ready()
    assert client.status.phase is Phase.STARTING


def test_status_check_does_not_start_a_download(whisper_server):
    server = whisper_server("speaches", download_delay=30)
    client = client_for(server.url)
    began = time.monotonic()
    status = client.check()
    assert time.monotonic() - began < 5
    assert status.phase is Phase.DOWNLOADING and "not installed" in status.detail


def test_speaches_losing_the_model_is_retryable(whisper_server, speech):
    server = whisper_server("speaches")
    client = client_for(server.url)
    client.kind = "speaches"  # as if readiness had passed before the model went away
    with pytest.raises(ServerError, match="not installed") as caught:
        transcribe(client, speech("open the window please"))
    assert caught.value.retryable and not client.ready
    client.wait_until_ready()
    assert "window" in transcribe(client, speech("open the window please"))


def test_api_key_is_sent_as_bearer(whisper_server, speech):
    server = whisper_server("openai", api_key="sk-test-key")
    refused = client_for(server.url)
    with pytest.raises(ServerError, match="api_key"):
        refused.wait_until_ready()
    accepted = client_for(server.url, api_key="sk-test-key")
    accepted.wait_until_ready()
    assert "window" in transcribe(accepted, speech("open the window please"))


def test_one_connection_is_kept_alive_across_transcriptions(warm_server, speech):
    client = client_for(warm_server.url)
    client.wait_until_ready()
    wav = speech("good morning everyone")
    for _ in range(3):
        assert "morning" in transcribe(client, wav)
    pool = client._http._transport._pool  # httpx's pool: one connection served all requests
    assert len(pool.connections) == 1


def test_a_flac_upload_is_transcribed(warm_server, speech):
    client = client_for(warm_server.url)
    client.wait_until_ready()
    samples, rate = decode_wav(speech("good morning everyone").read_bytes())
    text = client.transcribe(encode_flac(samples, rate), duration_s=len(samples) / rate,
                             filename="audio.flac")
    assert "morning" in text.lower()
