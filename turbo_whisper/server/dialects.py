"""One small class per server dialect, behind one interface.

A dialect knows its upload route and form fields, prepares the model where the server
offers a way to (best-effort: a missing or refusing management route never blocks
transcription), reads the answer, and says which failures are worth sending again.
"Ready" is said only once the route has answered as it should; on loopback servers that
fetch or load the model inside the first request, only after a warm-up transcription.
"""

from __future__ import annotations

import logging
from typing import Protocol
from urllib.parse import quote

import httpx

from turbo_whisper.config import Settings
from turbo_whisper.errors import Reason, ServerError
from turbo_whisper.server import answers
from turbo_whisper.server.detection import AUTO_MODEL, INFERENCE_ROUTE, OPENAI_ROUTE, Decision
from turbo_whisper.status import EngineStatus, Phase

log = logging.getLogger("turbo_whisper.server")


class Session(Protocol):
    """What a dialect may use of the client: its requests and its voice."""

    @property
    def url(self) -> str: ...
    loopback: bool

    def get(self, path: str) -> httpx.Response: ...
    def post(self, path: str, long: bool = False) -> httpx.Response: ...
    def words(self, response: httpx.Response) -> str: ...
    def say(self, phase: Phase, detail: str) -> EngineStatus: ...
    def warm_up(self, phase: Phase, detail: str) -> None: ...
    def ready_status(self) -> EngineStatus: ...


class Dialect:
    """A plain OpenAI-compatible server: `POST /v1/audio/transcriptions`, nothing to prepare."""

    name = "openai"
    label = "OpenAI-compatible server"
    warms_up = True  # unknown servers may load their model inside the first request

    def __init__(self, decision: Decision, model: str, listed: tuple[str, ...] | None = None):
        self.route = decision.route
        self.model_field = decision.model_field
        self.has_api_ps = decision.has_api_ps
        self.listed = listed
        self.model = self.choose_model(model)

    def choose_model(self, configured: str) -> str | None:
        """The model to ask for; None leaves the choice to the server."""
        if configured != AUTO_MODEL:
            return configured
        if self.listed and len(self.listed) == 1:
            return self.listed[0]
        return None

    def form(self, settings: Settings) -> dict[str, str]:
        fields = {"response_format": "json", "temperature": "0"}
        if self.model_field and self.model:
            fields[self.model_field] = self.model
        if settings.language:
            fields["language"] = settings.language
        if settings.prompt:
            fields["prompt"] = settings.prompt
        return fields

    def prepare(self, session: Session, prepare: bool) -> EngineStatus:
        """Make the model usable where the server allows it; the status says how far it got."""
        self.check_model(session)
        if not (self.warms_up and session.loopback):
            return session.ready_status()
        if not prepare:
            return session.say(Phase.LOADING, f"The {self.label} at {session.url} answers; a "
                               "first transcription has not proven its model yet.")
        session.warm_up(Phase.LOADING, f"Warming up the {self.label} at {session.url} with a "
                        "short silent clip (a first use may load or download its model).")
        return session.ready_status()

    def check_model(self, session: Session) -> None:
        """ServerError when the server lists its models and the configured one is not among them."""
        if not self.listed or self.model is None or self.model in self.listed:
            return
        raise model_missing(self.model, session.url, self.listed, "does not list it")

    def error(self, code: int, words: str) -> ServerError:
        """The failure of a transcription answered with `code`."""
        if code == 404 and "model" in words.lower():
            return answers.failure(code, words, retryable=False, reason=Reason.MODEL_MISSING)
        if code == 404:  # a plain 404: the route went away; detect the server again
            return answers.failure(code, words, retryable=True, reason=Reason.NO_ROUTE)
        return answers.failure(code, words)

    def transcript(self, response: httpx.Response) -> str:
        return answers.transcript_of(response)


class Fedirz(Dialect):
    """fedirz faster-whisper-server: `model` optional, fetched inside the first request."""

    name = "fedirz"
    label = "faster-whisper-server"

    def choose_model(self, configured: str) -> str | None:
        return None if configured == AUTO_MODEL else configured  # its WHISPER__MODEL

    def prepare(self, session: Session, prepare: bool) -> EngineStatus:
        loaded = loaded_models(session) if self.has_api_ps else None
        if not prepare:
            if loaded and (self.model in loaded or self.model is None):
                return session.ready_status()
            return session.say(Phase.LOADING, f"Server is up; model {self.model or '(default)'} "
                               "is not loaded yet.")
        words = (f"Server is up; downloading or loading model {self.model or '(its default)'} "
                 "(the first use downloads it, which can take minutes).")
        if loaded is not None and self.model and self.model not in loaded:
            session.say(Phase.DOWNLOADING, words)
            loading = session.post(f"/api/ps/{quote(self.model, safe='/')}", long=True)
            if loading.status_code >= 400 and loading.status_code != 409:  # best-effort
                log.info("The server could not load model %s (%s: %s); trying a transcription.",
                         self.model, loading.status_code, session.words(loading))
        # /api/ps also lists a model whose load failed: only a transcription proves it works.
        session.warm_up(Phase.DOWNLOADING, words)
        return session.ready_status()

    def error(self, code: int, words: str) -> ServerError:
        if code == 500 and "model size" in words.lower():  # e.g. model=whisper-1
            return answers.failure(code, words, retryable=False, reason=Reason.MODEL_MISSING)
        return super().error(code, words)


