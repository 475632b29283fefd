"""The loopback transcription server and the service fixtures behave as the tests rely on.

Checked with httpx directly, never through the client package, so that a failure here
points at the test rig rather than at the product.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from support.requirements import require_tools
from support.services import ServerHandle, ServerLauncher

pytestmark = pytest.mark.integration

PHRASE = "open the window please"
MODEL = "Systran/faster-whisper-large-v3"
OPENAI_PATH = "/v1/audio/transcriptions"


def transcribe(server: ServerHandle, wav: Path, path: str = OPENAI_PATH, timeout: float = 60,
               **fields: str) -> httpx.Response:
    """POST one WAV file as multipart/form-data."""
    with open(wav, "rb") as audio:
        return httpx.post(f"{server.url}{path}", files={"file": (wav.name, audio, "audio/wav")},
                          data=fields, timeout=timeout)


def timed(call, *args, **kwargs) -> tuple[float, httpx.Response]:
    started = time.monotonic()
    reply = call(*args, **kwargs)
    return time.monotonic() - started, reply


@pytest.fixture(scope="module")
def fault_server(tmp_path_factory: pytest.TempPathFactory, model_dir: Path):
    """A fedirz server of this module's own, so injected faults touch no other test."""
    launcher = ServerLauncher(tmp_path_factory.mktemp("fault-server"), model_dir)
    yield launcher.start("fedirz")
    launcher.stop_all()


# --------------------------------------------------------------------------- dialects

ERROR_SHAPES = {
    "fedirz": lambda body: body["detail"] == "Service Unavailable",
    "speaches": lambda body: body["detail"] == "Service Unavailable",
    "whispercpp": lambda body: body["error"] == "Service Unavailable",
    "openai": lambda body: body["error"]["message"] == "Service Unavailable",
}


@pytest.mark.parametrize("dialect", ["fedirz", "speaches", "whispercpp", "openai"])
def test_each_dialect_transcribes_speech_and_shapes_its_errors(whisper_server, speech, dialect):
    server = whisper_server(dialect, installed=[MODEL])
    path = "/inference" if dialect == "whispercpp" else OPENAI_PATH
    fields = {} if dialect == "whispercpp" else {"model": MODEL}

    reply = transcribe(server, speech(PHRASE), path, **fields)

    assert reply.status_code == 200, reply.text
    assert "window" in reply.json()["text"].lower()
    server.fault("status:503")
    failed = transcribe(server, speech(PHRASE), path, **fields)
    assert failed.status_code == 503
    assert ERROR_SHAPES[dialect](failed.json()), failed.text


def test_fedirz_holds_the_first_requests_while_the_model_downloads(whisper_server, speech):
    server = whisper_server("fedirz", download_delay=2)
    health = httpx.get(f"{server.url}/health")
    assert (health.status_code, health.text) == (200, "OK")
    assert httpx.get(f"{server.url}/api/ps").json() == {"models": []}
    assert httpx.get(f"{server.url}/v1/models").status_code == 500  # offline, it asks the hub
    results: list[tuple[float, httpx.Response]] = []
    threads = [threading.Thread(target=lambda: results.append(timed(transcribe, server,
                                                                    speech(PHRASE))))
               for _ in range(2)]

    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    later, reply = timed(transcribe, server, speech(PHRASE))

    assert [r.status_code for _, r in results] == [200, 200]
    assert all(elapsed >= 2.0 for elapsed, _ in results), results
    assert "window" in reply.json()["text"].lower() and later < 2.0
    assert httpx.get(f"{server.url}/api/ps").json() == {"models": [MODEL]}


def test_fedirz_loads_and_unloads_models_through_api_ps(whisper_server):
    server = whisper_server("fedirz", download_delay=1)
    ps = f"{server.url}/api/ps/{MODEL}"

    elapsed, loaded = timed(httpx.post, ps, timeout=30)

    assert loaded.status_code == 201 and elapsed >= 1.0
    assert httpx.post(ps).status_code == 409
    assert httpx.delete(ps).status_code == 204
    assert httpx.delete(ps).status_code == 404
    assert httpx.get(f"{server.url}/api/ps").json() == {"models": []}


