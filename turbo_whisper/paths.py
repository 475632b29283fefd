"""Where Turbo Whisper keeps its files, following the XDG base directory rules."""

from __future__ import annotations

import os
from pathlib import Path

APP = "turbo-whisper"


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


def runtime_dir() -> Path:
    """The per-user runtime dir for the control socket and lock (tmpfs, 0700)."""
    base = os.environ.get("XDG_RUNTIME_DIR", "")
    if base and os.path.isabs(base):
        return Path(base) / APP
    return Path(f"/tmp/{APP}-{os.getuid()}")


def spool_dir() -> Path:
    return state_dir() / "spool"


def private_dir(path: Path) -> Path:
    """Create a directory only its owner can enter, and return it."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.stat().st_mode & 0o077:
        path.chmod(0o700)
    return path
