"""Where Turbo Whisper keeps its files, following the XDG base directory rules."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from turbo_whisper.errors import NotYours

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


def check_private(path: Path) -> bool:
    """Whether `path` is there as a folder of the user's own that nobody else can write to;
    False when it does not exist; NotYours when it is something else (a link, a file, another
    user's folder, a folder others may plant files in)."""
    try:
        info = path.lstat()
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError as exc:
        raise NotYours(f"{path} cannot be used ({exc.strerror}). {_WHAT_TO_DO}") from None
    if stat.S_ISLNK(info.st_mode):
        why = "is a symbolic link, not a folder of yours"
    elif not stat.S_ISDIR(info.st_mode):
        why = "is not a folder"
    elif info.st_uid != os.getuid():
        why = f"belongs to another user (uid {info.st_uid})"
    elif info.st_mode & 0o022:
        why = "can be written by other users"
    else:
        return True
    raise NotYours(f"{path} {why}; Turbo Whisper will not use it. {_WHAT_TO_DO}")


_WHAT_TO_DO = ("Remove it, or set XDG_RUNTIME_DIR / XDG_STATE_HOME to a folder of yours "
               "that only you can write to.")


def private_dir(path: Path) -> Path:
    """Create (with any missing parents) a directory only its owner can enter, and return it;
    NotYours, in words, when it cannot be made or is not the user's own."""
    for folder in reversed([path, *path.parents]):
        try:
            if not folder.exists():
                folder.mkdir(mode=0o700, exist_ok=True)
        except OSError as exc:
            raise NotYours(f"The folder {path} cannot be created ({exc.strerror} at "
                           f"{folder}). {_WHAT_TO_DO}") from None
    check_private(path)
    if path.lstat().st_mode & 0o077:
        path.chmod(0o700)
    return path

