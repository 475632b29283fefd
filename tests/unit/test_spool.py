import errno
import os
import stat
from pathlib import Path

import pytest

from turbo_whisper.errors import NotKept, NotRemoved, SpoolError
from turbo_whisper.spool import Spool


def test_put_keeps_private_files_in_order(tmp_path):
    spool = Spool(tmp_path / "spool")
    first = spool.put(b"one")
    second = spool.put(b"two")
    assert [e.read() for e in spool.pending()] == [b"one", b"two"]
    assert stat.S_IMODE(first.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(spool.directory.stat().st_mode) == 0o700
    spool.done(first)
    assert spool.pending() == [second]


def test_no_temporary_files_are_left_or_listed(tmp_path):
    spool = Spool(tmp_path)
    spool.put(b"x")
    (tmp_path / ".partial.wav.123.tmp").write_bytes(b"half")
    assert len(spool.pending()) == 1
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp") and p.name != ".partial.wav.123.tmp"]


def test_missing_directory_has_nothing_pending(tmp_path):
    assert Spool(tmp_path / "never").pending() == []


def test_full_or_broken_disk_is_a_spool_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(SpoolError, match="could not be saved"):
        Spool(blocker / "spool").put(b"x")


def test_undelivered_text_is_kept_private(tmp_path):
    spool = Spool(tmp_path / "spool")
    entry = spool.put(b"audio")
    path = spool.keep_text(entry, "Café 🎤")
    assert path.read_text(encoding="utf-8") == "Café 🎤"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


# --------------------------------------------------------------------------- full and read-only disks


def read_only(monkeypatch, folder):
    """Make `folder` behave as on a read-only file system: no file made, none removed."""
    real_open, real_unlink = os.open, Path.unlink

    def refuse(path):
        return OSError(errno.EROFS, "Read-only file system", str(path))

    def guarded_open(path, flags, *args, **kwargs):
        if flags & os.O_CREAT and Path(path).parent == folder:
            raise refuse(path)
        return real_open(path, flags, *args, **kwargs)

    def guarded_unlink(self, missing_ok=False):
        if self.parent == folder and (self.exists() or not missing_ok):
            raise refuse(self)
        return real_unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(os, "open", guarded_open)
    monkeypatch.setattr(Path, "unlink", guarded_unlink)


def test_a_folder_that_cannot_take_the_recording_passes_it_to_the_next_place(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    spool = Spool(blocker / "spool", fallbacks=(tmp_path / "cache" / "spool",))
    entry = spool.put(b"audio")
    assert entry.path.parent == tmp_path / "cache" / "spool" and entry.refused
    assert stat.S_IMODE(entry.path.parent.stat().st_mode) == 0o700
    assert spool.pending() == [entry]
    spool.done(entry)
    assert spool.pending() == []


def test_recordings_in_every_place_are_pending_in_the_order_they_were_made(tmp_path):
    spool = Spool(tmp_path / "spool", fallbacks=(tmp_path / "cache",))
    first = spool.put(b"one")
    second = Spool(tmp_path / "cache").put(b"two")
    third = spool.put(b"three")
    assert spool.pending() == [first, second, third]


def test_no_place_at_all_says_the_recording_is_only_in_memory(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    spool = Spool(blocker / "spool", fallbacks=(blocker / "cache",))
    with pytest.raises(NotKept) as caught:
        spool.put(b"audio")
    words = str(caught.value)
    assert str(blocker / "spool") in words and str(blocker / "cache") in words
    assert "only in memory" in words and "lost if the client stops" in words
    assert len(caught.value.refusals) == 2


def test_a_delivered_recording_a_read_only_folder_keeps_is_never_pending_again(
        tmp_path, monkeypatch):
    spool = Spool(tmp_path / "spool", fallbacks=(tmp_path / "cache",))
    entry = spool.put(b"audio")
    read_only(monkeypatch, tmp_path / "spool")
    spool.mark_sent(entry, "the text")  # the note goes to the writable place
    assert (tmp_path / "cache" / f"{entry.name}.sent").read_text() == "the text"
    with pytest.raises(NotRemoved) as caught:
        spool.done(entry)
    assert "was delivered" in str(caught.value) and "read-only" in str(caught.value)
    assert "could not be sent" not in str(caught.value)
    assert entry.path.exists() and spool.pending() == []
    restarted = Spool(tmp_path / "spool", fallbacks=(tmp_path / "cache",))
    assert restarted.settle_delivered() == [entry.path]
    assert restarted.settle_sent() == []  # delivered for certain: no "maybe not delivered"
    assert restarted.pending() == []
    monkeypatch.undo()  # the folder can be written again
    again = Spool(tmp_path / "spool", fallbacks=(tmp_path / "cache",))
    assert again.settle_delivered() == []
    assert not entry.path.exists() and list((tmp_path / "cache").iterdir()) == []


def test_with_no_writable_place_a_delivered_recording_is_remembered_in_memory(
        tmp_path, monkeypatch):
    spool = Spool(tmp_path / "spool")
    entry = spool.put(b"audio")
    read_only(monkeypatch, tmp_path / "spool")
    with pytest.raises(OSError):
        spool.mark_sent(entry, "the text")
    with pytest.raises(NotRemoved):
        spool.done(entry)
    assert spool.pending() == []


def test_an_interrupted_delivery_noted_in_a_fallback_place_is_not_sent_again(tmp_path):
    spool = Spool(tmp_path / "spool", fallbacks=(tmp_path / "cache",))
    entry = spool.put(b"audio")
    (tmp_path / "cache").mkdir(mode=0o700)
    (tmp_path / "cache" / f"{entry.name}.sent").write_text("the text")
    saved = Spool(tmp_path / "spool", fallbacks=(tmp_path / "cache",)).settle_sent()
    assert [path.read_text() for path in saved] == ["the text"]
    assert not entry.path.exists() and spool.pending() == []


def test_a_delivery_note_a_kill_left_empty_means_nothing_was_delivered_and_it_is_sent(tmp_path):
    spool = Spool(tmp_path / "spool")
    entry = spool.put(b"audio")
    (tmp_path / "spool" / f"{entry.name}.sent").write_bytes(b"")  # killed before the text
    restarted = Spool(tmp_path / "spool")
    assert restarted.settle_sent() == []
    assert restarted.pending() == [entry] and not list((tmp_path / "spool").glob("*.sent"))


def test_undelivered_text_goes_next_to_a_fallback_place_when_the_spool_disk_refuses(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    spool = Spool(blocker / "spool", fallbacks=(tmp_path / "cache" / "spool",))
    path = spool.keep_text(None, "words")
    assert path.parent == tmp_path / "cache" / "undelivered" and path.read_text() == "words"
