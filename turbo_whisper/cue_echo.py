"""Taking the start cue back out of a recording.

The start cue plays while the microphone already records (waiting for it to end would delay
the first syllable), so loudspeakers, or a sound server whose output is the input, put it
into the dictation: a beep alone would pass for speech and be sent. The cue is a known sound,
so where the start of the recording matches it closely, that span is silenced.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

SEARCH_SECONDS = 1.5  # the cue is heard within this time of the stream's start
MIN_MATCH = 0.5  # normalised correlation; speech against a pure tone stays well below
MARGIN_SECONDS = 0.01
HUSHED_SECONDS = 0.15  # a cue cut short at the start still sounds this long in the sound server


def find_known_sound(samples: np.ndarray, template: np.ndarray, rate: int
                     ) -> tuple[int, int] | None:
    """The span (first frame, end frame) of template's best match in the first moments of
    samples, if it matches closely; else None."""
    head = samples[: int(SEARCH_SECONDS * rate) + len(template)].astype(np.float64)
    size = len(template)
    if size == 0 or len(head) < size:
        return None
    size_fft = 1 << int(len(head) + size - 1).bit_length()
    spectrum = np.fft.rfft(head, size_fft) * np.conj(np.fft.rfft(template, size_fft))
    correlation = np.fft.irfft(spectrum, size_fft)[: len(head) - size + 1]
    energy = np.concatenate([[0.0], np.cumsum(head**2)])
    window_norm = np.sqrt(np.maximum(energy[size:] - energy[:-size], 1e-9))
    match = correlation / (window_norm * np.linalg.norm(template) + 1e-9)
    at = int(np.argmax(match))
    if match[at] < MIN_MATCH:
        return None
    margin = int(MARGIN_SECONDS * rate)
    return max(0, at - margin), at + size + margin


class CueEraser:
    """Finds the start cue in one recording's first moments and silences it there."""

    def __init__(self, template_at: Callable[[int], np.ndarray]) -> None:
        self._template_at = template_at
        self._templates: dict[int, np.ndarray] = {}
        self._look = False
        self.pending = False  # the cue sounded and has not been looked for yet
        self._hushed = False
        self._spans: list[tuple[int, int]] = []

    def reset(self, cue_played: bool, hushed: bool = False) -> None:
        """A recording starts; cue_played says whether the start cue sounded with it, hushed
        whether an earlier cue was still sounding and was cut short."""
        self.pending, self._hushed, self._spans = cue_played or hushed, hushed, []
        self._look = cue_played

    def locate(self, samples: np.ndarray, rate: int, final: bool) -> None:
        """Look for the cue in the recording so far (from its first frame) once enough of
        it is there, or now when it is final."""
        if not self.pending or (not final and len(samples) < SEARCH_SECONDS * rate * 1.2):
            return
        self.pending = False
        if self._hushed:
            self._spans.append((0, int(HUSHED_SECONDS * rate)))
        if not self._look:
            return
        if rate not in self._templates:
            self._templates[rate] = np.asarray(self._template_at(rate), dtype=np.float64)
        span = find_known_sound(samples, self._templates[rate], rate)
        self._spans += [span] if span else []

    def silence(self, samples: np.ndarray, offset: int = 0) -> np.ndarray:
        """samples (which begin `offset` frames into the recording) with the cues silenced."""
        spans = [(start, end) for start, end in self._spans if end > offset]
        if not spans:
            return samples
        cleaned = samples.copy()
        for start, end in spans:
            cleaned[max(0, start - offset): end - offset] = 0
        return cleaned
