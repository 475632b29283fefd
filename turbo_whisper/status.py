"""What the transcription engine is doing, in words a user can read."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass


class Phase(str, enum.Enum):
    STARTING = "starting"  # nothing answers yet: the server or container is coming up
    DOWNLOADING = "downloading"  # the model is being fetched (first use)
    LOADING = "loading"  # the model is being loaded into memory
    READY = "ready"
    UNREACHABLE = "unreachable"  # it answered before and no longer does, or nothing answers for long
    FAULT = "fault"  # it answers, and reports a fault in its own words; waiting goes on
    FAILED = "failed"  # it answers, but with an error the client cannot wait out


@dataclass(frozen=True)
class EngineStatus:
    phase: Phase
    detail: str  # a whole sentence for the user, e.g. "downloading model X (1.2 GB so far)"
    server_kind: str | None = None  # "fedirz", "speaches", "whispercpp", "openai", "local"

    def __str__(self) -> str:
        return self.detail


StatusCallback = Callable[[EngineStatus], None]
