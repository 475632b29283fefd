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
    assert "morning" in transcribe(client, wav)
    opened = client.connections_opened
    for _ in range(2):
        assert "morning" in transcribe(client, wav)
    assert client.connections_opened == opened  # the first one's connection served them all


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


@pytest.mark.parametrize("dialect, forced", [("whispercpp", "whispercpp"), ("fedirz", "openai")])
def test_a_server_api_set_by_hand_is_used_as_told_and_transcribes(whisper_server, speech,
                                                                   dialect, forced):
    server = whisper_server(dialect)
    client = client_for(server.url, server_api=forced)
    client.wait_until_ready()
    assert client.decision is not None and client.decision.why == f"server_api = \"{forced}\""
    assert "window" in transcribe(client, speech("open the window please"))


# --------------------------------------------------------------------------- slow answers

TRICKLED_ANSWER = b'{"text": "' + b"a" * 120 + b'"}'  # two minutes at a byte a second


class RawServer:
    """A loopback HTTP server written on the socket, to answer as no framework would: each
    answer whole and kept alive (`fast`), or a byte a second from its first (`headers`) or
    from its body's first byte (`body`)."""

    def __init__(self, mode: str):
        import socketserver
        import threading

        self.mode = mode
        self.stopping = threading.Event()
        owner = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                try:
                    while owner.serve_one(self.request):
                        pass
                except OSError:
                    pass  # the client shut the connection

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def serve_one(self, sock) -> bool:
        """Read one request and answer it; False when the client has gone."""
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                return False
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), 0)
        while len(body) < length:
            body += sock.recv(65536)
        reply = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                 + str(len(TRICKLED_ANSWER)).encode() + b"\r\n\r\n" + TRICKLED_ANSWER)
        if self.mode == "fast":
            sock.sendall(reply)
            return True
        start = 0 if self.mode == "headers" else reply.index(b"\r\n\r\n") + 4
        sock.sendall(reply[:start])
        for index in range(start, len(reply)):
            if self.stopping.wait(1.0):
                return False
            sock.sendall(reply[index:index + 1])
        return True

    def stop(self) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def raw_server():
    servers: list[RawServer] = []

    def start(mode: str) -> RawServer:
        servers.append(RawServer(mode))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


@pytest.mark.parametrize("trickled", ["body", "headers"])
def test_a_server_trickling_its_answer_ends_the_transcription_at_its_deadline(raw_server,
                                                                              trickled):
    server = raw_server(trickled)
    client = client_for(server.url, request_timeout=1.0)
    client.kind = "openai"
    started = time.monotonic()
    try:
        with pytest.raises(ServerError) as caught:
            client.transcribe(b"RIFF", duration_s=0.5)
    finally:
        client.close()
    took = time.monotonic() - started
    assert caught.value.reason is Reason.TIMEOUT
    assert "did not answer in time" in str(caught.value)
    assert took < len(TRICKLED_ANSWER) / 2  # the trickle alone takes two minutes


def test_kept_alive_requests_share_one_connection_and_the_count_says_so(raw_server):
    server = raw_server("fast")
    client = client_for(server.url)
    client.kind = "openai"
    try:
        assert client.connections_opened == 0
        for _ in range(3):
            assert client.transcribe(b"RIFF", duration_s=0.5) == "a" * 120
        assert client.connections_opened == 1
    finally:
        client.close()


def test_a_kept_alive_connection_trickling_its_next_answer_ends_at_the_deadline(raw_server):
    server = raw_server("fast")
    client = client_for(server.url, request_timeout=1.0)
    client.kind = "openai"
    try:
        client.transcribe(b"RIFF", duration_s=0.5)
        server.mode = "headers"  # the same connection now answers a byte a second
        started = time.monotonic()
        with pytest.raises(ServerError) as caught:
            client.transcribe(b"RIFF", duration_s=0.5)
        took = time.monotonic() - started
        assert client.connections_opened == 1  # it was the kept-alive connection that stalled
    finally:
        client.close()
    assert caught.value.reason is Reason.TIMEOUT
    assert took < len(TRICKLED_ANSWER) / 2
