"""Synthetic audio for tests of the cutting of long dictations: no speech synthesis needed."""

from __future__ import annotations

import numpy as np

RATE = 16000


def bursts(pattern: list[tuple[float, bool]], rate: int = RATE) -> np.ndarray:
    """Speech-like tone for each (seconds, loud) pair, near-silence otherwise."""
    pieces = []
    for seconds, loud in pattern:
        t = np.arange(int(rate * seconds))
        pieces.append((np.sin(t / 4) * (9000 if loud else 30)).astype(np.int16))
    return np.concatenate(pieces)