def test_speaches_answers_404_until_the_model_is_downloaded(whisper_server, speech):
    server = whisper_server("speaches", download_delay=1)
    assert httpx.get(f"{server.url}/health").text == "OK"
    no_model = transcribe(server, speech(PHRASE))
    assert no_model.status_code == 422
    assert no_model.json()["detail"][0]["loc"] == ["body", "model"]

    missing = transcribe(server, speech(PHRASE), model=MODEL)
    assert missing.status_code == 404
    assert f"POST /v1/models/{MODEL}" in missing.json()["detail"]
    assert httpx.get(f"{server.url}/v1/models/{MODEL}").status_code == 404
    elapsed, download = timed(httpx.post, f"{server.url}/v1/models/{MODEL}", timeout=30)
    assert download.status_code == 201 and elapsed >= 1.0
    assert httpx.post(f"{server.url}/v1/models/{MODEL}").status_code == 200
    assert httpx.get(f"{server.url}/v1/models/{MODEL}").json()["id"] == MODEL
    assert httpx.get(f"{server.url}/api/ps").json() == {"models": []}

    reply = transcribe(server, speech(PHRASE), model=MODEL)

    assert reply.status_code == 200 and "window" in reply.json()["text"].lower()
    assert httpx.get(f"{server.url}/api/ps").json() == {"models": [MODEL]}
    already = httpx.post(f"{server.url}/api/ps/{MODEL}")
    assert (already.status_code, already.json()) == (409, {"detail": "Model already loaded"})


def test_whispercpp_refuses_connections_while_loading_then_serves(whisper_server, speech):
    server = whisper_server("whispercpp", download_delay=2)
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.url}/health")
    server.wait_ready(timeout=30)

    assert httpx.get(f"{server.url}/health").json() == {"status": "ok"}
    assert "window" in transcribe(server, speech(PHRASE), "/inference").json()["text"].lower()
    no_file = httpx.post(f"{server.url}/inference", data={"temperature": "0"})
    assert (no_file.status_code, no_file.json()) == (
        200, {"error": "no 'file' field in the request"})
    assert transcribe(server, speech(PHRASE)).status_code == 404


def test_openai_dialect_answers_health_like_many_and_requires_a_model(whisper_server, speech):
    server = whisper_server("openai")

    assert httpx.get(f"{server.url}/health").json() == {"status": "ok"}
    no_model = transcribe(server, speech(PHRASE))
    assert no_model.status_code == 400
    assert "model" in no_model.json()["error"]["message"]
    assert "whisper-1" in [m["id"] for m in httpx.get(f"{server.url}/v1/models").json()["data"]]


def test_start_delay_refuses_connections_then_serves(whisper_server):
    server = whisper_server("speaches09", start_delay=2, installed=[MODEL])

    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.url}/health")
    server.wait_ready(timeout=30)

    assert httpx.get(f"{server.url}/health").json() == {"message": "OK"}
    assert httpx.get(f"{server.url}/v1/models/{MODEL}").status_code == 200


def test_api_key_is_required_when_set(whisper_server):
    server = whisper_server("fedirz", api_key="s3cret")

    refused = httpx.get(f"{server.url}/health")
    allowed = httpx.get(f"{server.url}/health", headers={"Authorization": "Bearer s3cret"})

    assert refused.status_code == 401
    assert refused.json()["error"]["message"] == "Invalid API key"
    assert allowed.status_code == 200


# The answers of shared/SERVERS.md: health, then empty POSTs to both transcription routes.
FINGERPRINTS = {
    "fedirz": ((200, "OK", None), 422, 404),
    "speaches": ((200, "OK", None), 422, 404),
    "speaches09": ((200, '{"message": "OK"}', "application/json"), 422, 404),
    "whispercpp": ((200, '{"status": "ok"}', "application/json"), 404, 400),
    "openai": ((200, '{"status": "ok"}', "application/json"), 400, 404),
}


@pytest.mark.parametrize("dialect", list(FINGERPRINTS))
def test_each_dialect_answers_the_probes_as_the_real_server_does(whisper_server, dialect):
    server = whisper_server(dialect)
    health_answer, openai, inference = FINGERPRINTS[dialect]
    health = httpx.get(f"{server.url}/health")
    assert (health.status_code, health.text, health.headers.get("content-type")) == health_answer
    assert httpx.post(f"{server.url}{OPENAI_PATH}").status_code == openai
    assert httpx.post(f"{server.url}/inference").status_code == inference
    if dialect == "speaches":
        missing = httpx.post(f"{server.url}{OPENAI_PATH}").json()["detail"]
        assert [item["loc"] for item in missing] == [["body", "file"], ["body", "model"]]
    if dialect == "whispercpp":
        assert httpx.post(f"{server.url}/inference").text == "Invalid request"
        assert health.headers["server"] == "whisper.cpp"


