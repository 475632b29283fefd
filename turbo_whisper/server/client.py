"""The HTTP client for one transcription server: readiness through a cold start, transcription.

The dialect is found once per connection from evidence (detection.py), again after the
connection was lost, and again when the transcription route answers a plain 404. Waiting is
honest: a server that refuses connections for long is named as "nothing answers", and a
server that reports a fault is quoted, while the client keeps waiting for it. httpx's
timeouts bound each read, so every request also has a deadline for the whole of it, kept
by one alarm thread that shuts the request's connection when it passes.
"""

from __future__ import annotations

import heapq
import io
import itertools
import logging
import os
import random
import socket
import threading
import time
import wave
import weakref
from collections.abc import Callable
from urllib.parse import urlsplit

import httpx

from turbo_whisper.config import Settings
from turbo_whisper.errors import Reason, ServerError, ServerNotReady
from turbo_whisper.server import answers, detection, dialects
from turbo_whisper.server.dialects import Dialect
from turbo_whisper.status import EngineStatus, Phase, StatusCallback

log = logging.getLogger("turbo_whisper.server")

SILENT_WAV_SECONDS = 0.5
NOTHING_ANSWERS_AFTER = 10.0  # seconds of refused connections before saying so
PROBE_BYTES = 2 * 1024 * 1024  # an OpenAPI document or a model listing; more is not read
CONNECT_SECONDS = 5.0
WAITING = (Phase.STARTING, Phase.UNREACHABLE, Phase.FAULT)


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


def silent_wav(seconds: float = SILENT_WAV_SECONDS) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(16000)
        writer.writeframes(b"\0\0" * int(16000 * seconds))
    return buffer.getvalue()


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


