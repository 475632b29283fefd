"""The book of recordings not yet delivered: what comes next, in one thread, clock handed in."""

import time
from pathlib import Path

import pytest

from turbo_whisper.errors import Reason, ServerError
from turbo_whisper.jobs import (
    ATTEMPTS,
    AfterFailure,
    Book,
    Counts,
    Job,
    Kept,
    after_failure,
    jobs_from_entries,
)
from turbo_whisper.spool import SpoolEntry


def job(name, group=None, last=True):
    return Job(b"", 1.0, -10.0, SpoolEntry(Path(f"/spool/{name}.wav")), group, last)


def names(jobs):
    return [j.entry.name for j in jobs]


def take_all(book, now=0.0):
    """Every job the book gives out now, each finished as delivered."""
    taken = []
    while (next_one := book.next_job(now)) is not None:
        taken.append(next_one)
        book.finish(next_one)
    return taken


def test_jobs_go_in_the_order_they_were_queued():
    book = Book()
    for name in "abc":
        book.add(job(name))
    assert names(take_all(book)) == ["a", "b", "c"]
    assert book.counts().queued == 0 and not book.busy()


def test_a_recording_already_in_the_book_is_not_queued_twice():
    book = Book()
    first = job("a")
    assert book.add(first) and not book.add(job("a"))
    assert book.next_job(0.0) is first
    assert not book.add(job("a"))  # being sent now
    book.finish(first)
    assert book.add(job("a"))  # delivered and forgotten: a new file of that name is new


@pytest.mark.parametrize("at, expected", [
    (1.9, []),  # while it waits, nobody goes: the spoken order is kept
    (2.0, ["a", "b", "c"]),  # its wait is over: first again, in its place
])
def test_a_job_sent_again_later_holds_the_queue_and_keeps_its_place(at, expected):
    book = Book()
    for name in "abc":
        book.add(job(name))
    failed = book.next_job(0.0)
    book.retry_later(failed, 2.0, now=0.0)
    assert names(take_all(book, at)) == expected


def test_the_wait_for_a_job_sent_again_ends_when_its_delay_does():
    book = Book()
    book.add(job("a"))
    book.retry_later(book.next_job(0.0), 1.0)
    assert not book.wait_for_due(timeout=0.05)
    assert book.wait_for_due(timeout=5.0)
    assert names(take_all(book, time.monotonic())) == ["a"]


def test_a_waiting_part_goes_again_before_the_rest_of_its_dictation():
    book = Book()
    book.add(job("g.p000", "g", last=False))
    book.add(job("g.p001", "g"))
    book.add(job("other"))
    first = book.next_job(0.0)
    book.retry_later(first, 2.0, now=0.0)
    assert names(take_all(book, 1.0)) == []
    assert names(take_all(book, 3.0)) == ["g.p000", "g.p001", "other"]


def test_cold_ones_go_first_once_a_queued_one_is_due():
    book = Book()
    book.add(job("a"))
    assert book.chill_first_due(0.0).entry.name == "a"
    assert book.next_job(0.0) is None  # nothing queued: the cold one waits for a reason to go
    assert book.counts().held == 1
    book.add(job("b"))
    assert names(take_all(book)) == ["a", "b"]


def test_a_kept_part_keeps_the_rest_of_its_dictation_the_same_way():
    book = Book()
    part = job("g.p000", "g", last=False)
    book.add(part)
    book.keep(book.next_job(0.0), Kept.HELD)
    assert book.broken("g") is Kept.HELD and book.broken("h") is None and book.broken(None) is None
    kept, known = book.take_kept()
    assert kept == [part] and known == set() and book.broken("g") is None


def test_retry_gives_back_every_kept_job_oldest_first_with_a_fresh_wait():
    book = Book()
    for name in "abc":
        book.add(job(name))
    a = book.next_job(0.0)
    book.keep(a, Kept.HELD)
    book.finish(a)
    b = book.next_job(0.0)
    b.attempts = 3
    book.keep(b, Kept.COLD)
    book.finish(b)
    kept, known = book.take_kept()
    assert kept == [a, b] and known == {"c"} and b.attempts == 0
    assert book.counts().held == 0 and book.counts().queued == 1


def test_parts_texts_wait_for_the_last_part():
    book = Book()
    first, second, last = job("g.p000", "g", False), job("g.p001", "g", False), job("g.p002", "g")
    book.keep_part(first, "one")
    book.keep_part(second, "two")
    assert book.earlier_parts(second) == []  # only the last part collects them
    assert book.earlier_parts(last) == ["one", "two"]
    assert book.earlier_parts(last) == []
    assert [entry.name for entry in book.take_group_entries(last)] == ["g.p000", "g.p001"]


