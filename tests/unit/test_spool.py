import stat

import pytest

from turbo_whisper.errors import SpoolError
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
