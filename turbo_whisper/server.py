"""The HTTP client for the transcription server: readiness through a cold start, and transcription.

Servers differ in how they say they are not ready (DESIGN.md): fedirz faster-whisper-server
answers /health at once and downloads the model inside the first request; speaches answers
404 for a model that is not installed; whisper.cpp answers 503 while loading. The client
finds out which one it talks to and waits, saying in words what the server is doing.
"""

from __future__ import annotations

import html
import json
import logging
import os
import random
import re
import threading
import time
from typing import Any
from urllib.parse import quote

import httpx

from turbo_whisper.config import Settings
from turbo_whisper.errors import ServerError, ServerNotReady
from turbo_whisper.status import EngineStatus, Phase, StatusCallback

log = logging.getLogger(__name__)

SILENT_WAV_SECONDS = 0.5
# Far more than the transcript of the longest recording; a larger answer is a broken server
# and is not read into memory.
MAX_ANSWER_BYTES = 4 * 1024 * 1024
KIND_NAMES = {
    "fedirz": "faster-whisper-server",
    "speaches": "speaches",
    "whispercpp": "whisper.cpp server",
    "openai": "OpenAI-compatible service",
}


class Backoff:
    """Exponential delays with jitter: start, start*factor, ... capped at cap."""

    def __init__(self, start: float = 0.25, factor: float = 1.6, cap: float = 1.5,
                 rng: random.Random | None = None):
        self.start, self.factor, self.cap = start, factor, cap
        self._rng = rng or random.Random()
        self._next = start

    def reset(self) -> None:
        self._next = self.start

    def next(self) -> float:
        """The next delay: between half and all of the current step, so pollers spread out."""
        step = self._next
        self._next = min(self.cap, self._next * self.factor)
        return self._rng.uniform(step / 2, step)


# --- error bodies -------------------------------------------------------------------------

_TAGS = re.compile(r"<[^>]+>")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_SPACES = re.compile(r"\s+")


