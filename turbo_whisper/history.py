"""Optional history of transcripts (off by default): one JSON line each, readable by the owner only."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from turbo_whisper.paths import data_dir, private_dir


def history_path() -> Path:
    return data_dir() / "history.jsonl"


def append(transcript: str, seconds: float, path: Path | None = None) -> None:
    """Add one transcript with its time and the recording's length."""
    path = path or history_path()
    private_dir(path.parent)
    line = json.dumps({"at": time.time(), "seconds": round(seconds, 1), "text": transcript},
                      ensure_ascii=False)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as handle:
        handle.write(line + "\n")


def latest(count: int, path: Path | None = None) -> list[dict[str, Any]]:
    """The last `count` entries, oldest first; damaged lines are skipped."""
    path = path or history_path()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    entries = []
    for line in lines[-count:]:
        try:
            entries.append(json.loads(line))
        except ValueError:
            continue
    return entries
