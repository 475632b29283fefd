"""Reading what a server answered: error bodies, transcripts, failures as facts with a reason.

Messages here state what happened (a status, the server's words, the URL); what it means
for the user's recording is said by the app (`turbo_whisper.advice`).
"""

from __future__ import annotations

import html
import json
import re
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from turbo_whisper.errors import Reason, ServerError

# Far more than the transcript of the longest recording; a larger answer is a broken server
# and is not read into memory.
MAX_ANSWER_BYTES = 4 * 1024 * 1024

_TAGS = re.compile(r"<[^>]+>")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_SPACES = re.compile(r"\s+")
_DEEPEST_MESSAGE = 8  # levels of {"error": {"detail": [...]}} searched for the server's words
_MOST_MESSAGES = 20  # list items joined into one message, which is cut at 300 characters


class NotJson:
    """The value of a body that is no JSON at all (kept apart from a JSON `null`)."""

    def __repr__(self) -> str:
        return "NOT_JSON"


NOT_JSON = NotJson()


def json_of(body: bytes | str) -> Any:
    """The JSON value of a body, or NOT_JSON for anything else; never raises.

    A server's answer can be any bytes: not UTF-8, nested deeper than the parser's recursion
    limit (RecursionError, not ValueError), integers longer than Python converts.
    """
    try:
        return json.loads(body)
    except (ValueError, RecursionError, TypeError):
        return NOT_JSON


def _text_of(value: Any, depth: int = 0) -> str | None:
    """Pull a message out of the JSON error shapes the servers use (a few levels deep at most)."""
    if isinstance(value, str):
        return value
    if depth > _DEEPEST_MESSAGE:
        return None
    if isinstance(value, dict):
        for key in ("message", "detail", "error", "msg"):
            if key in value:
                found = _text_of(value[key], depth + 1)
                if found:
                    return found
        return None
    if isinstance(value, list):
        parts = []
        for item in value[:_MOST_MESSAGES]:
            text = _text_of(item, depth + 1)
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
            message = _text_of(json_of(text))
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


_MISSING = ("missing", "value_error.missing")


def missing_fields(body: bytes) -> frozenset[str]:
    """The form fields a FastAPI 422 answer says are missing ({"detail": [{"loc": ...}]})."""
    answer = json_of(body)
    detail = answer.get("detail") if isinstance(answer, dict) else None
    if not isinstance(detail, list):
        return frozenset()
    names = set()
    for item in detail:
        loc = item.get("loc") if isinstance(item, dict) else None
        if isinstance(loc, list) and loc and item.get("type") in _MISSING:
            names.add(str(loc[-1]))
    return frozenset(names)


def form_fields(openapi: bytes, route: str) -> frozenset[str] | None:
    """The multipart form fields an OpenAPI document gives the route; None when it does not say."""
    document = json_of(openapi)
    try:
        body = document["paths"][route]["post"]["requestBody"]["content"]
        schema = body["multipart/form-data"]["schema"]
        if "$ref" in schema:
            schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
        return frozenset(str(name) for name in schema["properties"])
    except (KeyError, TypeError, AttributeError, IndexError):
        return None


def model_ids(body: bytes) -> tuple[str, ...] | None:
    """The ids of a model listing ({"data": [{"id": ...}]} or {"models": [...]}); None if not one."""
    listing = json_of(body)
    items = listing.get("data", listing.get("models")) if isinstance(listing, dict) else None
    if not isinstance(items, list):
        return None
    ids = [item.get("id") if isinstance(item, dict) else item for item in items]
    return tuple(str(i) for i in ids if isinstance(i, str) and i)


