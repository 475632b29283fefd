"""From the server's transcript to the text the user gets."""

from __future__ import annotations

import re

from turbo_whisper.sanitize import strip_controls

# What Whisper models are known to invent for silence or near-silence. Dropped only when
# the clip itself was quiet, so a person who really says "thank you" still gets it.
HALLUCINATIONS = frozenset({
    "thank you", "thank you very much", "thanks for watching", "thank you for watching",
    "thanks for watching and see you next time", "please subscribe", "you", "bye",
    "subtitles by the amara.org community", "sous-titrage st' 501",
    "sous-titres réalisés para la communauté d'amara.org", "merci", "merci d'avoir regardé",
    "untertitel der amara.org-community", "ご視聴ありがとうございました",
})
QUIET_DBFS = -35.0  # a clip whose loudest 100 ms stays below this holds no clear speech

_PUNCTUATION = re.compile(r"[\s.!?,;:…'\"«»“”¡¿-]+")


def _normalise(text: str) -> str:
    return _PUNCTUATION.sub(" ", text.lower()).strip()


def is_hallucination(transcript: str, loudest_dbfs: float) -> bool:
    """Whether the transcript is a known invention for a clip this quiet."""
    return loudest_dbfs < QUIET_DBFS and _normalise(transcript) in HALLUCINATIONS


def finish(transcript: str, replacements: tuple[tuple[str, str], ...] = (),
           trailing_space: bool = False) -> str:
    """Drop control characters (a server's ESC or CR must not reach the clipboard or the
    window it is pasted into), trim, apply the user's replacements, add the trailing space."""
    text = strip_controls(transcript).strip()
    for find, replacement in replacements:
        text = text.replace(find, replacement)
    if trailing_space and text:
        text += " "
    return text