def test_speaches_health_is_public_while_other_routes_need_the_key(whisper_server):
    server = whisper_server("speaches", api_key="s3cret")
    assert httpx.get(f"{server.url}/health").status_code == 200
    assert httpx.post(f"{server.url}{OPENAI_PATH}").status_code == 401


def test_a_dropped_route_is_gone(whisper_server):
    server = whisper_server("speaches", extra_args=["--drop-route", "/api/ps"])
    assert httpx.get(f"{server.url}/api/ps").status_code == 404
    assert httpx.get(f"{server.url}/v1/models").status_code == 200


def test_a_redirecting_proxy_answers_301_with_the_https_location(whisper_server):
    server = whisper_server("fedirz", extra_args=["--redirect-to", "https://127.0.0.1:8443"])
    reply = httpx.post(f"{server.url}{OPENAI_PATH}")
    assert reply.status_code == 301
    assert reply.headers["location"] == f"https://127.0.0.1:8443{OPENAI_PATH}"
    assert "Moved Permanently" in reply.text


def test_fedirz_with_a_model_it_cannot_get_answers_500_and_closes_the_connection(
        whisper_server, speech):
    server = whisper_server("fedirz", extra_args=["--broken-model", MODEL])
    with httpx.Client(base_url=server.url) as client:
        with open(speech(PHRASE), "rb") as audio:
            reply = client.post(OPENAI_PATH, files={"file": ("a.wav", audio, "audio/wav")},
                                data={"model": MODEL})
        assert (reply.status_code, reply.text) == (500, "Internal Server Error")
        assert reply.headers["connection"] == "close"
    assert httpx.get(f"{server.url}/api/ps").json() == {"models": [MODEL]}  # the failed name


# --------------------------------------------------------------------------- formats


def test_response_formats_and_audio_containers(warm_server, speech, tmp_path):
    wav = speech(PHRASE)
    flac, wav44k = tmp_path / "say.flac", tmp_path / "say44k.wav"
    subprocess.run(["sox", str(wav), str(flac)], check=True)
    subprocess.run(["sox", str(wav), "-r", "44100", "-c", "2", str(wav44k)], check=True)

    text = transcribe(warm_server, wav, response_format="text")
    verbose = transcribe(warm_server, wav, response_format="verbose_json").json()

    assert text.headers["content-type"].startswith("text/plain")
    assert "window" in text.text.lower()
    assert verbose["language"] == "en" and 1.5 < verbose["duration"] < 2.5
    assert verbose["segments"] and "window" in verbose["text"].lower()
    for other in (flac, wav44k):
        assert "window" in transcribe(warm_server, other).json()["text"].lower()


def test_one_keep_alive_connection_serves_several_requests(warm_server, speech):
    wav = speech(PHRASE)
    with httpx.Client(base_url=warm_server.url, timeout=60) as client:
        for _ in range(3):
            with open(wav, "rb") as audio:
                reply = client.post(OPENAI_PATH, files={"file": ("say.wav", audio)})
            assert reply.status_code == 200 and reply.http_version == "HTTP/1.1"
            assert reply.headers.get("connection", "").lower() != "close"


# --------------------------------------------------------------------------- faults


def test_fault_status_answers_once_in_the_dialect_shape(fault_server, speech):
    fault_server.fault("status:500")

    failed = transcribe(fault_server, speech(PHRASE))
    recovered = transcribe(fault_server, speech(PHRASE))

    assert failed.status_code == 500 and failed.json() == {"detail": "Internal Server Error"}
    assert recovered.status_code == 200


def test_fault_count_covers_that_many_requests(fault_server, speech):
    fault_server.fault("status:413", count=2)

    codes = [transcribe(fault_server, speech(PHRASE)).status_code for _ in range(3)]

    assert codes == [413, 413, 200]


