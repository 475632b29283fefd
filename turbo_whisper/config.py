"""Settings: one frozen value built at start-up from defaults, file, environment and flags.

Precedence, lowest first: defaults, the TOML file, `TURBO_WHISPER_<NAME>` environment
variables, command-line flags. A wrong value stops start-up with a message that names the
setting, the bad value and what is accepted.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from turbo_whisper import paths, sanitize
from turbo_whisper.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

log = logging.getLogger(__name__)

ENV_PREFIX = "TURBO_WHISPER_"
DEFAULT_MODEL = "Systran/faster-whisper-large-v3"
# What the CPU variant of the server stack runs when no model is set: large-v3 needs about a
# minute of CPU for a few seconds of speech; small is quick enough to dictate with.
CPU_MODEL = "Systran/faster-whisper-small"


@dataclass(frozen=True)
class Settings:
    server_url: str = "http://127.0.0.1:8000"
    server_api: str = "auto"  # "auto" (found from the server's routes), "openai" or "whispercpp"
    model: str = DEFAULT_MODEL  # or "auto": the server's default or only model
    language: str | None = None  # None: the server detects it
    prompt: str | None = None
    hotkey: str = "<ctrl>+<alt>+r"
    mode: str = "toggle"  # "toggle" or "hold"
    device: str | int | None = None  # input device name or index; None: the system default
    api_key: str | None = field(default=None, repr=False)
    api_key_file: Path | None = None
    request_timeout: float = 60.0  # seconds for a short clip; long audio gets more
    ready_timeout: float = 3600.0  # patience for a cold server (model download), seconds
    connect_timeout: float = 30.0  # `transcribe`: seconds to wait for a server nothing answers at
    max_seconds: float = 600.0  # hard cap on one recording
    silence_threshold_db: float = -50.0  # loudest 100 ms below this: nothing was heard
    output: str = "clipboard"  # "clipboard" or "paste"
    paste_keys: tuple[tuple[str, str], ...] = ()  # window class -> keys that paste there
    paste_via: tuple[str, ...] = ("wtype", "ydotool", "clipboard")  # Wayland key tools, in order
    trailing_space: bool = False
    replacements: tuple[tuple[str, str], ...] = ()
    sounds: bool = True
    notifications: bool = True
    indicator: bool = True  # a small always-on-top window while recording (X11)
    indicator_position: str = "top-right"
    preroll_ms: int = 0
    history: bool = False
    upload_format: str = "wav"  # "wav" or "flac"
    split_at_pauses: bool = True  # send long dictations phrase by phrase while recording
    engine: str = "server"  # "server" (HTTP) or "local" (faster-whisper in this process)
    local_model: str = "tiny.en"  # model id or directory for engine = "local"
    compose_file: Path | None = None
    log_level: str = "info"
    config_file: Path | None = None  # the file these settings were read from, if any
    given: frozenset[str] = frozenset()  # settings the user set (file, environment, flags)


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("text")
    return value


def _optional_text(value: Any) -> str | None:
    text = _text(value).strip()
    return text or None


def _number(low: float, high: float | None = None) -> Callable[[Any], float]:
    accepted = f"a number >= {low:g}" + (f" and <= {high:g}" if high is not None else "")

    def parse(value: Any) -> float:
        if isinstance(value, bool):
            raise ValueError(accepted)
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(accepted) from None
        if number != number or number < low or (high is not None and number > high):
            raise ValueError(accepted)
        return number

    return parse


def _integer(low: int, high: int) -> Callable[[Any], int]:
    accepted = f"a whole number from {low} to {high}"

    def parse(value: Any) -> int:
        if isinstance(value, bool):
            raise ValueError(accepted)
        try:
            number = int(str(value).strip())
        except ValueError:
            raise ValueError(accepted) from None
        if not low <= number <= high:
            raise ValueError(accepted)
        return number

    return parse


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in {"1", "true", "yes", "on"}:
        return True
    if word in {"0", "false", "no", "off"}:
        return False
    raise ValueError("true or false")


def _choice(*choices: str) -> Callable[[Any], str]:
    accepted = " or ".join(f'"{c}"' for c in choices)

    def parse(value: Any) -> str:
        word = str(value).strip().lower() if isinstance(value, str) else None
        if word not in choices:
            raise ValueError(accepted)
        return word

    return parse


def _server_url(value: Any) -> str:
    accepted = "an http:// or https:// URL with a host, e.g. http://127.0.0.1:8000"
    url = _text(value).strip().rstrip("/")
    if _UNPRINTABLE.search(url):  # urlsplit drops a tab silently; httpx refuses it later
        raise ValueError(accepted + ", without spaces or control characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise ValueError(accepted) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(accepted)
    return url


_UNPRINTABLE = re.compile(r"[\x00-\x20\x7f-\x9f]")
# What an HTTP header can carry: visible ASCII (RFC 9110 token68 and more).
_HEADER_VALUE = re.compile(r"^[\x21-\x7e]+$")


def _api_key(value: Any) -> str | None:
    key = _optional_text(value)
    if key is not None and not _HEADER_VALUE.match(key):
        raise ValueError("one line of visible ASCII characters (no spaces, no accents), "
                         "as the server's key is")
    return key


_LANGUAGE = re.compile(r"^[a-z]{2,3}$")


def _language(value: Any) -> str | None:
    word = _text(value).strip().lower()
    if word in ("", "auto"):
        return None
    if not _LANGUAGE.match(word):
        raise ValueError('a two- or three-letter language code such as "en" or "fr", or "auto"')
    return word


def _hotkey(value: Any) -> str:
    from turbo_whisper.hotkey import parse_hotkey

    return parse_hotkey(_text(value))


def _device(value: Any) -> str | int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise ValueError("an input device name or a device index (0 or more)")
        return value
    text = _text(value).strip()
    if text in ("", "default"):
        return None
    return int(text) if text.isdigit() else text


def _path(value: Any) -> Path | None:
    text = _text(value).strip()
    if "\0" in text:
        raise ValueError("a file path (it holds a NUL character)")
    return Path(text).expanduser() if text else None


def _replacements(value: Any) -> tuple[tuple[str, str], ...]:
    accepted = 'a table of text to find and its replacement, e.g. { "new line" = "\\n" }'
    if not isinstance(value, Mapping):
        raise ValueError(accepted)
    pairs = tuple((str(k), v) for k, v in value.items())
    if any(not isinstance(v, str) or not k for k, v in pairs):
        raise ValueError(accepted)
    return pairs


def _paste_keys(value: Any) -> tuple[tuple[str, str], ...]:
    from turbo_whisper.hotkey import parse_hotkey

    accepted = ('a table of window classes (as `xprop WM_CLASS` shows them) and the keys that '
                'paste there, e.g. { xterm = "shift+insert", emacs = "ctrl+y" }')
    if not isinstance(value, Mapping):
        raise ValueError(accepted)
    pairs = []
    for name, keys in value.items():
        if not isinstance(keys, str) or not str(name).strip():
            raise ValueError(accepted)
        try:
            pairs.append((str(name).strip().lower(), parse_hotkey(keys)))
        except ValueError:
            raise ValueError(accepted) from None
    return tuple(pairs)


def _paste_via(value: Any) -> tuple[str, ...]:
    from turbo_whisper.wayland import METHODS

    accepted = ("a list of " + ", ".join(f'"{m}"' for m in METHODS)
                + ' in the order to try, e.g. ["wtype", "ydotool", "clipboard"]')
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)):
        raise ValueError(accepted)
    names = tuple(str(item).strip().lower() if isinstance(item, str) else "" for item in items)
    if not names or any(name not in METHODS for name in names) or len(set(names)) != len(names):
        raise ValueError(accepted)
    return names


def _log_level(value: Any) -> str:
    return _choice("debug", "info", "warning", "error")(value)


PARSERS: dict[str, Callable[[Any], Any]] = {
    "server_url": _server_url,
    "server_api": _choice("auto", "openai", "whispercpp"),
    "model": lambda v: _text(v).strip() or DEFAULT_MODEL,
    "language": _language,
    "prompt": _optional_text,
    "hotkey": _hotkey,
    "mode": _choice("toggle", "hold"),
    "device": _device,
    "api_key": _api_key,
    "api_key_file": _path,
    "request_timeout": _number(1, 86400),
    "ready_timeout": _number(0, 7 * 86400),
    "connect_timeout": _number(0, 86400),
    "max_seconds": _number(1, 4 * 3600),
    "silence_threshold_db": _number(-120, 0),
    "output": _choice("clipboard", "paste"),
    "paste_keys": _paste_keys,
    "paste_via": _paste_via,
    "trailing_space": _boolean,
    "replacements": _replacements,
    "sounds": _boolean,
    "notifications": _boolean,
    "indicator": _boolean,
    "indicator_position": _choice("top-right", "top-left", "bottom-right", "bottom-left", "top",
                                  "bottom"),
    "preroll_ms": _integer(0, 5000),
    "history": _boolean,
    "upload_format": _choice("wav", "flac"),
    "split_at_pauses": _boolean,
    "engine": _choice("server", "local"),
    "local_model": lambda v: _text(v).strip() or "tiny.en",
    "compose_file": _path,
    "log_level": _log_level,
}
assert set(PARSERS) == {f.name for f in fields(Settings)} - {"config_file", "given"}

# Settings that make no sense as a single environment string.
_NOT_FROM_ENV = {"replacements", "paste_keys"}


def default_config_path() -> Path:
    return paths.config_dir() / "config.toml"


def _show(value: Any) -> str:
    try:
        text = repr(value)
    except ValueError:  # an integer too long to write out
        text = f"a {type(value).__name__} too long to show"
    return text if len(text) <= 60 else text[:57] + "..."


def _parse(name: str, value: Any, source: str) -> Any:
    try:
        return PARSERS[name](value)
    except ValueError as exc:
        shown = "(hidden)" if name == "api_key" else _show(value)
        raise ConfigError(
            f"Setting '{name}' from {source} has the value {shown}; expected {exc}."
        ) from None


def read_config_file(path: Path) -> dict[str, Any]:
    """Read the TOML file into raw values; unknown keys are warned about by name."""
    try:
        with path.open("rb") as handle:
            raw = tomllib.load(handle)
    except UnicodeDecodeError as exc:
        raise ConfigError(f"The config file {path} is not UTF-8 text (byte {exc.start + 1} "
                          "is not); save it as UTF-8.") from None
    except RecursionError:
        raise ConfigError(f"The config file {path} nests arrays or tables too deep to "
                          "read.") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"The config file {path} is not valid TOML: {exc}.") from None
    except ValueError:  # Python refuses to convert an integer of thousands of digits
        raise ConfigError(f"The config file {path} holds a number too long to read "
                          "(thousands of digits).") from None
    except OSError as exc:
        raise ConfigError(f"The config file {path} cannot be read: {exc.strerror}.") from None
    known = {}
    for key, value in raw.items():
        name = key.replace("-", "_")
        if name in PARSERS:
            known[name] = value
        else:
            log.warning(
                "Unknown setting '%s' in %s is ignored (known settings: %s).",
                key, path, ", ".join(sorted(PARSERS)),
            )
    return known


def _choose_config_path(
    flags: Mapping[str, Any], environ: Mapping[str, str]
) -> tuple[Path | None, bool]:
    """The config file to read, and whether the user named it (then it must exist)."""
    if flags.get("config"):
        return Path(str(flags["config"])).expanduser(), True
    if environ.get(ENV_PREFIX + "CONFIG"):
        return Path(environ[ENV_PREFIX + "CONFIG"]).expanduser(), True
    path = default_config_path()
    return (path, False) if path.exists() else (None, False)


def load_settings(
    flags: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Build the settings from defaults, the config file, the environment and flags."""
    flags = {k: v for k, v in (flags or {}).items() if v is not None}
    environ = os.environ if environ is None else environ
    path, named = _choose_config_path(flags, environ)
    values: dict[str, Any] = {}
    if path is not None:
        if named and not path.exists():
            raise ConfigError(f"The config file {path} does not exist.")
        for name, value in read_config_file(path).items():
            values[name] = _parse(name, value, f"the config file {path}")
    for name in PARSERS:
        variable = ENV_PREFIX + name.upper()
        if name not in _NOT_FROM_ENV and environ.get(variable, "") != "":
            values[name] = _parse(name, environ[variable], f"the environment ({variable})")
    for name, value in flags.items():
        if name in PARSERS:
            values[name] = _parse(name, value, f"--{name.replace('_', '-')}")
    settings = _with_api_key_file(replace(Settings(), config_file=path,
                                          given=frozenset(values), **values))
    sanitize.keep_secret(settings.api_key)
    return settings


def _with_api_key_file(settings: Settings) -> Settings:
    if settings.api_key or settings.api_key_file is None:
        return settings
    where = f"Setting 'api_key_file' names {settings.api_key_file}, which"
    try:
        key = settings.api_key_file.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"{where} cannot be read: {exc.strerror}.") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{where} is not UTF-8 text; an API key is visible ASCII.") from None
    if not key:
        raise ConfigError(f"{where} is empty.")
    if "\n" in key:
        raise ConfigError(f"{where} holds more than one line; put only the key in it.")
    if not _HEADER_VALUE.match(key):
        raise ConfigError(f"{where} holds characters an API key cannot have (spaces, "
                          "accents or control characters); an API key is visible ASCII.")
    return replace(settings, api_key=key)
