"""What a failure means for the user: the fact, what to do, and where the recording is.

The server client and the spool state facts (errors.Reason, an OSError); only here are they
joined with what happened to the recording, so no message promises a kept recording that is
not: "kept" is said only of a recording on disk, and the folder it is in is named.
"""

from __future__ import annotations

import enum
import errno
from pathlib import Path

from turbo_whisper.errors import Reason, ServerError
from turbo_whisper.paths import runtime_dir


class Fate(enum.Enum):
    """What became of the recording the failure concerns."""

    SENT_AGAIN = "sent again"  # kept on disk, sent again by itself shortly
    HELD = "held"  # kept on disk until `turbo-whisper retry` (or the next start)
    WAITING = "waiting"  # kept on disk, sent once the server is ready
    SET_ASIDE = "set aside"  # kept on disk until `turbo-whisper retry`; later ones go meanwhile
    NOT_KEPT = "not kept"  # nothing was recorded here (`turbo-whisper transcribe FILE`)
    IN_MEMORY = "in memory"  # no folder could take it: sent again while the client runs


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
    Fate.IN_MEMORY: "The recording is only in memory (no folder could take it): it is sent "
                    "again while the client runs, and lost if the client stops.",
}

_WHY = {errno.EROFS: "read-only", errno.ENOSPC: "disk full", errno.EDQUOT: "disk quota full",
        errno.EACCES: "permission denied", errno.EPERM: "not permitted"}
_FREE = "Free some disk space or fix that folder's permissions."


def failure_words(error: ServerError, fate: Fate) -> str:
    """One message for the user: what happened, what to do, what became of the recording."""
    parts = [str(error).strip(), _TODO.get(error.reason, ""), _FATE[fate]]
    return " ".join(part for part in parts if part)


def fate_of(kept_on_disk: bool, fate: Fate) -> Fate:
    """The fate to tell: a recording that is not on disk is never called kept."""
    return fate if kept_on_disk else Fate.IN_MEMORY


def fate_words(kept_on_disk: bool, fate: Fate) -> str:
    """What became of the recording, in one sentence."""
    return _FATE[fate_of(kept_on_disk, fate)]


def reason(error: OSError) -> str:
    """A few words for why a folder refused a file: "read-only", "disk full", ..."""
    return _WHY.get(error.errno or 0, "") or error.strerror or str(error)


def _tried(refusals: list[tuple[Path, OSError]]) -> str:
    return ", nor in ".join(f"{folder} ({reason(error)})" for folder, error in refusals)


def not_kept(refusals: list[tuple[Path, OSError]]) -> str:
    """No folder took the recording: where it was tried, and what that means."""
    return (f"The recording could not be saved in {_tried(refusals)}: it is only in memory, "
            "sent from there, and lost if the client stops. Free some disk space or fix the "
            "folders' permissions.")


def kept_elsewhere(spool: Path, folder: Path, why: str) -> str:
    """The spool refused a recording that another folder took: which, and for how long."""
    fleeting = folder.is_relative_to(runtime_dir())
    until = " (a folder emptied at logout: it is lost if the client does not send it before)"
    return (f"The spool folder {spool} cannot take the recording ({why}); it is kept in "
            f"{folder} instead{until if fleeting else ''}, and sent from there like any "
            f"other. {_FREE}")


def not_removed(folder: Path, error: OSError) -> str:
    """A transcript went out but its recording stays: the truth, not "could not be sent"."""
    return (f"The transcript was delivered, but the recording could not be removed from "
            f"{folder} ({reason(error)}): it is remembered as delivered and not sent again. "
            "Remove it yourself once that folder can be written again.")


def still_there(recordings: list[Path]) -> str:
    """At start: recordings delivered in an earlier run that their folder would not let go."""
    folders = ", ".join(sorted({str(path.parent) for path in recordings}))
    return (f"{len(recordings)} recording(s) whose transcript was already delivered are "
            f"still in {folders}, which cannot be written (read-only?); they are not sent "
            "again, and are removed once the folder can be written.")


def in_memory_now(count: int) -> str:
    return (f"{count} recording(s) only in memory (no folder could take them): lost if the "
            "client stops before they are transcribed.")


def kept_at_exit(folder: Path, seconds: float) -> str:
    return (f"Stopping: {seconds:.0f} s of audio that was only in memory is now kept in "
            f"{folder}; the next start sends it.")


def lost_at_exit(seconds: float, count: int, refusals: list[tuple[Path, OSError]]) -> str:
    """At exit, what could be written nowhere: said plainly, with how much."""
    return (f"Stopping: {seconds:.1f} s of audio ({count} recording(s) never transcribed) "
            f"could not be saved in {_tried(refusals)}, and is lost now.")