def test_fault_html_is_a_500_html_page(fault_server, speech):
    fault_server.fault("html")
    reply = transcribe(fault_server, speech(PHRASE))
    assert reply.status_code == 500
    assert reply.headers["content-type"].startswith("text/html") and "<html>" in reply.text


def test_fault_malformed_is_broken_json(fault_server, speech):
    fault_server.fault("malformed")
    reply = transcribe(fault_server, speech(PHRASE))
    assert reply.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        reply.json()


def test_fault_empty_is_an_empty_transcript(fault_server, speech):
    fault_server.fault("empty")
    reply = transcribe(fault_server, speech(PHRASE))
    assert (reply.status_code, reply.json()) == (200, {"text": ""})


def test_fault_slow_delays_then_answers(fault_server, speech):
    fault_server.fault("slow:1.5")
    elapsed, reply = timed(transcribe, fault_server, speech(PHRASE))
    assert elapsed >= 1.5 and "window" in reply.json()["text"].lower()


def test_fault_reset_drops_the_connection_without_an_answer(fault_server, speech):
    fault_server.fault("reset")
    with pytest.raises(httpx.TransportError):
        transcribe(fault_server, speech(PHRASE))
    assert transcribe(fault_server, speech(PHRASE)).status_code == 200


def test_fault_huge_sends_fifty_megabytes(fault_server, speech):
    fault_server.fault("huge")
    reply = transcribe(fault_server, speech(PHRASE))
    assert reply.status_code == 200 and len(reply.content) == 50 * 1024 * 1024
    assert reply.json()["text"].startswith("la la")


def test_fault_die_ends_the_server_process_mid_request(whisper_server, speech):
    server = whisper_server("fedirz")
    server.fault("die")

    with pytest.raises(httpx.TransportError):
        transcribe(server, speech(PHRASE))

    assert server.process.wait(timeout=10) != 0
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.url}/health")


def test_unknown_fault_kind_is_refused(fault_server):
    reply = httpx.post(f"{fault_server.url}/__test__/fault", json={"kind": "explode"})
    assert reply.status_code == 400


def test_stats_count_transcriptions_and_paths(whisper_server, speech):
    server = whisper_server("fedirz")
    httpx.get(f"{server.url}/health")
    transcribe(server, speech(PHRASE))

    stats = server.stats()

    assert stats["transcriptions"] == 1
    assert stats["requests"] == ["/health", OPENAI_PATH]


# --------------------------------------------------------------------------- audio and X11

RECORDER = """
import sys
import numpy as np
import sounddevice as sd
names = [d["name"] for d in sd.query_devices() if d["max_input_channels"] > 0]
print("devices " + ",".join(names), flush=True)
device = None if sys.argv[1] == "default" else sys.argv[1]
recording = sd.rec(3 * 16000, samplerate=16000, channels=1, dtype="int16", device=device)
print("recording", flush=True)
sd.wait()
print(f"rms {np.sqrt(np.mean(recording.astype(np.float64) ** 2)):.1f}", flush=True)
"""


@pytest.mark.parametrize("device", ["default", "pulse"])
def test_sounddevice_records_speech_from_the_virtual_microphone(pulse, speech, device):
    recorder = subprocess.Popen([sys.executable, "-c", RECORDER, device], env=pulse.child_env(),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []
    for line in recorder.stdout:
        lines.append(line.strip())
        if line.startswith("recording"):
            pulse.play(speech(PHRASE))
            break

    rest, errors = recorder.communicate(timeout=30)
    lines += rest.split()

    assert recorder.returncode == 0, errors
    assert {"pulse", "default"} <= set(lines[0].removeprefix("devices ").split(","))
    assert float(lines[-1]) > 300, lines


def test_the_microphone_can_vanish_and_come_back(pulse):
    pulse.unload_mic()
    assert "vmic" not in pulse.sources()

    pulse.load_mic()

    assert "vmic" in pulse.sources()
    assert "Default Source: vmic" in pulse.pactl("info")


def test_xdotool_works_on_the_virtual_display(xvfb):
    require_tools("xdotool", purpose="keyboard and mouse events on the virtual display")
    result = subprocess.run(["xdotool", "getmouselocation"], env={**os.environ, "DISPLAY": xvfb},
                            capture_output=True, text=True, timeout=10, check=True)
    assert result.stdout.startswith("x:")