class Speaches(Dialect):
    """speaches: `model` required; `POST /v1/models/{id}` downloads, `POST /api/ps/{id}` loads."""

    name = "speaches"
    label = "speaches"

    def choose_model(self, configured: str) -> str | None:
        if configured == AUTO_MODEL and self.listed:
            return self.listed[0]  # its first installed model
        return super().choose_model(configured)

    def check_model(self, session: Session) -> None:
        pass  # a model it lacks is downloaded in prepare()

    def prepare(self, session: Session, prepare: bool) -> EngineStatus:
        if self.model is None:
            raise ServerError(f"The server at {session.url} has no model installed, so model = "
                              "\"auto\" has none to choose; set 'model' to the one to download.",
                              retryable=False, reason=Reason.MODEL_MISSING)
        path = quote(self.model, safe="/")
        if session.get(f"/v1/models/{path}").status_code == 404:
            if not prepare:
                return session.say(Phase.DOWNLOADING,
                                   f"Model {self.model} is not installed on the server yet.")
            session.say(Phase.DOWNLOADING, f"Downloading model {self.model}.")
            fetched = session.post(f"/v1/models/{path}", long=True)
            if fetched.status_code >= 400 and fetched.status_code not in (404, 405):
                raise model_missing(self.model, session.url, self.listed or (),
                                    f"could not download it ({fetched.status_code}: "
                                    f"{session.words(fetched)})")
        proven = False
        if self.has_api_ps:
            loaded = loaded_models(session) or []
            if self.model not in loaded:
                if not prepare:
                    return session.say(Phase.LOADING,
                                       f"Model {self.model} is installed but not loaded.")
                session.say(Phase.LOADING, f"Loading model {self.model}.")
                loading = session.post(f"/api/ps/{path}", long=True)
                proven = loading.status_code < 400 or loading.status_code == 409
                if not proven:  # best-effort: speaches also loads inside the first request
                    log.info("The server could not load model %s (%s: %s).", self.model,
                             loading.status_code, session.words(loading))
            else:
                proven = True
        if not proven and prepare and session.loopback:
            session.warm_up(Phase.LOADING, f"Loading model {self.model} with a short silent clip.")
        return session.ready_status()

    def error(self, code: int, words: str) -> ServerError:
        if code == 404 and "not installed" in words.lower():  # it lost the model: fetch again
            return answers.failure(code, words, retryable=True, reason=Reason.MODEL_MISSING)
        return super().error(code, words)


class WhisperCpp(Dialect):
    """whisper.cpp's server: `POST /inference`, no model field, the model loaded before the port
    opens; request errors come back as 200 with {"error": ...}."""

    name = "whispercpp"
    label = "whisper.cpp server"
    warms_up = False

    def choose_model(self, configured: str) -> str | None:
        return None  # it serves the one model it was started with

    def transcript(self, response: httpx.Response) -> str:
        body = answers.json_of(response.content)
        if isinstance(body, dict) and "text" not in body and "error" in body:
            words = answers.read_error_body(response.content)
            loading = "loading" in words.lower()
            raise ServerError(f"The server reported an error: {words}.", retryable=loading,
                              reason=Reason.BUSY if loading else Reason.BAD_REQUEST)
        return answers.transcript_of(response)


DIALECTS: dict[str, type[Dialect]] = {
    cls.name: cls for cls in (Dialect, Fedirz, Speaches, WhisperCpp)
}
DEFAULT_ROUTES = {"whispercpp": INFERENCE_ROUTE}


def build(decision: Decision, model: str, listed: tuple[str, ...] | None = None) -> Dialect:
    """The dialect object a decision names."""
    assert decision.dialect is not None
    return DIALECTS[decision.dialect](decision, model, listed)


def assumed(name: str, model: str) -> Dialect:
    """A dialect taken as given, without evidence (its usual route and fields)."""
    route = DEFAULT_ROUTES.get(name, OPENAI_ROUTE)
    field = None if name == "whispercpp" else "model"
    return build(Decision(name, route, field, has_api_ps=name in ("fedirz", "speaches")), model)


def loaded_models(session: Session) -> list[str] | None:
    """The models /api/ps says are loaded; None when the server has no such route."""
    response = session.get("/api/ps")
    ids = answers.model_ids(response.content) if response.status_code == 200 else None
    return None if ids is None else list(ids)


def model_missing(model: str, url: str, listed: tuple[str, ...], what: str) -> ServerError:
    has = f" It has: {', '.join(listed[:10])}." if listed else ""
    return ServerError(f"Model {model} is not on the server at {url}: it {what}.{has} Set 'model' "
                       "to one it has, or to \"auto\" for its default.", retryable=False,
                       reason=Reason.MODEL_MISSING)
