"""The last transcript delivered, kept privately so `turbo-whisper last` can copy it again.

It is kept whether or not the history is on: a paste that was not taken, or a clipboard
that something else replaced, must not lose the text.
"""

from __future__ import annotations

from pathlib import Path

from turbo_whisper.paths import private_dir, state_dir
from turbo_whisper.spool import write_private

FILE_NAME = "last-transcript.txt"  # in the state folder, next to the spool


def last_path() -> Path:
    return state_dir() / FILE_NAME


def remember(transcript: str, path: Path | None = None) -> None:
    """Keep the transcript (0600, replaced atomically)."""
    path = path or last_path()
    private_dir(path.parent)
    write_private(path, transcript.encode("utf-8"))


def recall(path: Path | None = None) -> str | None:
    """The last transcript, or None when there is none yet."""
    try:
        return (path or last_path()).read_text(encoding="utf-8")
    except (FileNotFoundError, UnicodeDecodeError):
        return None
