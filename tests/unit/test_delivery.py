"""The delivery rules as a table: a recording's facts and a transcript in, a decision out."""

import pytest

from turbo_whisper.config import Settings
from turbo_whisper.delivery import Decision, Outcome, decide
from turbo_whisper.jobs import Job

LOUD, QUIET = -10.0, -45.0  # dBFS of the loudest moment: clear speech, near-silence


def job(loudest=LOUD, group=None, last=True, skip=False, wordless=False):
    return Job(b"", 3.0, loudest, None, group, last, skip, wordless)


@pytest.mark.parametrize("recording, transcript, decision", [
    (job(), " hello there ", Decision(Outcome.DELIVER, "hello there")),
    (job(), "", Decision(Outcome.HOLD_WORDLESS)),  # audible: the server may do better later
    (job(wordless=True), "  ", Decision(Outcome.SET_ASIDE)),  # wordless twice
    (job(loudest=QUIET), "", Decision(Outcome.QUIET)),
    (job(loudest=QUIET), "Thank you.", Decision(Outcome.QUIET, dropped="Thank you.")),
    (job(loudest=LOUD), "Thank you.", Decision(Outcome.DELIVER, "Thank you.")),  # was said
    (job(group="g", last=False), " first part ", Decision(Outcome.PART, "first part")),
    (job(group="g", last=False, loudest=QUIET), "Thank you.",
     Decision(Outcome.PART, "", dropped="Thank you.")),
    (job(group="g", skip=True), "", Decision(Outcome.QUIET)),  # a silent closing part alone
], ids=["words", "audible-wordless", "wordless-twice", "quiet", "quiet-invention",
        "loud-thanks", "earlier-part", "earlier-part-invention", "silent-closing-part"])
def test_what_becomes_of_a_transcript(recording, transcript, decision):
    assert decide(recording, transcript, Settings()) == decision


@pytest.mark.parametrize("earlier, transcript, recording, decision", [
    (["one two", "three"], " four ", job(group="g"), Decision(Outcome.DELIVER, "one two three four")),
    (["one", ""], "", job(group="g", skip=True), Decision(Outcome.DELIVER, "one")),
    (["", ""], "", job(group="g"), Decision(Outcome.HOLD_WORDLESS)),
])
def test_the_last_part_delivers_the_whole_dictation_in_order(earlier, transcript, recording,
                                                             decision):
    assert decide(recording, transcript, Settings(), earlier) == decision


def test_replacements_and_the_trailing_space_apply_to_the_delivered_words():
    settings = Settings(replacements=((" full stop", "."),), trailing_space=True)
    assert decide(job(), "the end full stop", settings) == Decision(Outcome.DELIVER,
                                                                    "the end. ")
