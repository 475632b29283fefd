"""Transcripts that become ready together reach the clipboard as one text, in order."""

from turbo_whisper.batch import Batch


def test_texts_that_waited_together_are_joined_in_order():
    batch = Batch()
    assert batch.add("one", waited=True, more=True) == ("one", 1)
    assert batch.add("two", waited=True, more=True) == ("one\ntwo", 2)
    assert batch.add("three", waited=True, more=False) == ("one\ntwo\nthree", 3)
    assert batch.add("four", waited=True, more=False) == ("four", 1)  # a new batch


def test_a_dictation_that_did_not_wait_stands_alone():
    batch = Batch()
    batch.add("kept", waited=True, more=True)
    assert batch.add("fresh", waited=False, more=True) == ("fresh", 1)


def test_a_recording_sent_again_after_a_failure_takes_its_place_in_the_text():
    batch = Batch()
    assert batch.add("second", waited=True, more=True, order=2) == ("second", 1)
    assert batch.add("first", waited=True, more=False, order=1) == ("first\nsecond", 2)
