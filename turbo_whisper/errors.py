"""The exceptions a user can meet, each with a message a person can act on."""

from __future__ import annotations

import enum
from pathlib import Path


class TurboWhisperError(Exception):
    """Base of every error the client reports to the user in words."""


class ConfigError(TurboWhisperError):
    """A setting has a value the client cannot use."""


class DeviceError(TurboWhisperError):
    """The microphone could not be opened or vanished."""


class Reason(str, enum.Enum):
    """Why the server gave no transcript: a fact, which the app turns into advice."""

    UNREACHABLE = "unreachable"  # nothing answers at the URL
    CONNECTION_LOST = "connection lost"  # the connection closed before the answer
    TIMEOUT = "timeout"
    KEY_REFUSED = "key refused"
    REDIRECT = "redirect"  # an http->https proxy, or a moved server
    NO_ROUTE = "no route"  # the server has no transcription route where it was used
    MODEL_MISSING = "model missing"
    BAD_REQUEST = "bad request"  # the server could not use the request's fields
    TOO_LARGE = "too large"  # the recording is larger than the server accepts
    BAD_ANSWER = "bad answer"  # an answer that is not a transcript
    BUSY = "busy"  # starting, loading, rate-limiting
    FAULT = "fault"  # the server failed in its own words
    NOT_READY = "not ready"  # the patience for a cold server ran out


class ServerError(TurboWhisperError):
    """The transcription server answered with an error or could not be reached.

    The message states what happened; `reason` says why in a word the app can act on.
    """

    def __init__(self, message: str, *, retryable: bool = True, status_code: int | None = None,
                 reason: Reason = Reason.FAULT):
        super().__init__(message)
        self.retryable = retryable
        self.status_code = status_code
        self.reason = reason


class ServerNotReady(ServerError):
    """The server did not become ready within the configured patience."""


class ClipboardError(TurboWhisperError):
    """The transcript could not be placed in the clipboard."""


class SpoolError(TurboWhisperError):
    """A recording could not be kept on disk."""


class NotKept(SpoolError):
    """No folder could take a recording: it exists only in memory. `refusals` holds each
    folder tried, with the error it gave."""

    def __init__(self, message: str, refusals: list[tuple[Path, OSError]]):
        super().__init__(message)
        self.refusals = refusals


class NotRemoved(SpoolError):
    """A delivered recording's file could not be removed; it is remembered as delivered."""

    def __init__(self, message: str, name: str):
        super().__init__(message)
        self.name = name


class HotkeyError(TurboWhisperError):
    """The global hotkey cannot be grabbed (no X display, bad combination)."""


class NotRunning(TurboWhisperError):
    """No Turbo Whisper client is running to take a control command."""


class AlreadyRunning(TurboWhisperError):
    """Another client holds the single-instance lock."""


class NotYours(TurboWhisperError, OSError):
    """A folder Turbo Whisper would use belongs to someone else or is not a folder."""


class DockerError(TurboWhisperError):
    """Docker is missing, not running, refusing us, or the stack could not be handled."""
