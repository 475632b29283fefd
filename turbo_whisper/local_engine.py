"""The embedded engine: faster-whisper in the client's own process, on the CPU.

For machines without Docker or a GPU (`engine = "local"`, `pip install 'turbo-whisper[local]'`).
It offers what the HTTP server client offers, so the app, spool and clipboard path are the same.
"""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path
from typing import Any

from turbo_whisper.config import Settings
from turbo_whisper.errors import ServerError, ServerNotReady
from turbo_whisper.status import EngineStatus, Phase, StatusCallback

INSTALL_HINT = "pip install 'turbo-whisper[local]'"


class LocalEngine:
    """A Whisper model loaded once (CPU, int8) and used for every transcription."""

    kind = "local"

    def __init__(self, settings: Settings):
        self.settings = settings
        self._model: Any = None
        self.ready = False
        self._lock = threading.Lock()  # one transcription at a time; loading happens once
        self._status = EngineStatus(Phase.STARTING, f"The local model {self.model} is not "
                                    "loaded yet.", self.kind)

    @property
    def model(self) -> str:
        return self.settings.local_model

    @property
    def url(self) -> str:
        return f"local:{self.model}"

    @property
    def status(self) -> EngineStatus:
        return self._status

    def _say(self, on_status: StatusCallback | None, phase: Phase, detail: str) -> None:
        self._status = EngineStatus(phase, detail, self.kind)
        if on_status is not None:
            on_status(self._status)

    def _model_source(self) -> str:
        """A directory path when the setting names one, else the model id as given."""
        path = Path(self.model).expanduser()
        return str(path) if path.is_dir() else self.model

    def wait_until_ready(self, on_status: StatusCallback | None = None,
                         deadline: float | None = None,
                         give_up_after: float | None = None) -> None:
        """Load the model unless it is loaded; LOADING then READY through on_status."""
        with self._lock:
            if self._model is not None:
                return
            if deadline is not None and time.monotonic() >= deadline:
                raise ServerNotReady(f"The local model {self.model} was not loaded in time.")
            try:
                from faster_whisper import WhisperModel
            except ImportError:
                raise ServerError(
                    f"engine = \"local\" needs faster-whisper: {INSTALL_HINT}.", retryable=False
                ) from None
            source = self._model_source()
            where = "from " + source if source != self.model else "(downloaded on first use)"
            self._say(on_status, Phase.LOADING, f"Loading the local model {self.model} {where}.")
            try:
                self._model = WhisperModel(source, device="cpu", compute_type="int8")
            except Exception as exc:  # ctranslate2 and the hub raise many kinds
                self._say(on_status, Phase.FAILED, f"The local model {self.model} could not be "
                          f"loaded: {exc}")
                raise ServerError(self._status.detail, retryable=False) from exc
            self.ready = True
            self._say(on_status, Phase.READY, f"Ready: the local model {self.model} on the CPU.")

    def check(self, on_status: StatusCallback | None = None, deadline: float | None = None,
              prepare: bool = False) -> EngineStatus:
        """The engine's state; with prepare, load the model first."""
        if prepare:
            self.wait_until_ready(on_status, deadline)
        return self._status

    def transcribe(self, wav_bytes: bytes, *, duration_s: float,
                   filename: str = "audio.wav") -> str:
        """The transcript of one clip (WAV or FLAC, any rate: it is decoded and resampled)."""
        if self._model is None:
            self.wait_until_ready()
        options = {"language": self.settings.language, "initial_prompt": self.settings.prompt}
        with self._lock:
            try:
                segments, _info = self._model.transcribe(io.BytesIO(wav_bytes), **options)
                # Decoding happens while iterating, so inside the lock.
                return "".join(segment.text for segment in segments).strip()
            except Exception as exc:  # PyAV and ctranslate2 raise many kinds
                raise ServerError(
                    f"The local model could not transcribe {duration_s:.1f} s of audio "
                    f"({filename}): {exc}", retryable=False,
                ) from exc

    def cancel(self) -> None:
        """Nothing to cancel: loading cannot be interrupted and is short."""

    def close(self) -> None:
        with self._lock:
            self._model = None  # frees the model's memory
            self.ready = False
        self._say(None, Phase.STARTING, f"The local model {self.model} is unloaded.")
