"""What a server failure means for the user: the fact, what to do, and where the recording is.

The server client states facts and a reason (errors.Reason); only here are they joined
with what happened to the recording, so no message promises a kept recording that is not.
"""

from __future__ import annotations

import enum

from turbo_whisper.errors import Reason, ServerError


class Fate(enum.Enum):
    """What became of the recording the failure concerns."""

    SENT_AGAIN = "sent again"  # kept on disk, sent again by itself shortly
    HELD = "held"  # kept on disk until `turbo-whisper retry` (or the next start)
    WAITING = "waiting"  # kept on disk, sent once the server is ready
    SET_ASIDE = "set aside"  # kept on disk until `turbo-whisper retry`; later ones go meanwhile
    NOT_KEPT = "not kept"  # nothing was recorded here (`turbo-whisper transcribe FILE`)


_TODO = {
    Reason.TIMEOUT: "Raise 'request_timeout' for a slow server.",
    Reason.MODEL_MISSING: "",  # the message names the models the server has
    Reason.TOO_LARGE: "Set 'max_seconds' lower, or upload_format = \"flac\".",
}

_FATE = {
    Fate.SENT_AGAIN: "The recording is kept and will be sent again.",
    Fate.HELD: "The recording is kept and stays pending; send it again with `turbo-whisper retry`.",
    Fate.WAITING: "Your recordings are kept: `turbo-whisper retry` sends them once it is ready, "
                  "and so does the next start of the client (setting 'ready_timeout' sets the "
                  "patience).",
    Fate.SET_ASIDE: "The recording is kept but set aside, so that the ones after it go on: "
                    "`turbo-whisper status` lists it, `turbo-whisper retry` sends it again.",
    Fate.NOT_KEPT: "Nothing was transcribed; run the command again once the server works.",
}


def failure_words(error: ServerError, fate: Fate) -> str:
    """One message for the user: what happened, what to do, what became of the recording."""
    parts = [str(error).strip(), _TODO.get(error.reason, ""), _FATE[fate]]
    return " ".join(part for part in parts if part)