def _text_of(value: Any) -> str | None:
    """Pull a message out of the JSON error shapes the servers use."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        for key in ("message", "detail", "error", "msg"):
            if key in value:
                found = _text_of(value[key])
                if found:
                    return found
        return None
    if isinstance(value, list):
        parts = []
        for item in value:
            text = _text_of(item)
            if text and isinstance(item, dict) and isinstance(item.get("loc"), list):
                where = ".".join(str(p) for p in item["loc"] if p != "body")
                text = f"{where}: {text}" if where else text
            if text:
                parts.append(text)
        return "; ".join(parts) or None
    return None


def read_error_body(body: bytes, content_type: str = "") -> str:
    """A readable one-line message from any error body; never raises."""
    try:
        text = body.decode("utf-8", errors="replace").strip()
        message = None
        if text[:1] in "{[" and text:
            try:
                message = _text_of(json.loads(text))
            except ValueError:
                message = None
        if message is None and ("html" in content_type.lower() or text[:1] == "<"):
            title = re.search(r"<title[^>]*>(.*?)</title>", text, re.I | re.S)
            message = title.group(1) if title and title.group(1).strip() else _TAGS.sub(" ", text)
            message = html.unescape(message)
        message = _SPACES.sub(" ", message if message is not None else text).strip()
        if len(message) > 300:
            message = message[:297] + "..."
        return message or "(empty answer)"
    except Exception:  # the reader of a broken body must never be what breaks
        return "(unreadable answer)"


def _silent_wav() -> bytes:
    import io
    import wave

    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(16000)
        writer.writeframes(b"\0\0" * int(16000 * SILENT_WAV_SECONDS))
    return buffer.getvalue()


# --- the client ---------------------------------------------------------------------------

class ServerClient:
    """Talks to one transcription server over one kept-alive connection."""

    def __init__(self, settings: Settings, transport: httpx.BaseTransport | None = None):
        self.settings = settings
        headers = {"User-Agent": "turbo-whisper"}
        if settings.api_key:
            headers["Authorization"] = f"Bearer {settings.api_key}"
        self._http = httpx.Client(
            base_url=settings.server_url, headers=headers, transport=transport,
            timeout=httpx.Timeout(10.0, connect=5.0),
            limits=httpx.Limits(max_connections=4, max_keepalive_connections=2,
                                keepalive_expiry=600.0),
        )
        self.kind: str | None = None
        self.ready = False
        self._cancel = threading.Event()
        self._status = EngineStatus(Phase.STARTING, f"Connecting to the server at {self.url}.")

    @property
    def url(self) -> str:
        return self.settings.server_url

    @property
    def model(self) -> str:
        return self.settings.model

    @property
    def status(self) -> EngineStatus:
        return self._status

    def close(self) -> None:
        self._cancel.set()
        self._http.close()

    def cancel(self) -> None:
        """Make a waiting wait_until_ready() give up soon (at shutdown)."""
        self._cancel.set()

    # --- readiness ------------------------------------------------------------------------

    def _say(self, on_status: StatusCallback | None, phase: Phase, detail: str) -> EngineStatus:
        status = EngineStatus(phase, detail, self.kind)
        changed = status != self._status
        self._status = status
        if changed and on_status is not None:
            on_status(status)
        return status

    def wait_until_ready(self, on_status: StatusCallback | None = None,
                         deadline: float | None = None) -> None:
        """Return once the server can transcribe with the model; ServerNotReady at the deadline."""
        if deadline is None and self.settings.ready_timeout > 0:
            deadline = time.monotonic() + self.settings.ready_timeout
        backoff = Backoff()
        # A refused connection costs the server nothing: look more often, so a dictation goes
        # out well within a second of the port opening.
        refused = Backoff(start=0.25, factor=1.5, cap=0.5)
        while not self._cancel.is_set():
            status = self.check(on_status, deadline, prepare=True)
            if status.phase is Phase.READY:
                return
            if status.phase is Phase.FAILED:
                raise ServerError(status.detail, retryable=False)
            if deadline is not None and time.monotonic() >= deadline:
                break
            cheap = status.phase in (Phase.STARTING, Phase.UNREACHABLE)
            delay = (refused if cheap else backoff).next()
            if deadline is not None:
                delay = min(delay, max(0.0, deadline - time.monotonic()))
            self._cancel.wait(delay)
        raise ServerNotReady(
            f"The server at {self.url} did not become ready in time ({self._status.detail}). "
            "Your recordings are kept: `turbo-whisper retry` sends them once it is ready, and so "
            "does the next start of the client (setting 'ready_timeout' sets the patience)."
        )

    def check(self, on_status: StatusCallback | None = None, deadline: float | None = None,
              prepare: bool = False) -> EngineStatus:
        """One look at the server. With prepare, also download and load the model if needed."""
        try:
            return self._check(on_status, deadline, prepare)
        except httpx.TimeoutException as exc:
            if self._status.phase not in (Phase.DOWNLOADING, Phase.LOADING):
                return self._unreachable(on_status, exc)
            # The wait for a download or load ran out; the server carries on with it.
            self.ready = False
            return self._status
        except httpx.RequestError as exc:  # also an undecodable answer, not only the network
            return self._unreachable(on_status, exc)

    def _unreachable(self, on_status: StatusCallback | None,
                     exc: httpx.RequestError) -> EngineStatus:
        self.ready = False
        if self.kind is None:
            detail = f"Server at {self.url} is starting (not answering yet)."
        else:
            detail = f"Server at {self.url} is not answering ({_transport_words(exc)})."
        phase = Phase.STARTING if self.kind is None else Phase.UNREACHABLE
        return self._say(on_status, phase, detail)

    def _check(self, on_status: StatusCallback | None, deadline: float | None,
               prepare: bool) -> EngineStatus:
        health = self._http.get("/health")
        if health.status_code == 503 or health.status_code in (502, 504):
            self.kind = self.kind or ("whispercpp" if "loading" in health.text else None)
            words = self._words(health)
            phase = Phase.LOADING if "loading" in words.lower() else Phase.STARTING
            what = "loading its model" if phase is Phase.LOADING else f"starting ({words})"
            return self._say(on_status, phase, f"Server at {self.url} is {what}.")
        if health.status_code in (401, 403):
            return self._say(on_status, Phase.FAILED, self._auth_words(health))
        self.kind = self._detect_kind(health)
        if self.kind == "speaches":
            return self._check_speaches(on_status, deadline, prepare)
        if self.kind == "fedirz":
            return self._check_fedirz(on_status, deadline, prepare)
        if self.kind == "openai":
            return self._check_openai(on_status)
        self.ready = True
        return self._say(on_status, Phase.READY, f"Ready: {self._name()} at {self.url}.")

    def _detect_kind(self, health: httpx.Response) -> str:
        if health.status_code == 404:
            if self._http.get("/v1/models").status_code == 404:
                return "whispercpp" if self._http.post("/inference").status_code != 404 else "openai"
            return "openai"
        if health.status_code >= 400:
            words = self._words(health)
            raise httpx.RemoteProtocolError(f"health check answered {health.status_code}: {words}")
        try:
            body = health.json()
        except ValueError:
            return "fedirz"  # plain-text "OK"
        if isinstance(body, dict) and "status" in body:
            return "whispercpp"
        return "speaches"

    def _words(self, response: httpx.Response) -> str:
        """The server's message, with the API key blanked out should the server echo it."""
        body, key = response.content, self.settings.api_key
        if key:
            body = body.replace(key.encode("utf-8"), b"(hidden)")
        return read_error_body(body, response.headers.get("content-type", ""))

    def _name(self) -> str:
        return KIND_NAMES.get(self.kind or "", "server")

    def _auth_words(self, response: httpx.Response) -> str:
        words = self._words(response)
        return (
            f"The server at {self.url} refused the API key ({response.status_code}: {words}). "
            "Check the 'api_key' setting."
        )

    def _timeout_until(self, deadline: float | None) -> httpx.Timeout:
        remaining = None if deadline is None else max(1.0, deadline - time.monotonic())
        return httpx.Timeout(remaining, connect=5.0)

    def _loaded_models(self) -> list[str] | None:
        response = self._http.get("/api/ps")
        if response.status_code != 200:
            return None
        try:
            return [str(m) for m in response.json().get("models", [])]
        except (ValueError, AttributeError):
            return None

    def _load(self, on_status: StatusCallback | None, deadline: float | None,
              phase: Phase, words: str) -> httpx.Response:
        self._say(on_status, phase, words)
        return self._http.post(f"/api/ps/{quote(self.model, safe='/')}",
                               timeout=self._timeout_until(deadline))

    def _check_fedirz(self, on_status: StatusCallback | None, deadline: float | None,
                      prepare: bool) -> EngineStatus:
        loaded = self._loaded_models()
        if loaded is not None and self.model in loaded:
            self.ready = True
            return self._say(on_status, Phase.READY, f"Ready: {self._name()} with {self.model}.")
        if not prepare:
            return self._say(on_status, Phase.LOADING,
                             f"Server is up; model {self.model} is not loaded yet.")
        words = (f"Server is up; downloading or loading model {self.model} "
                 "(the first use downloads it, which can take minutes).")
        if loaded is not None:
            response = self._load(on_status, deadline, Phase.DOWNLOADING, words)
            if response.status_code in (200, 201, 409):
                self.ready = True
                return self._say(on_status, Phase.READY, f"Ready: {self._name()} with {self.model}.")
        # No model-management route: a short silent transcription makes it fetch the model.
        self._say(on_status, Phase.DOWNLOADING, words)
        self._post_audio(_silent_wav(), self._timeout_until(deadline))
        self.ready = True
        return self._say(on_status, Phase.READY, f"Ready: {self._name()} with {self.model}.")

    def _check_speaches(self, on_status: StatusCallback | None, deadline: float | None,
                        prepare: bool) -> EngineStatus:
        model_path = f"/v1/models/{quote(self.model, safe='/')}"
        if self._http.get(model_path).status_code == 404:
            if not prepare:
                return self._say(on_status, Phase.DOWNLOADING,
                                 f"Model {self.model} is not installed on the server yet.")
            self._say(on_status, Phase.DOWNLOADING, f"Downloading model {self.model}.")
            response = self._http.post(model_path, timeout=self._timeout_until(deadline))
            if response.status_code >= 400:
                return self._failed_or_waiting(on_status, response, "download the model")
        loaded = self._loaded_models()
        if loaded is not None and self.model not in loaded:
            if not prepare:
                return self._say(on_status, Phase.LOADING,
                                 f"Model {self.model} is installed but not loaded.")
            response = self._load(on_status, deadline, Phase.LOADING,
                                  f"Loading model {self.model}.")
            if response.status_code >= 400 and response.status_code != 409:
                return self._failed_or_waiting(on_status, response, "load the model")
        self.ready = True
        return self._say(on_status, Phase.READY, f"Ready: {self._name()} with {self.model}.")

    def _check_openai(self, on_status: StatusCallback | None) -> EngineStatus:
        response = self._http.get("/v1/models")
        if response.status_code in (401, 403):
            return self._say(on_status, Phase.FAILED, self._auth_words(response))
        self.ready = True
        return self._say(on_status, Phase.READY, f"Ready: {self._name()} at {self.url}.")

    def _failed_or_waiting(self, on_status: StatusCallback | None, response: httpx.Response,
                           action: str) -> EngineStatus:
        words = self._words(response)
        detail = f"The server could not {action} {self.model} ({response.status_code}: {words})."
        phase = Phase.FAILED if response.status_code in (400, 401, 403, 422) else Phase.STARTING
        return self._say(on_status, phase, detail)

    # --- transcription --------------------------------------------------------------------

    def transcription_timeout(self, seconds: float) -> httpx.Timeout:
        """Long audio gets longer: the base timeout plus twice the audio's length."""
        read = self.settings.request_timeout + 2.0 * seconds
        return httpx.Timeout(read, connect=5.0, write=max(30.0, read))

    def transcribe(self, audio: bytes, *, duration_s: float, filename: str = "audio.wav") -> str:
        """The transcript of one clip; ServerError in words when the server cannot give it."""
        try:
            response = self._post_audio(audio, self.transcription_timeout(duration_s), filename)
        except httpx.TimeoutException as exc:
            raise ServerError(
                f"The server took longer than {self.transcription_timeout(duration_s).read:.0f} s "
                f"to transcribe {duration_s:.0f} s of audio; the recording is kept and will be "
                "sent again (raise 'request_timeout' for a slow server).",
            ) from exc
        except httpx.DecodingError as exc:
            raise ServerError(
                f"The server's answer could not be decoded ({exc}); the recording is kept and "
                "will be sent again."
            ) from exc
        except httpx.RequestError as exc:
            self.ready = False
            raise ServerError(
                f"The connection to the server at {self.url} failed ({_transport_words(exc)}); "
                "the recording is kept and will be sent when it is back."
            ) from exc
        return self._transcript_of(response)

    def _post_audio(self, audio: bytes, timeout: httpx.Timeout,
                    filename: str = "audio.wav") -> httpx.Response:
        mime = "audio/flac" if filename.endswith(".flac") else "audio/wav"
        data = {"response_format": "json", "temperature": "0"}
        if self.kind == "whispercpp":
            path = "/inference"
        else:
            path = "/v1/audio/transcriptions"
            data["model"] = self.model
        if self.settings.language:
            data["language"] = self.settings.language
        if self.settings.prompt:
            data["prompt"] = self.settings.prompt
        form, form_type = multipart_form(data, filename, audio, mime)
        request = self._http.build_request("POST", path, content=form, timeout=timeout,
                                           headers={"Content-Type": form_type})
        response = self._http.send(request, stream=True)
        try:
            body = _read_at_most(response, MAX_ANSWER_BYTES)
        finally:
            response.close()
        content_type = response.headers.get("content-type", "")
        return httpx.Response(response.status_code, headers={"content-type": content_type},
                              content=body, request=request)

    def _transcript_of(self, response: httpx.Response) -> str:
        code = response.status_code
        if code >= 400:
            words = self._words(response)
            if code == 404 and "not installed" in words.lower():
                self.ready = False  # speaches lost the model: prepare it again, then resend
            raise ServerError(_status_words(code, words), retryable=_retryable(code, words),
                              status_code=code)
        content_type = response.headers.get("content-type", "")
        if "json" not in content_type and not response.text.lstrip().startswith("{"):
            return response.text
        try:
            body = response.json()
            if isinstance(body, dict) and "text" not in body and "error" in body:
                # whisper.cpp reports request errors with status 200 and an "error" field.
                words = self._words(response)
                retryable = "loading" in words.lower()
                raise ServerError(f"The server reported an error: {words}. The recording is kept "
                                  f"and {_what_next(retryable)}.", retryable=retryable)
            text = body["text"]
        except (ValueError, KeyError, TypeError):
            # Not quoted: a broken answer with status 200 is most likely part of a transcript,
            # and transcripts stay out of the log.
            raise ServerError(
                "The server answered with something that is not a transcript "
                f"({len(response.content)} bytes of {content_type or 'unlabelled data'} without a "
                "readable \"text\" field); the recording is kept and will be sent again."
            ) from None
        if not isinstance(text, str):
            raise ServerError("The server's transcript is not text; the recording is kept and "
                              "will be sent again.")
        # JSON can carry lone surrogates ("\ud800"), which no clipboard can take.
        return _LONE_SURROGATE.sub("\ufffd", text)


