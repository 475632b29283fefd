"""The exceptions a user can meet, each with a message a person can act on."""

from __future__ import annotations


class TurboWhisperError(Exception):
    """Base of every error the client reports to the user in words."""


class ConfigError(TurboWhisperError):
    """A setting has a value the client cannot use."""


class DeviceError(TurboWhisperError):
    """The microphone could not be opened or vanished."""


class ServerError(TurboWhisperError):
    """The transcription server answered with an error or could not be reached."""

    def __init__(self, message: str, *, retryable: bool = True, status_code: int | None = None):
        super().__init__(message)
        self.retryable = retryable
        self.status_code = status_code


class ServerNotReady(ServerError):
    """The server did not become ready within the configured patience."""


class ClipboardError(TurboWhisperError):
    """The transcript could not be placed in the clipboard."""


class SpoolError(TurboWhisperError):
    """A recording could not be kept on disk."""


class HotkeyError(TurboWhisperError):
    """The global hotkey cannot be grabbed (no X display, bad combination)."""


class NotRunning(TurboWhisperError):
    """No Turbo Whisper client is running to take a control command."""
