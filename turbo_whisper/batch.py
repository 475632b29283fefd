"""Transcripts that become ready together go to the clipboard as one text, in order.

After a cold start, a `retry` or a start with kept recordings, several transcripts are
delivered within moments; one after another in the clipboard, each would replace the
last before the user could paste it. Joined, none is lost.
"""

from __future__ import annotations

import time

JOINER = "\n"
FORGET_AFTER = 120.0  # seconds: a batch left open by a recording that failed ends here


class Batch:
    """The texts delivered since the first of a group of recordings that waited."""

    def __init__(self) -> None:
        self._texts: list[tuple[int, str]] = []  # (place in the order of recording, text)
        self._at = 0.0

    def add(self, words: str, waited: bool, more: bool, order: int = 0) -> tuple[str, int]:
        """The clipboard text now and how many dictations it holds.

        `waited`: this recording waited (for the server, a retry, a restart); `more`: other
        recordings that waited are still to come, so the batch stays open for them; `order`:
        its place among the recordings, so that one sent again after a failure takes its
        place in the text as it did when spoken.
        """
        now = time.monotonic()
        if not waited or now - self._at > FORGET_AFTER:
            self._texts = []
        self._texts.append((order, words))
        self._texts.sort(key=lambda placed: placed[0])
        self._at = now
        joined, count = JOINER.join(text for _, text in self._texts), len(self._texts)
        if not (waited and more):
            self._texts = []
        return joined, count
