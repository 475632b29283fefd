"""The recording on disk while it is made, and what a crash leaves behind, put right."""

import threading
import time

import numpy as np
import pytest

from turbo_whisper import journal
from turbo_whisper.audio import decode_wav, encode_wav
from turbo_whisper.spool import Spool, write_private

RATE = 16_000


class Blocks:
    """A recorder's side the journal reads: blocks arriving as a microphone would give them."""

    samplerate = RATE

    def __init__(self):
        self.blocks = []
        self.lock = threading.Lock()

    def add(self, samples):
        with self.lock:
            self.blocks.append(samples)

    def blocks_since(self, index):
        with self.lock:
            return self.blocks[index:], max(index, len(self.blocks))


def loud(seconds, start=0):
    return ((np.arange(int(seconds * RATE)) + start) % 200 * 100 - 10_000).astype(np.int16)


def always(samples, rate):
    return True


@pytest.fixture(autouse=True)
def quick_syncs(monkeypatch):
    """Sync every 20 ms instead of every half second: the same writes, sooner."""
    monkeypatch.setattr(journal, "SYNC_EVERY_SECONDS", 0.02)


def wait_until_on_disk(path, frames, timeout=5.0):
    end = time.monotonic() + timeout
    while path.stat().st_size < 24 + 2 * frames:
        assert time.monotonic() < end, path.stat().st_size
        time.sleep(0.02)


def test_audio_reaches_the_disk_while_recording_and_a_crash_leaves_a_valid_recording(tmp_path):
    spool = Spool(tmp_path / "spool")
    source = Blocks()
    kept = journal.begin(spool, source, "0001")
    audio = loud(1.2)
    for block in np.array_split(audio, 60):
        source.add(block)
    wait_until_on_disk(kept.path, len(audio))  # within a sync period, with no stop
    # A crash now: nothing more happens to the journal; the next start recovers it.
    recovered = journal.recover(spool, always)
    assert [(r.name, round(r.seconds, 2)) for r in recovered] == [("0001", 1.2)]
    samples, rate = decode_wav((spool.directory / "0001.wav").read_bytes())
    assert rate == RATE and np.array_equal(samples, audio)
    assert not kept.path.exists()
    assert journal.recover(spool, always) == []  # once


def test_a_finished_recording_already_in_the_spool_is_not_recovered_twice(tmp_path):
    spool = Spool(tmp_path / "spool")
    source = Blocks()
    kept = journal.begin(spool, source, "0002")
    source.add(loud(1.0))
    kept.finish()
    spool.put(encode_wav(loud(1.0), RATE), "0002")  # a kill came before the journal went
    assert journal.recover(spool, always) == []
    assert [e.name for e in spool.pending()] == ["0002"] and not kept.path.exists()


def test_a_long_dictation_recovers_only_what_its_parts_do_not_hold(tmp_path):
    spool = Spool(tmp_path / "spool")
    source = Blocks()
    kept = journal.begin(spool, source, "0003")
    whole = loud(3.0)
    source.add(whole)
    spool.put(encode_wav(whole[:RATE], RATE), "0003.p000")
    kept.mark_spooled(RATE + 800, 1)  # a silent stretch after the part was dropped
    spool.put(encode_wav(whole[RATE + 800: 2 * RATE], RATE), "0003.p001")  # killed before
    wait_until_on_disk(kept.path, len(whole))                                # its mark
    recovered = journal.recover(spool, always)
    assert [r.name for r in recovered] == ["0003.p002"]
    rest, _ = decode_wav((spool.directory / "0003.p002.wav").read_bytes())
    assert np.array_equal(rest, whole[2 * RATE:])


def test_what_keep_refuses_is_not_recovered(tmp_path):
    spool = Spool(tmp_path / "spool")
    source = Blocks()
    kept = journal.begin(spool, source, "0004")
    source.add(np.zeros(RATE, dtype=np.int16))
    wait_until_on_disk(kept.path, RATE)
    assert journal.recover(spool, lambda samples, rate: False) == []
    assert spool.pending() == [] and not kept.path.exists()


def test_a_complete_hidden_temporary_file_is_finished_and_a_partial_one_set_aside(tmp_path):
    spool = Spool(tmp_path / "spool")
    spool.directory.mkdir()
    wav = encode_wav(loud(1.0), RATE)
    (spool.directory / ".0005.wav.99999999.tmp").write_bytes(wav)
    (spool.directory / ".0006.wav.99999999.tmp").write_bytes(wav[: len(wav) // 2])
    finished = spool.recover_temporary()
    assert [e.name for e in finished] == ["0005"]
    assert [e.name for e in spool.pending()] == ["0005"]
    assert (spool.directory / "0005.wav").read_bytes() == wav
    assert list(spool.directory.glob(".*")) == []
    assert (tmp_path / "undelivered" / "0006.wav.incomplete").exists()


def test_a_delivery_cut_short_is_not_sent_again_and_its_text_is_kept(tmp_path):
    spool = Spool(tmp_path / "spool")
    entry = spool.put(encode_wav(loud(1.0), RATE), "0007.p001")
    spool.put(encode_wav(loud(1.0), RATE), "0007.p000")
    spool.mark_sent(entry, "the whole dictation")
    saved = spool.settle_sent()
    assert spool.pending() == []
    assert [path.read_text() for path in saved] == ["the whole dictation"]
    write_private(spool.directory / "0008.wav", encode_wav(loud(1.0), RATE))
    assert spool.settle_sent() == [] and [e.name for e in spool.pending()] == ["0008"]


def test_parts_a_full_spool_passed_to_a_fallback_place_are_not_recovered_again(tmp_path):
    spool = Spool(tmp_path / "spool", fallbacks=(tmp_path / "cache",))
    source = Blocks()
    kept = journal.begin(spool, source, "0009")
    whole = loud(3.0)
    source.add(whole)
    wait_until_on_disk(kept.path, len(whole))
    Spool(tmp_path / "cache").put(encode_wav(whole[: 2 * RATE], RATE), "0009.p000")
    recovered = journal.recover(spool, always)  # a kill came before the part's mark
    assert [r.name for r in recovered] == ["0009.p001"]
    rest, _ = decode_wav((spool.directory / "0009.p001.wav").read_bytes())
    assert np.array_equal(rest, whole[2 * RATE:])


def test_a_journal_that_a_full_disk_cuts_at_its_start_leaves_no_file(tmp_path, monkeypatch):
    import errno
    import os

    def full(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    spool = Spool(tmp_path / "spool")
    spool.directory.mkdir()
    monkeypatch.setattr(os, "pwrite", full)
    assert journal.begin(spool, Blocks(), "0010") is None
    monkeypatch.undo()
    assert list(spool.directory.iterdir()) == []