def transcript_of(response: httpx.Response) -> str:
    """The text of a 200 answer: JSON {"text": ...} or plain text; ServerError if it is neither."""
    content_type = response.headers.get("content-type", "")
    if "json" not in content_type and not response.text.lstrip().startswith("{"):
        return response.text
    answer = json_of(response.content)
    text = answer.get("text") if isinstance(answer, dict) else None
    if text is None:
        # Not quoted: a broken answer with status 200 is most likely part of a transcript,
        # and transcripts stay out of the log.
        raise ServerError(
            "The server answered with something that is not a transcript "
            f"({len(response.content)} bytes of {content_type or 'unlabelled data'} without a "
            "readable \"text\" field).", reason=Reason.BAD_ANSWER,
        )
    if not isinstance(text, str):
        raise ServerError("The server's transcript is not text.", reason=Reason.BAD_ANSWER)
    # JSON can carry lone surrogates ("\ud800"), which no clipboard can take.
    return _LONE_SURROGATE.sub("\ufffd", text)


# --- failures -----------------------------------------------------------------------------

_MEANING = {
    400: ("the server could not use the request", Reason.BAD_REQUEST),
    401: ("the server wants a valid API key (setting 'api_key')", Reason.KEY_REFUSED),
    403: ("the server refused the API key (setting 'api_key')", Reason.KEY_REFUSED),
    404: ("the server has no such model or route", Reason.NO_ROUTE),
    413: ("the recording is larger than the server accepts", Reason.TOO_LARGE),
    422: ("the server rejected the request's fields", Reason.BAD_REQUEST),
    429: ("the server is rate-limiting requests", Reason.BUSY),
    500: ("the server failed while transcribing", Reason.FAULT),
    502: ("the server is not reachable behind its proxy", Reason.BUSY),
    503: ("the server is busy starting, downloading or loading its model", Reason.BUSY),
    504: ("the server's proxy timed out", Reason.BUSY),
}


def failure(code: int, words: str, *, retryable: bool | None = None,
            reason: Reason | None = None) -> ServerError:
    """The error of a transcription answered with status `code` and the server's `words`."""
    meaning, usual = _MEANING.get(code, ("the server answered with an error",
                                         Reason.FAULT if code >= 500 else Reason.BAD_REQUEST))
    if retryable is None:
        retryable = code in (408, 409, 425, 429) or code >= 500
    return ServerError(f"Transcription failed: {meaning} (HTTP {code}: {words}).",
                       retryable=retryable, status_code=code, reason=reason or usual)


def redirect(response: httpx.Response, url: str) -> ServerError:
    """A 3xx answer: never a transcript; name where it points, and the URL to use instead."""
    location = response.headers.get("location", "")
    target = urljoin(str(response.request.url), location) if location else ""
    parts = urlsplit(target)
    suggestion = f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""
    where = f" to {target}" if target else " without saying where"
    advice = (f"; set 'server_url' to {suggestion}" if suggestion and suggestion != url
              else "; check 'server_url'")
    return ServerError(f"The server at {url} answered {response.status_code}, a redirect{where}"
                       f"{advice}.", retryable=False, status_code=response.status_code,
                       reason=Reason.REDIRECT)


def key_refused(code: int, words: str, url: str) -> ServerError:
    return ServerError(f"The server at {url} refused the API key ({code}: {words}). "
                       "Check the 'api_key' setting.", retryable=False, status_code=code,
                       reason=Reason.KEY_REFUSED)


def too_large(how: str, limit: int = MAX_ANSWER_BYTES) -> ServerError:
    what = (f"{limit // (1024 * 1024)} MB, which no transcript is" if limit >= 1024 * 1024
            else f"{limit // 1024} KB, which no answer of this route is")
    return ServerError(f"The server's answer is larger than {what} ({how}), so it was not read.",
                       reason=Reason.BAD_ANSWER)


def transport_words(exc: httpx.RequestError) -> str:
    """What went wrong on the wire, in a few words."""
    if isinstance(exc, httpx.DecodingError):
        return "its answer could not be decoded"
    if isinstance(exc, httpx.ConnectError):
        return "connection refused or host unreachable"
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError)):
        return "the connection was closed mid-answer"
    return type(exc).__name__


def read_at_most(response: httpx.Response, limit: int) -> bytes:
    """The body of a streamed answer; ServerError when it is larger than any transcript is."""
    declared = response.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise too_large(f"it announced {int(declared) / 1e6:.1f} MB", limit)
    chunks, size = [], 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > limit:
            raise too_large("it kept sending", limit)
        chunks.append(chunk)
    return b"".join(chunks)
