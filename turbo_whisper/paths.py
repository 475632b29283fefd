"""Where Turbo Whisper keeps its files, following the XDG base directory rules."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from turbo_whisper.errors import TurboWhisperError

APP = "turbo-whisper"


class NotYours(TurboWhisperError, OSError):
    """A folder Turbo Whisper would use belongs to someone else or is not a folder."""


def _xdg(variable: str, fallback: str) -> Path:
    value = os.environ.get(variable, "")
    # The spec says relative paths are invalid and must be ignored.
    if value and os.path.isabs(value):
        return Path(value)
    return Path.home() / fallback


def config_dir() -> Path:
    return _xdg("XDG_CONFIG_HOME", ".config") / APP


def state_dir() -> Path:
    return _xdg("XDG_STATE_HOME", ".local/state") / APP


def data_dir() -> Path:
    return _xdg("XDG_DATA_HOME", ".local/share") / APP


def cache_dir() -> Path:
    return _xdg("XDG_CACHE_HOME", ".cache") / APP


def runtime_dir() -> Path:
    """The per-user runtime dir for the control socket and lock (tmpfs, 0700)."""
    base = os.environ.get("XDG_RUNTIME_DIR", "")
    if base and os.path.isabs(base):
        return Path(base) / APP
    return Path(f"/tmp/{APP}-{os.getuid()}")


def spool_dir() -> Path:
    return state_dir() / "spool"


def private_dir(path: Path) -> Path:
    """Create (with any missing parents) a directory only its owner can enter, and return it."""
    for folder in reversed([path, *path.parents]):
        if not folder.exists():
            folder.mkdir(mode=0o700, exist_ok=True)
    info = path.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        raise NotYours(
            f"{path} is not a folder of yours; Turbo Whisper will not keep its files there. "
            "Remove it, or set XDG_RUNTIME_DIR / XDG_STATE_HOME to a folder you own."
        )
    if info.st_mode & 0o077:
        path.chmod(0o700)
    return path