def test_waiting_for_a_due_job_returns_at_once_or_after_the_timeout():
    book = Book()
    assert not book.wait_for_due(timeout=0.0)
    book.add(job("a"))
    assert book.wait_for_due(timeout=0.0)
    book.close()
    assert not book.wait_for_due()  # closed: no more work, even with jobs queued


def test_whether_more_waited_recordings_follow():
    book = Book()
    assert not book.more_waited()
    waited = job("a")
    waited.waited = True
    book.add(waited)
    assert book.more_waited()


def test_kept_parts_read_back_complete_their_dictation_with_the_last_file(tmp_path):
    import numpy as np

    from turbo_whisper.audio import encode_wav

    audio = encode_wav(np.full(1600, 1000, dtype=np.int16), 16000)
    for name in ("1.p000", "1.p001", "2"):
        (tmp_path / f"{name}.wav").write_bytes(audio)
    (tmp_path / "3.wav").write_bytes(b"damaged")
    entries = [SpoolEntry(tmp_path / f"{name}.wav") for name in ("1.p000", "1.p001", "2", "3")]
    jobs, unreadable = jobs_from_entries(entries)
    assert [(j.entry.name, j.group, j.last) for j in jobs] == [
        ("1.p000", "1", False), ("1.p001", "1", True), ("2", None, True)]
    assert [entry.name for entry, _ in unreadable] == ["3"]


@pytest.mark.parametrize("error, failed_before, step", [
    (ServerError("HTTP 413", retryable=False, reason=Reason.TOO_LARGE), 0, AfterFailure.HOLD),
    (ServerError("HTTP 500", reason=Reason.FAULT), 0, AfterFailure.AGAIN),
    (ServerError("HTTP 500", reason=Reason.FAULT), ATTEMPTS - 2, AfterFailure.AGAIN),
    (ServerError("HTTP 500", reason=Reason.FAULT), ATTEMPTS - 1, AfterFailure.SET_ASIDE),
    (ServerError("over 4 MB", reason=Reason.TOO_LARGE), ATTEMPTS - 1, AfterFailure.SET_ASIDE),
    (ServerError("bad UTF-8", reason=Reason.BAD_ANSWER), 1, AfterFailure.AGAIN),
    (ServerError("closed mid-answer", reason=Reason.CONNECTION_LOST), 1, AfterFailure.AGAIN),
    (ServerError("took too long", reason=Reason.TIMEOUT), ATTEMPTS - 1, AfterFailure.SET_ASIDE),
    # The server is not ready: however often, that is no failure of this recording.
    (ServerError("refused", reason=Reason.UNREACHABLE), 99, AfterFailure.WAIT),
    (ServerError("HTTP 503 loading", reason=Reason.BUSY), 99, AfterFailure.WAIT),
    (ServerError("not ready in time", reason=Reason.NOT_READY), 99, AfterFailure.WAIT),
    (ServerError("model downloading", reason=Reason.MODEL_MISSING), 99, AfterFailure.WAIT),
])
def test_what_follows_a_failed_transcription(error, failed_before, step):
    assert after_failure(error, failed_before) is step


def test_a_recording_set_aside_lets_the_rest_go_and_is_listed_with_why():
    book = Book()
    book.add(job("a"))
    book.add(job("b"))
    failing = book.next_job(0.0)
    failing.seconds = 3.04
    book.keep(failing, Kept.ASIDE, "HTTP 500: model crashed")
    book.finish(failing)
    assert names(take_all(book)) == ["b"]
    assert book.counts() == Counts(queued=0, held=0, aside=1)
    assert book.set_aside() == [{"recording": "a", "seconds": 3.0,
                                 "why": "HTTP 500: model crashed"}]
    assert not book.add(job("a"))  # still in the book: a spool scan does not queue it twice
    kept, _ = book.take_kept()
    assert kept == [failing] and book.set_aside() == []


def test_a_recording_set_aside_by_an_earlier_run_is_known_to_the_book():
    book = Book()
    earlier = job("old")
    book.keep(earlier, Kept.ASIDE, "HTTP 500")
    book.add(job("new"))
    assert not book.add(job("old"))
    kept, known = book.take_kept()
    assert kept == [earlier] and known == {"new"} and earlier.order < book.next_job(0.0).order