def is_loopback(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return host in ("localhost", "::1") or host.startswith("127.")


class PastDeadline(httpx.ReadTimeout):
    """The whole request, not one read, took longer than its deadline."""


class Watchdog:
    """Shuts a request's connection at its deadline, so a blocked read ends there.

    The connection is known once the answer's headers are in, or from the start when the
    request opened it. A kept-alive connection reused before its headers came is not named
    by httpx; then `idle` gives the client's connections no other request is known to use.
    """

    def __init__(self, deadline: float | None, idle: Callable[[Watchdog], list] = lambda _: []):
        self.fired = False
        self._idle: Callable[[Watchdog], list] | None = idle
        self._lock = threading.Lock()
        self._streams: list = []
        if deadline is not None:
            ALARMS.add(deadline, self)

    @property
    def streams(self) -> list:
        with self._lock:
            return list(self._streams)

    def watch(self, stream: object) -> None:
        """Shut this connection too at the deadline (at once if it passed)."""
        with self._lock:
            self._streams.append(stream)
            fired = self.fired
        if fired:
            _shut(stream)

    def cancel(self) -> None:
        """The request is over: nothing to shut any more."""
        with self._lock:
            self._idle, self._streams = None, []

    def fire(self) -> None:
        with self._lock:
            if self._idle is None:
                return  # cancelled
            self.fired = True
            streams, idle = list(self._streams), self._idle
        for stream in streams or idle(self):
            _shut(stream)


class Alarms:
    """One thread that fires the watchdogs whose deadline has come (a thread of its own per
    request would cost a third of a millisecond each)."""

    def __init__(self) -> None:
        self._due = threading.Condition()
        self._heap: list[tuple[float, int, Watchdog]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def add(self, deadline: float, watchdog: Watchdog) -> None:
        with self._due:
            heapq.heappush(self._heap, (deadline, next(self._order), watchdog))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="request deadlines",
                                                daemon=True)
                self._thread.start()
            self._due.notify()

    def _run(self) -> None:
        while True:
            with self._due:
                while not self._heap or self._heap[0][0] > time.monotonic():
                    self._due.wait(self._heap[0][0] - time.monotonic() if self._heap else None)
                watchdog = heapq.heappop(self._heap)[2]
            watchdog.fire()


ALARMS = Alarms()


def _shut(stream: object) -> None:
    """Shut a network stream's socket both ways: a read blocked on it returns at once."""
    get_info = getattr(stream, "get_extra_info", None)
    sock = get_info("socket") if get_info is not None else None
    if isinstance(sock, socket.socket):
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already closed


class ServerClient:
    """Talks to one transcription server over one kept-alive connection."""

    def __init__(self, settings: Settings, transport: httpx.BaseTransport | None = None):
        self.settings = settings
        headers = {"User-Agent": "turbo-whisper"}
        if settings.api_key:
            headers["Authorization"] = f"Bearer {settings.api_key}"
        self._http = httpx.Client(
            base_url=settings.server_url, headers=headers, transport=transport,
            timeout=httpx.Timeout(10.0, connect=CONNECT_SECONDS),
            limits=httpx.Limits(max_connections=4, max_keepalive_connections=2,
                                keepalive_expiry=600.0),
        )
        self.loopback = is_loopback(settings.server_url)
        self.ready = False
        self.evidence: detection.Evidence | None = None
        self.decision: detection.Decision | None = None
        self._dialect: Dialect | None = None
        self._cancel = threading.Event()
        self._status = EngineStatus(Phase.STARTING, f"Connecting to the server at {self.url}.")
        self._on_status: StatusCallback | None = None
        self._deadline: float | None = None
        self._answered = False  # the server answered at least once
        self._refused_since: float | None = None
        self._waiting_since: float | None = None  # refused or faulty since, with no READY between
        self._last_was_error = False
        self._route_gone = False  # a plain 404 from the route was seen since the last success
        self._failure = Reason.FAULT
        self._opened = itertools.count()
        self._connections_opened = 0
        self._requests = threading.local()  # the watchdog of this thread's request
        self._streams: weakref.WeakSet = weakref.WeakSet()  # the connections it opened
        self._watchdogs: set[Watchdog] = set()  # of the requests under way
        self._watch_lock = threading.Lock()

    @property
    def connections_opened(self) -> int:
        """How many TCP connections this client has opened (kept-alive ones are reused)."""
        return self._connections_opened

    def _trace(self, event: str, info: dict) -> None:
        """httpcore's trace hook: notes each new connection, for the count and the deadline."""
        if event == "connection.connect_tcp.complete":
            self._connections_opened = next(self._opened) + 1
            self._watch(info.get("return_value"))

    def _watch(self, stream: object) -> None:
        """The connection the request of this thread uses: shut at its deadline."""
        watchdog = getattr(self._requests, "watchdog", None)
        if stream is None or watchdog is None:
            return
        try:
            self._streams.add(stream)
        except TypeError:
            pass  # a transport whose streams cannot be weakly referenced: not kept
        watchdog.watch(stream)

    def _idle_streams(self, asking: Watchdog) -> list:
        """The connections of this client that no other request under way is known to use."""
        with self._watch_lock:
            busy = {id(stream) for other in self._watchdogs if other is not asking
                    for stream in other.streams}
            return [stream for stream in list(self._streams) if id(stream) not in busy]

    @property
    def url(self) -> str:
        return self.settings.server_url

    @property
    def model(self) -> str:
        return self.settings.model

    @property
    def status(self) -> EngineStatus:
        return self._status

    @property
    def kind(self) -> str | None:
        """The dialect's name ("openai", "fedirz", "speaches", "whispercpp"), once known."""
        return self._dialect.name if self._dialect else None

    @kind.setter
    def kind(self, name: str | None) -> None:
        """Take the dialect as given (its usual route and fields), or forget it with None."""
        self._dialect = dialects.assumed(name, self.model) if name else None

    @property
    def dialect(self) -> Dialect | None:
        return self._dialect

    def close(self) -> None:
        self._cancel.set()
        self._http.close()

    def cancel(self) -> None:
        """Make a waiting wait_until_ready() give up soon (at shutdown)."""
        self._cancel.set()

    # --- what the dialects use ------------------------------------------------------------

    def say(self, phase: Phase, detail: str) -> EngineStatus:
        status = EngineStatus(phase, detail, self.kind)
        changed = status != self._status
        self._status = status
        if phase in WAITING:
            self._waiting_since = self._waiting_since or time.monotonic()
        elif phase is Phase.READY:
            self._waiting_since = None
        if changed:
            log.debug("Server status: %s", detail)
            if self._on_status is not None:
                self._on_status(status)
        return status

    def ready_status(self) -> EngineStatus:
        assert self._dialect is not None
        self.ready = True
        model = self._dialect.model
        with_model = f" with {model}" if model else " with its default model"
        return self.say(Phase.READY, f"Ready: {self._dialect.label} at {self.url}{with_model}.")

    def words(self, response: httpx.Response) -> str:
        """The server's message, with the API key blanked out should the server echo it."""
        body, key = response.content, self.settings.api_key
        if key:
            body = body.replace(key.encode("utf-8"), b"(hidden)")
        return answers.read_error_body(body, response.headers.get("content-type", ""))

    def get(self, path: str) -> httpx.Response:
        """A management route's answer (bounded); anything unusual only means "no such route"."""
        try:
            return self._request("GET", path, limit=PROBE_BYTES)
        except ServerError:  # larger than any listing: not read, and no evidence
            return httpx.Response(413, request=self._http.build_request("GET", path))

    def post(self, path: str, long: bool = False) -> httpx.Response:
        """An empty POST; `long` for a download or load that may take until the deadline."""
        timeout = self._timeout_until() if long else None
        return self._request("POST", path, limit=PROBE_BYTES, timeout=timeout)

    def warm_up(self, phase: Phase, detail: str) -> None:
        """A short silent transcription through the real route: proof that the model works."""
        assert self._dialect is not None
        self.say(phase, detail)
        response = self._post_audio(self._dialect, silent_wav(), self._timeout_until(),
                                    "warm-up.wav")
        if response.status_code >= 500:
            raise ServerError(f"The server at {self.url} reports a fault: {self.words(response)}",
                              status_code=response.status_code, reason=Reason.FAULT)
        self._dialect.transcript(self._accepted(self._dialect, response))

    # --- readiness ------------------------------------------------------------------------

    def wait_until_ready(self, on_status: StatusCallback | None = None,
                         deadline: float | None = None, give_up_after: float | None = None) -> None:
        """Return once the server can transcribe with the model; ServerNotReady at the deadline.

        With `give_up_after`, a server refusing connections or reporting a fault for that
        many seconds ends the wait with a ServerError that says so.
        """
        if deadline is None and self.settings.ready_timeout > 0:
            deadline = time.monotonic() + self.settings.ready_timeout
        backoff = Backoff()
        # A refused connection costs the server nothing: look more often, so a dictation goes
        # out well within a second of the port opening.
        refused = Backoff(start=0.25, factor=1.5, cap=0.5)
        faulty = Backoff(start=1.0, factor=2.0, cap=30.0)
        while not self._cancel.is_set():
            status = self.check(on_status, deadline, prepare=True)
            if status.phase is Phase.READY:
                return
            if status.phase is Phase.FAILED:
                raise ServerError(status.detail, retryable=False, reason=self._failure)
            self._give_up_if_stuck(status, give_up_after)
            if deadline is not None and time.monotonic() >= deadline:
                break
            delay = {Phase.STARTING: refused, Phase.UNREACHABLE: refused,
                     Phase.FAULT: faulty}.get(status.phase, backoff).next()
            if deadline is not None:
                delay = min(delay, max(0.0, deadline - time.monotonic()))
            self._cancel.wait(delay)
        raise ServerNotReady(f"The server at {self.url} did not become ready in time "
                             f"({self._status.detail})", reason=Reason.NOT_READY)

    def _give_up_if_stuck(self, status: EngineStatus, give_up_after: float | None) -> None:
        if give_up_after is None or self._waiting_since is None or status.phase not in WAITING:
            return
        if time.monotonic() - self._waiting_since < give_up_after:
            return
        if status.phase is Phase.FAULT:
            raise ServerError(status.detail, reason=Reason.FAULT)
        raise ServerError(self.nothing_answers(), reason=Reason.UNREACHABLE)

    def nothing_answers(self) -> str:
        return (f"Nothing answers at {self.url}: start the server (`turbo-whisper server up`) "
                "or check `server_url`.")

    def check(self, on_status: StatusCallback | None = None, deadline: float | None = None,
              prepare: bool = False) -> EngineStatus:
        """One look at the server. With prepare, also download, load and warm up the model."""
        self._on_status, self._deadline = on_status, deadline
        try:
            return self._check(prepare)
        except ServerError as exc:
            return self._trouble(exc)
        except httpx.TimeoutException as exc:
            if self._status.phase not in (Phase.DOWNLOADING, Phase.LOADING):
                return self._unreachable(exc)
            # The wait for a download or load ran out; the server carries on with it.
            self.ready = False
            return self._status
        except httpx.RequestError as exc:  # also an undecodable answer, not only the network
            return self._unreachable(exc)
        except Exception as exc:  # an answer of a shape nothing above foresaw: keep waiting
            return self._unreadable(exc)

    def _unreadable(self, exc: Exception) -> EngineStatus:
        log.warning("Could not read an answer of the server at %s: %s: %s", self.url,
                    type(exc).__name__, str(exc)[:200])
        self.ready, self._dialect, self._failure = False, None, Reason.BAD_ANSWER
        return self.say(Phase.FAULT, f"The server at {self.url} gave an answer the client cannot "
                        f"read ({type(exc).__name__}); still waiting for a usable answer.")

    def _trouble(self, exc: ServerError) -> EngineStatus:
        self.ready = False
        self._failure = exc.reason
        if exc.retryable and exc.reason in (Reason.FAULT, Reason.BAD_ANSWER):
            return self.say(Phase.FAULT, str(exc))
        if exc.retryable:
            return self.say(Phase.STARTING, str(exc))
        return self.say(Phase.FAILED, str(exc))

    def _unreachable(self, exc: httpx.RequestError) -> EngineStatus:
        self.ready = False
        self._dialect = None  # a new connection may be another server: detect it again
        now = time.monotonic()
        if isinstance(exc, httpx.ConnectError):
            self._refused_since = self._refused_since or now
        if self._refused_since is not None and now - self._refused_since >= NOTHING_ANSWERS_AFTER:
            detail = f"{self.nothing_answers()} Still waiting for it."
            return self.say(Phase.UNREACHABLE, detail)
        if not self._answered:
            return self.say(Phase.STARTING, f"Server at {self.url} is starting (not answering yet).")
        words = answers.transport_words(exc)
        return self.say(Phase.UNREACHABLE, f"Server at {self.url} is not answering ({words}).")

    def _check(self, prepare: bool) -> EngineStatus:
        health = self._request("GET", "/health", limit=64 * 1024)
        self._refused_since = None
        self._answered = True
        self._refuse_redirect_or_key(health)
        code = health.status_code
        if code in (502, 503, 504):
            words = self.words(health)
            if "loading" in words.lower():
                return self.say(Phase.LOADING, f"Server at {self.url} is loading its model.")
            return self.say(Phase.STARTING, f"Server at {self.url} is starting ({words}).")
        if code >= 500:
            return self.say(Phase.FAULT, f"The server at {self.url} reports a fault: "
                            f"{self.words(health)}")
        if self._dialect is None:
            self._detect(health)
        assert self._dialect is not None
        return self._dialect.prepare(self, prepare)

    def _detect(self, health: httpx.Response) -> None:
        self.evidence = detection.gather(self.get, self._probe, self.model, health)
        self.decision = detection.decide(self.evidence, self.settings.server_api)
        if self.decision.dialect is None:
            raise ServerError(f"The server at {self.url} has no transcription route: "
                              f"{self.decision.why}. Check 'server_url', or set 'server_api'.",
                              retryable=False, reason=Reason.NO_ROUTE)
        self._dialect = dialects.build(self.decision, self.model, self.evidence.models)
        log.info("The server at %s is a %s (%s).", self.url, self._dialect.label, self.decision.why)

    def _probe(self, path: str) -> httpx.Response:
        """An empty POST to a transcription route; a redirect or a refused key ends detection."""
        response = self._request("POST", path, limit=PROBE_BYTES)
        self._refuse_redirect_or_key(response)
        return response

    def _refuse_redirect_or_key(self, response: httpx.Response) -> None:
        if 300 <= response.status_code < 400:
            raise answers.redirect(response, self.url)
        if response.status_code in (401, 403):
            raise answers.key_refused(response.status_code, self.words(response), self.url)

    def _timeout_until(self) -> httpx.Timeout:
        deadline = self._deadline
        remaining = None if deadline is None else max(1.0, deadline - time.monotonic())
        return httpx.Timeout(remaining, connect=CONNECT_SECONDS)

    # --- requests -------------------------------------------------------------------------

    def _request(self, method: str, path: str, *, limit: int, content: bytes | None = None,
                 headers: dict[str, str] | None = None, timeout: httpx.Timeout | None = None,
                 whole: float | None = None) -> httpx.Response:
        """One request with its body read (at most `limit` bytes), all of it within `whole`
        seconds (by default the connect and read timeouts together). A connection the server
        closed after an error answer (uvicorn does after a 500) is tried once more, anew."""
        timeout = self._http.timeout if timeout is None else timeout
        if whole is None and timeout.read is not None:
            whole = (timeout.connect or 0.0) + timeout.read
        deadline = None if whole is None else time.monotonic() + whole
        try:
            return self._send_once(method, path, limit, content, headers, timeout, deadline)
        except (httpx.ReadError, httpx.RemoteProtocolError):
            if not self._last_was_error:
                raise
            self._last_was_error = False
            return self._send_once(method, path, limit, content, headers, timeout, deadline)

    def _send_once(self, method: str, path: str, limit: int, content: bytes | None,
                   headers: dict[str, str] | None, timeout: httpx.Timeout,
                   deadline: float | None) -> httpx.Response:
        request = self._http.build_request(method, path, content=content, headers=headers,
                                           timeout=timeout, extensions={"trace": self._trace})
        # httpx limits each read, not the answer: a server trickling a byte a second never
        # times out. At the deadline the connection is shut, wherever the request is.
        watchdog = self._requests.watchdog = Watchdog(deadline, self._idle_streams)
        with self._watch_lock:
            self._watchdogs.add(watchdog)
        try:
            response = self._http.send(request, stream=True)
            try:
                self._watch(response.extensions.get("network_stream"))
                body = answers.read_at_most(response, limit)
            finally:
                response.close()
        except httpx.TransportError as exc:
            if watchdog.fired:
                raise PastDeadline("the whole request took too long", request=request) from exc
            raise
        finally:
            watchdog.cancel()
            self._requests.watchdog = None
            with self._watch_lock:
                self._watchdogs.discard(watchdog)
        self._last_was_error = response.status_code >= 400
        kept = {name: response.headers[name] for name in ("content-type", "location", "server")
                if name in response.headers}
        return httpx.Response(response.status_code, headers=kept, content=body, request=request)

    # --- transcription --------------------------------------------------------------------

    def transcription_timeout(self, seconds: float) -> httpx.Timeout:
        """Long audio gets longer: the base timeout plus twice the audio's length."""
        read = self._transcription_read(seconds)
        return httpx.Timeout(read, connect=CONNECT_SECONDS, write=max(30.0, read))

    def transcription_deadline(self, seconds: float) -> float:
        """Seconds for the whole request: connecting, the upload (a second per second of
        audio, generous on any network), and the answer within the read timeout."""
        return CONNECT_SECONDS + seconds + self._transcription_read(seconds)

    def _transcription_read(self, seconds: float) -> float:
        return self.settings.request_timeout + 2.0 * seconds

    def transcribe(self, audio: bytes, *, duration_s: float, filename: str = "audio.wav") -> str:
        """The transcript of one clip; ServerError with a reason when the server cannot give it."""
        dialect = self._dialect
        if dialect is None:
            status = self.check()
            if self._dialect is None:
                raise ServerError(status.detail, reason=Reason.UNREACHABLE)
            dialect = self._dialect
        timeout = self.transcription_timeout(duration_s)
        whole = self.transcription_deadline(duration_s)
        try:
            response = self._post_audio(dialect, audio, timeout, filename, whole)
        except PastDeadline as exc:
            raise ServerError(f"The server did not answer in time: {duration_s:.0f} s of audio "
                              f"may take up to {whole:.0f} s to send and transcribe, and its "
                              "answer had not come in full by then.",
                              reason=Reason.TIMEOUT) from exc
        except httpx.TimeoutException as exc:
            raise ServerError(f"The server took longer than {timeout.read:.0f} s to transcribe "
                              f"{duration_s:.0f} s of audio.", reason=Reason.TIMEOUT) from exc
        except httpx.DecodingError as exc:
            raise ServerError(f"The server's answer could not be decoded ({exc}).",
                              reason=Reason.BAD_ANSWER) from exc
        except httpx.RequestError as exc:
            self.ready, self._dialect = False, None
            reason = (Reason.UNREACHABLE if isinstance(exc, httpx.ConnectError)
                      else Reason.CONNECTION_LOST)
            raise ServerError(f"The connection to the server at {self.url} failed "
                              f"({answers.transport_words(exc)}).", reason=reason) from exc
        try:
            transcript = dialect.transcript(self._accepted(dialect, response))
        except ServerError:
            raise
        except Exception as exc:  # an answer of a shape nothing foresaw is a bad answer
            log.warning("Could not read a transcription answer: %s", type(exc).__name__)
            raise ServerError(f"The server's answer could not be read ({type(exc).__name__}).",
                              reason=Reason.BAD_ANSWER) from exc
        self._route_gone = False
        return transcript

    def _accepted(self, dialect: Dialect, response: httpx.Response) -> httpx.Response:
        """The answer if it carries a transcript; otherwise the ServerError it amounts to."""
        code = response.status_code
        if 300 <= code < 400:
            raise answers.redirect(response, self.url)
        if code < 400:
            return response
        error = dialect.error(code, self.words(response))
        if error.reason is Reason.NO_ROUTE:
            # Detect the server again once; a second plain 404 waits for the user.
            error.retryable = not self._route_gone
            self._route_gone, self._dialect = True, None
        if error.retryable and error.reason in (Reason.MODEL_MISSING, Reason.NO_ROUTE):
            self.ready = False  # prepare again (download the model, find the route), then resend
        raise error

    def _post_audio(self, dialect: Dialect, audio: bytes, timeout: httpx.Timeout,
                    filename: str = "audio.wav", whole: float | None = None) -> httpx.Response:
        mime = "audio/flac" if filename.endswith(".flac") else "audio/wav"
        form, form_type = multipart_form(dialect.form(self.settings), filename, audio, mime)
        return self._request("POST", dialect.route, limit=answers.MAX_ANSWER_BYTES, content=form,
                             headers={"Content-Type": form_type}, timeout=timeout, whole=whole)

    # --- doctor ---------------------------------------------------------------------------

    def try_route(self) -> str:
        """Send a short silent clip through the real route; what came back, in words."""
        if self._dialect is None:
            raise ServerError(self._status.detail, reason=Reason.UNREACHABLE)
        transcript = self.transcribe(silent_wav(), duration_s=SILENT_WAV_SECONDS,
                                     filename="doctor.wav")
        heard = f"{len(transcript.split())} word(s)" if transcript.strip() else "no words"
        return (f"a {SILENT_WAV_SECONDS:g} s silent clip through POST {self._dialect.route} came "
                f"back as a transcript ({heard}).")
