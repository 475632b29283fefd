"""Cutting a long dictation into parts at its pauses, while it is still being recorded.

The controller feeds it the samples recorded since the last look; each cut gives the part
up to the latest pause, which is sent at once, so a long dictation's text is mostly ready
when the user stops. Pure: arrays in, parts and names out; the clock is handed in.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from turbo_whisper import segment

CUT_EVERY_SECONDS = 0.5  # while recording, look for a pause to cut at this often


class Parts:
    """The parts cut so far from the recording in progress: what is not sent yet, where the
    next cut is looked for, how many parts there are and the dictation they belong to."""

    def __init__(self, now: float = 0.0) -> None:
        self.group: str | None = None  # set at the first part
        self.index = 0  # the next part's number
        self.unsent: np.ndarray = np.zeros(0, dtype=np.int16)
        self.cut_frames = 0  # samples of the recording already in parts
        self.next_cut = now + CUT_EVERY_SECONDS

    def until_next_cut(self, now: float) -> float:
        return max(0.0, self.next_cut - now)

    def add(self, new: np.ndarray, now: float) -> None:
        """Samples recorded since the last look; the next look is due CUT_EVERY_SECONDS on."""
        self.next_cut = now + CUT_EVERY_SECONDS
        if len(new):
            self.unsent = np.concatenate([self.unsent, new])

    def cut(self, rate: int, threshold_db: float) -> np.ndarray | None:
        """The speech up to the latest pause, taken out of what is unsent; None without one."""
        cut = segment.find_cut(self.unsent, rate, threshold_db)
        if cut is None:
            return None
        part, self.unsent = self.unsent[:cut], self.unsent[cut:]
        self.cut_frames += cut
        return part

    def rest(self, samples: np.ndarray) -> np.ndarray:
        """What the whole recording holds after the parts cut from it."""
        return samples[self.cut_frames:]

    def name_next(self, new_group: Callable[[], str]) -> str:
        """The spool name of the next part ("<dictation>.p<index>"); the first part names the
        dictation through `new_group`."""
        if self.group is None:
            self.group = new_group()
        name = f"{self.group}.p{self.index:03d}"
        self.index += 1
        return name
