"""Which API a server speaks, found from evidence: what its routes answer, not what /health says.

The transcription route is the truth: an empty form posted to a route that exists answers
400 or 422 (the file is missing); one that does not exist answers 404 or 405. A `Server`
header, model-management routes and the form's own field names only refine the name and
say what preparation the server offers. `decide` is a pure function of the evidence, so a
table of the answers real servers give (SERVERS.md) tests it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

import httpx

from turbo_whisper.server import answers

OPENAI_ROUTE = "/v1/audio/transcriptions"
INFERENCE_ROUTE = "/inference"  # whisper.cpp's server
AUTO_MODEL = "auto"


@dataclass(frozen=True)
class Evidence:
    """What the server answered to the probes; None where a probe was not sent."""

    health_status: int | None = None
    health_body: str = ""
    server_header: str = ""
    openai_route: int | None = None  # status of an empty POST to /v1/audio/transcriptions
    openai_missing: frozenset[str] = frozenset()  # fields its 422 says are missing
    inference_route: int | None = None  # status of an empty POST to /inference
    api_ps: int | None = None  # GET /api/ps (speaches, fedirz: loaded models)
    model_route: int | None = None  # GET /v1/models/{the configured model}
    models: tuple[str, ...] | None = None  # the ids GET /v1/models listed
    form: frozenset[str] | None = None  # the route's form fields, from /openapi.json

    def lines(self) -> list[str]:
        """The evidence as `route: answer` lines, for `turbo-whisper doctor`."""
        seen = [
            ("GET /health", self.health_status, self.health_body[:40]),
            (f"POST {OPENAI_ROUTE} (empty)", self.openai_route,
             f"missing {', '.join(sorted(self.openai_missing))}" if self.openai_missing else ""),
            (f"POST {INFERENCE_ROUTE} (empty)", self.inference_route, ""),
            ("GET /api/ps", self.api_ps, ""),
            ("GET /v1/models/{model}", self.model_route, ""),
            ("GET /v1/models", 200 if self.models is not None else None,
             ", ".join(self.models[:5]) if self.models else ""),
        ]
        lines = [f"{what}: {code}" + (f" ({extra})" if extra else "")
                 for what, code, extra in seen if code is not None]
        if self.server_header:
            lines.append(f"Server header: {self.server_header}")
        if self.form is not None:
            lines.append(f"form fields: {', '.join(sorted(self.form))}")
        return lines


@dataclass(frozen=True)
class Decision:
    """The dialect to speak and how; `dialect` None when no transcription route was found."""

    dialect: str | None
    route: str = OPENAI_ROUTE
    model_field: str | None = "model"
    has_api_ps: bool = False
    why: str = ""


def exists(code: int | None) -> bool:
    """Whether a route answered as one that is there (anything but 404/405 or no answer)."""
    return code is not None and code not in (404, 405)


def decide(evidence: Evidence, forced: str = "auto") -> Decision:
    """The dialect the evidence shows (or the one `server_api` forces)."""
    if forced == "whispercpp":
        return Decision("whispercpp", INFERENCE_ROUTE, None, why="server_api = \"whispercpp\"")
    if forced == "openai":
        return Decision("openai", OPENAI_ROUTE, _model_field(evidence),
                        why="server_api = \"openai\"")
    openai, inference = exists(evidence.openai_route), exists(evidence.inference_route)
    if "whisper.cpp" in evidence.server_header.lower() or (inference and not openai):
        route = OPENAI_ROUTE if openai and not inference else INFERENCE_ROUTE
        return Decision("whispercpp", route, None,
                        why=f"whisper.cpp's server: POST {route} exists, no model field")
    if not openai:
        return Decision(None, why=f"neither POST {OPENAI_ROUTE} ({evidence.openai_route}) nor "
                        f"POST {INFERENCE_ROUTE} ({evidence.inference_route}) exists")
    has_ps = evidence.api_ps == 200
    if _looks_like_speaches(evidence):
        return Decision("speaches", OPENAI_ROUTE, "model", has_ps,
                        why="speaches: the model is required and managed under /v1/models")
    if has_ps or evidence.health_body.strip() == "OK":
        return Decision("fedirz", OPENAI_ROUTE, "model", has_ps,
                        why="faster-whisper-server: /api/ps or a plain OK health, model optional")
    field = _model_field(evidence)
    return Decision("openai", OPENAI_ROUTE, field,
                    why=f"OpenAI-compatible: POST {OPENAI_ROUTE} exists, model field '{field}'")


def _looks_like_speaches(evidence: Evidence) -> bool:
    # speaches requires `model` and answers /v1/models from its local cache; fedirz makes
    # the model optional and forwards /v1/models to the model hub (500 when offline).
    required = "model" in evidence.openai_missing or _speaches_health(evidence)
    listed = evidence.model_route in (200, 404) or evidence.models is not None
    return required and listed


def _speaches_health(evidence: Evidence) -> bool:
    """speaches 0.9 and later answer /health with {"message": "OK"}."""
    return evidence.health_status == 200 and answers.json_of(evidence.health_body) == {
        "message": "OK"}


def _model_field(evidence: Evidence) -> str:
    form = evidence.form or frozenset()
    return "model_name" if "model_name" in form and "model" not in form else "model"


# --- probing ------------------------------------------------------------------------------

Get = Callable[[str], httpx.Response]


def gather(get: Get, post_empty: Get, model: str, health: httpx.Response | None) -> Evidence:
    """Send the probes and collect what they answered; the caller's callables read bounded
    bodies and raise for redirects and refused keys."""
    openai = post_empty(OPENAI_ROUTE)
    inference = post_empty(INFERENCE_ROUTE)
    header = openai.headers.get("server", "") or (health.headers.get("server", "") if health else "")
    values: dict = {
        "health_status": health.status_code if health is not None else None,
        "health_body": health.text[:200] if health is not None else "",
        "server_header": header,
        "openai_route": openai.status_code,
        "openai_missing": answers.missing_fields(openai.content) if openai.status_code == 422
        else frozenset(),
        "inference_route": inference.status_code,
    }
    if exists(openai.status_code) and "whisper.cpp" not in header.lower():
        values["api_ps"] = get("/api/ps").status_code
        if model != AUTO_MODEL:
            values["model_route"] = get(f"/v1/models/{quote(model, safe='/')}").status_code
        listing = get("/v1/models")
        values["models"] = answers.model_ids(listing.content) if listing.status_code == 200 else None
        openapi = get("/openapi.json")
        if openapi.status_code == 200:
            values["form"] = answers.form_fields(openapi.content, OPENAI_ROUTE)
    return Evidence(**values)