def multipart_form(fields: dict[str, str], filename: str, audio: bytes,
                   mime: str) -> tuple[bytes, str]:
    """The form as one buffer, so the request leaves in two writes (headers, body).

    httpx writes each piece of a multipart form separately: about twenty small writes per
    request, each a TCP segment the server wakes up for.
    """
    boundary = os.urandom(16).hex()
    pieces = []
    for name, value in fields.items():
        pieces.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                      .encode() + value.encode() + b"\r\n")
    safe_name = filename.replace('"', "").replace("\r", "").replace("\n", "")
    pieces.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
                  f'filename="{safe_name}"\r\nContent-Type: {mime}\r\n\r\n'.encode())
    pieces.append(audio)
    pieces.append(f"\r\n--{boundary}--\r\n".encode())
    return b"".join(pieces), f"multipart/form-data; boundary={boundary}"


def _read_at_most(response: httpx.Response, limit: int) -> bytes:
    """The body of a streamed answer; ServerError when it is larger than any transcript is."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(f"it announced {int(declared) / 1e6:.0f} MB")
    chunks, size = [], 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > limit:
            raise _too_large("it kept sending")
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(how: str) -> ServerError:
    return ServerError(
        f"The server's answer is larger than {MAX_ANSWER_BYTES // (1024 * 1024)} MB ({how}), "
        "which no transcript is, so it was not read. The recording is kept and will be sent again."
    )


def _what_next(retryable: bool) -> str:
    return ("will be sent again" if retryable
            else "stays pending; send it again with `turbo-whisper retry`")


def _retryable(code: int, words: str) -> bool:
    if code == 404:
        return "not installed" in words.lower()
    return code in (408, 409, 425, 429) or code >= 500


def _status_words(code: int, words: str) -> str:
    meaning = {
        400: "the server could not use the request",
        401: "the server wants a valid API key (setting 'api_key')",
        403: "the server refused the API key (setting 'api_key')",
        404: "the server has no such model or route",
        413: "the recording is larger than the server accepts",
        422: "the server rejected the request's fields",
        429: "the server is rate-limiting requests",
        500: "the server failed while transcribing",
        502: "the server is not reachable behind its proxy",
        503: "the server is busy starting, downloading or loading its model",
        504: "the server's proxy timed out",
    }.get(code, "the server answered with an error")
    return (f"Transcription failed: {meaning} (HTTP {code}: {words}). The recording is kept "
            f"and {_what_next(_retryable(code, words))}.")


def _transport_words(exc: httpx.RequestError) -> str:
    if isinstance(exc, httpx.DecodingError):
        return "its answer could not be decoded"
    if isinstance(exc, httpx.ConnectError):
        return "connection refused or host unreachable"
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError)):
        return "the connection was closed mid-answer"
    return type(exc).__name__
