"""The server client against a real transcription server on loopback, in each server's dialect."""

from __future__ import annotations

import time

import pytest

from turbo_whisper.audio import decode_wav, encode_flac
from turbo_whisper.config import Settings
from turbo_whisper.errors import Reason, ServerError, ServerNotReady
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
    ("speaches09", ["starting", "downloading", "loading", "ready"], "speaches"),
    ("whispercpp", ["starting", "ready"], "whispercpp"),  # refuses connections while loading
    ("openai", ["starting", "loading", "ready"], "openai"),  # loading: the warm-up clip
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
    with pytest.raises(ServerNotReady, match="did not become ready in time") as raised:
        client.wait_until_ready()
    assert raised.value.reason is Reason.NOT_READY
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


# --------------------------------------------------------------------------- real fingerprints

def test_speaches_without_api_ps_is_found_and_transcribes(whisper_server, speech):
    server = whisper_server("speaches", extra_args=["--drop-route", "/api/ps"])
    client = client_for(server.url)
    client.wait_until_ready()
    assert client.kind == "speaches" and client.decision.has_api_ps is False
    assert "window" in transcribe(client, speech("open the window please"))


def test_an_openai_server_without_health_is_found_by_its_route(whisper_server, speech):
    server = whisper_server("openai", extra_args=["--drop-route", "/health"])
    client = client_for(server.url)
    client.wait_until_ready()
    assert client.kind == "openai"
    assert "window" in transcribe(client, speech("open the window please"))


def test_speaches_with_a_wrong_key_is_refused_at_once_though_its_health_is_public(whisper_server):
    server = whisper_server("speaches", api_key="right-key", installed=["Systran/faster-whisper-large-v3"])
    client = client_for(server.url, api_key="wrong-key")
    began = time.monotonic()
    with pytest.raises(ServerError, match="refused the API key") as raised:
        client.wait_until_ready()
    assert raised.value.reason is Reason.KEY_REFUSED and time.monotonic() - began < 5
    assert client.status.phase is Phase.FAILED and not client.ready


def test_a_redirecting_proxy_is_an_error_naming_the_https_url(whisper_server):
    server = whisper_server("fedirz", extra_args=["--redirect-to", "https://127.0.0.1:8443"])
    client = client_for(server.url)
    with pytest.raises(ServerError, match="redirect to https://127.0.0.1:8443/health") as raised:
        client.wait_until_ready()
    assert "set 'server_url' to https://127.0.0.1:8443" in str(raised.value)
    assert raised.value.reason is Reason.REDIRECT


def test_fedirz_failing_its_warm_up_is_a_fault_in_its_words_never_ready(whisper_server):
    server = whisper_server("fedirz", extra_args=["--broken-model", "Systran/faster-whisper-large-v3"])
    client = client_for(server.url)
    seen: list[str] = []
    with pytest.raises(ServerError, match="reports a fault: Internal Server Error") as raised:
        client.wait_until_ready(lambda status: seen.append(status.phase.value), give_up_after=2)
    assert raised.value.reason is Reason.FAULT
    assert "ready" not in seen and client.status.phase is Phase.FAULT


def test_model_auto_takes_the_model_speaches_has(whisper_server, speech):
    server = whisper_server("speaches09", installed=["Systran/faster-whisper-tiny.en"])
    client = client_for(server.url, model="auto")
    client.wait_until_ready()
    assert "with Systran/faster-whisper-tiny.en" in client.status.detail
    assert "window" in transcribe(client, speech("open the window please"))
