"""Finding pauses in speech, so long dictations are transcribed phrase by phrase while the
user is still speaking and the wait after the last key press stays short."""

from __future__ import annotations

import numpy as np

WINDOW_SECONDS = 0.02
MIN_PART_SECONDS = 6.0  # shorter parts give Whisper too little context
MAX_PART_SECONDS = 28.0  # Whisper hears 30 s at a time: past this, cut at the quietest moment
PAUSE_SECONDS = 0.35  # a gap this long between phrases is a safe place to cut
PAUSE_BELOW_PEAK_DB = 25.0  # a pause is this much quieter than the speech around it


def window_levels(samples: np.ndarray, samplerate: int) -> np.ndarray:
    """dBFS of each 20 ms window."""
    window = max(1, int(samplerate * WINDOW_SECONDS))
    usable = len(samples) - len(samples) % window
    if usable == 0:
        return np.zeros(0)
    frames = samples[:usable].astype(np.float64).reshape(-1, window) / 32768.0
    rms = np.sqrt((frames**2).mean(axis=1))
    return np.asarray(20 * np.log10(np.maximum(rms, 1e-6)))


def find_cut(samples: np.ndarray, samplerate: int, silence_db: float,
             min_seconds: float = MIN_PART_SECONDS, pause_seconds: float = PAUSE_SECONDS,
             max_seconds: float = MAX_PART_SECONDS) -> int | None:
    """The sample index in the middle of the last pause after min_seconds, or None.

    Speech with no pause for max_seconds is cut at its quietest 20 ms instead.
    """
    window = max(1, int(samplerate * WINDOW_SECONDS))
    levels = window_levels(samples, samplerate)
    first = int(min_seconds / WINDOW_SECONDS)
    if len(levels) <= first:
        return None
    threshold = max(silence_db, float(levels.max()) - PAUSE_BELOW_PEAK_DB)
    quiet = levels < threshold
    need = max(1, int(pause_seconds / WINDOW_SECONDS))
    run = 0
    # Walk backwards: cutting at the latest pause keeps the unsent remainder short.
    for index in range(len(quiet) - 1, first - 1, -1):
        run = run + 1 if quiet[index] else 0
        if run >= need:
            return (index + need // 2) * window
    last = int(max_seconds / WINDOW_SECONDS)
    if len(levels) > last:
        return (first + int(np.argmin(levels[first:last]))) * window
    return None
