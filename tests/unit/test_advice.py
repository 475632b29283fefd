import errno
from pathlib import Path

import pytest

from turbo_whisper import advice
from turbo_whisper.advice import Fate, failure_words
from turbo_whisper.errors import Reason, ServerError


@pytest.mark.parametrize("fate", [Fate.SENT_AGAIN, Fate.HELD, Fate.WAITING])
def test_a_recording_not_on_disk_is_never_called_kept(fate):
    error = ServerError("The server is not reachable.", reason=Reason.UNREACHABLE)
    words = failure_words(error, advice.fate_of(False, fate))
    assert "kept" not in words and "only in memory" in words and "lost if" in words
    assert "kept" in failure_words(error, advice.fate_of(True, fate))


@pytest.mark.parametrize("number, words", [(errno.EROFS, "read-only"), (errno.ENOSPC, "disk full"),
                                           (errno.EACCES, "permission denied")])
def test_a_refusal_is_said_in_a_few_words(number, words):
    assert advice.reason(OSError(number, "strerror")) == words


def test_a_delivered_recording_that_stays_is_reported_as_delivered():
    words = advice.not_removed(Path("/spool"), OSError(errno.EROFS, "Read-only file system"))
    assert words.startswith("The transcript was delivered") and "/spool (read-only)" in words
    assert "could not be sent" not in words


def test_what_is_lost_at_exit_says_how_much():
    words = advice.lost_at_exit(3.25, 1, [(Path("/spool"), OSError(errno.ENOSPC, "No space"))])
    assert "3.2 s of audio" in words and "is lost" in words and "/spool (disk full)" in words


def test_a_recording_kept_in_the_runtime_dir_is_said_to_last_until_logout(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    runtime = tmp_path / "run" / "turbo-whisper" / "spool"
    assert "emptied at logout" in advice.kept_elsewhere(Path("/s"), runtime, "disk full")
    assert "logout" not in advice.kept_elsewhere(Path("/s"), tmp_path / "cache", "disk full")
