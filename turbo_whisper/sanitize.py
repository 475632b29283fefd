"""What may be shown: text from servers, sockets and transcripts, made safe to print and log.

Two dangers meet at every edge where text is shown (the log, `status`, `transcribe`,
`doctor`): a secret the server echoes back, perhaps escaped or encoded on the way (a base64
API key comes back JSON-escaped as `\\/`), and control characters that a terminal obeys
(ESC, CSI, BEL) or that rewrite a line (CR). `shown()` blanks every secret in every form it
can take and makes the controls visible. Secrets are registered once, when the settings are
read, so the edges need not know where a key came from. Standard library only: the control
commands use it.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any

HIDDEN = "(hidden)"
MIN_SECRET_LENGTH = 3  # shorter "keys" would blank ordinary words

_secrets: dict[str, re.Pattern[str]] = {}
_lock = threading.Lock()

# C0 controls (but newline and tab), DEL, and C1 controls.
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# A terminal escape sequence whole: CSI ... final byte, OSC ... BEL or ST, or ESC and one more.
_ESCAPE_SEQUENCE = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"
    r"|(?:\x1b\]|\x9d)[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[@-_]?"
)
_HTML_NAMES = {"&": "amp", "<": "lt", ">": "gt", '"': "quot", "'": "(?:apos|#39)"}


def _char_forms(char: str) -> str:
    """A pattern for one character of a secret as it may come back from a server: raw,
    backslash-escaped (JSON's `\\/`, once or nested), `\\uXXXX`, percent-encoded (UTF-8),
    as `+` for a space, or as an HTML character reference."""
    code = ord(char)
    forms = [re.escape(char)]
    forms.append("".join(f"%{byte:02x}" for byte in char.encode("utf-8")))
    if code < 0x10000:
        forms.append(rf"\\+u{code:04x}")
    forms += [rf"&#0*{code};", rf"&#x0*{code:x};"]
    if char in _HTML_NAMES:
        forms.append(f"&{_HTML_NAMES[char]};")
    if char == " ":
        forms.append(r"\+")
    return r"(?:\\*(?:" + "|".join(forms) + "))"


def keep_secret(secret: str | None) -> None:
    """Never show this text again, in any of its forms, anywhere `shown()` is used."""
    if not secret or len(secret) < MIN_SECRET_LENGTH:
        return
    with _lock:
        if secret not in _secrets:
            pattern = "".join(_char_forms(char) for char in secret)
            _secrets[secret] = re.compile(pattern, re.IGNORECASE)


def redact(text: str) -> str:
    """The text with every kept secret blanked out."""
    with _lock:
        patterns = list(_secrets.values())
    for pattern in patterns:
        text = pattern.sub(HIDDEN, text)
    return text


def strip_controls(text: str) -> str:
    """The text without terminal escape sequences and control characters (newline and tab
    stay): for transcripts, which go to the clipboard and into other programs."""
    return _CONTROLS.sub("", _ESCAPE_SEQUENCE.sub("", text))


def escape_controls(text: str) -> str:
    """The text with each control character (but newline and tab) written out, e.g. `\\x1b`."""
    return _CONTROLS.sub(lambda match: f"\\x{ord(match.group()):02x}", text)


def shown(text: Any) -> str:
    """Text safe to print or log: secrets blanked, controls made visible."""
    return escape_controls(redact(str(text)))


def shown_data(value: Any) -> Any:
    """Every string inside plain data (dicts, lists) passed through `shown`."""
    if isinstance(value, str):
        return shown(value)
    if isinstance(value, dict):
        return {shown(key) if isinstance(key, str) else key: shown_data(item)
                for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [shown_data(item) for item in value]
    return value


class LogFilter(logging.Filter):
    """Makes every record that passes safe to show; put it on each log handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a record that cannot be formatted is logging's to report
            return True
        record.msg, record.args = shown(message), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = shown(record.exc_text)
        return True
