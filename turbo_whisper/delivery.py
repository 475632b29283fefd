"""What to do with a transcript once it is back: the rules, without the doing.

`decide(job, transcript, settings)` is pure: it takes the recording's facts and the server's
text (with, for a part of a long dictation, the texts of its earlier parts) and says what
the app does next. The app carries it out (clipboard, spool, messages).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from turbo_whisper import text

if TYPE_CHECKING:
    from turbo_whisper.config import Settings
    from turbo_whisper.jobs import Job


class Outcome(enum.Enum):
    PART = "part"  # an earlier part of a long dictation: keep its text for the last one
    QUIET = "quiet"  # no words in quiet audio: nothing to copy, the recording is forgotten
    HOLD_WORDLESS = "hold wordless"  # no words in audible audio: kept for `retry`, said once
    SET_ASIDE = "set aside"  # wordless again: moved out of the queue, kept to listen to
    DELIVER = "deliver"  # words for the clipboard


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    text: str = ""  # the words to deliver (DELIVER), or the part's text to keep (PART)
    dropped: str = ""  # what Whisper invented for near-silence, dropped (for the log)


def decide(job: Job, transcript: str, settings: Settings,
           earlier: Sequence[str] = ()) -> Decision:
    """What becomes of `transcript`, the text of `job`; `earlier`: the texts of the parts
    before it, for a part of a long dictation."""
    dropped = ""
    if text.is_hallucination(transcript, job.loudest_dbfs):
        dropped, transcript = transcript, ""
    if job.group is not None and not job.last:
        return Decision(Outcome.PART, transcript.strip(), dropped)
    if job.group is not None:
        transcript = " ".join(part for part in [*earlier, transcript.strip()] if part)
    words = text.finish(transcript, settings.replacements, settings.trailing_space)
    if words.strip():
        return Decision(Outcome.DELIVER, words, dropped)
    if job.loudest_dbfs < text.QUIET_DBFS or job.skip:
        return Decision(Outcome.QUIET, dropped=dropped)
    return Decision(Outcome.SET_ASIDE if job.wordless else Outcome.HOLD_WORDLESS,
                    dropped=dropped)
