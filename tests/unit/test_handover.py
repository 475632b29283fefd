"""The Deliverer, called as the worker calls it, with a real spool and a stand-in output."""

import numpy as np

from turbo_whisper import last
from turbo_whisper.audio import encode_wav
from turbo_whisper.errors import ClipboardError
from turbo_whisper.handover import Deliverer
from turbo_whisper.jobs import Book, Job
from turbo_whisper.spool import Spool

WAV = encode_wav(np.full(16000, 3000, dtype=np.int16), 16000)


class Told:
    """A feedback stand-in that keeps every line and notification."""

    def __init__(self):
        self.lines = []

    def tell(self, level, message, *, notify=True):
        self.lines.append((level, message))

    def notify(self, level, message):
        self.lines.append((level, message))

    def said(self, words):
        return [line for line in self.lines if words in line[1]]


class SeeingOutput:
    """Keeps each text it is given, and whether the spool had noted it as sent by then."""

    inserts = False  # a clipboard: each text replaces the one before

    def __init__(self, spool, fail=0):
        self.spool = spool
        self.fail = fail
        self.texts = []
        self.sent_noted = []

    def deliver(self, transcript):
        self.sent_noted.append(sorted(path.name for path in self.spool.directory.glob("*.sent")))
        if self.fail:
            self.fail -= 1
            raise ClipboardError("The transcript could not be copied: no clipboard tool.")
        self.texts.append(transcript)


def setup(tmp_path, fail=0):
    spool = Spool(tmp_path / "spool")
    book, told, cues = Book(), Told(), []
    output = SeeingOutput(spool, fail)
    return Deliverer(output, spool, book, told, cues.append), spool, book, output, told, cues


def kept_job(spool, **facts):
    return Job(WAV, 1.0, -20.0, spool.put(WAV), **facts)


def test_a_transcript_reaches_the_output_once_noted_as_sent_first_and_is_forgotten(tmp_path):
    deliverer, spool, book, output, told, cues = setup(tmp_path)
    job = kept_job(spool)
    assert deliverer.copy(job, "hello there") is True
    assert output.texts == ["hello there"]
    assert output.sent_noted == [[f"{job.entry.name}.sent"]]
    assert spool.pending() == [] and not list(spool.directory.glob("*.sent"))
    assert book.delivery()[0] == 1
    assert last.recall(tmp_path / last.FILE_NAME) == "hello there"
    assert cues == ["done"]  # handed to the callback, never played here


def test_a_clipboard_failure_saves_the_text_and_forgets_the_recording(tmp_path):
    deliverer, spool, book, output, told, cues = setup(tmp_path, fail=1)
    job = kept_job(spool)
    assert deliverer.copy(job, "hello there") is True
    saved = tmp_path / "undelivered" / f"{job.entry.name}.txt"
    assert saved.read_text() == "hello there"
    assert output.texts == [] and spool.pending() == []
    assert told.said(str(saved)) and cues == ["error"]
    assert book.delivery()[0] == 0


def test_with_nowhere_to_save_the_text_the_recording_stays_kept(tmp_path):
    deliverer, spool, book, output, told, cues = setup(tmp_path, fail=1)
    (tmp_path / "undelivered").write_text("a file where the folder should be")
    job = kept_job(spool)
    assert deliverer.copy(job, "hello there") is False
    assert spool.pending() == [job.entry]
    assert told.said("the recording stays kept: hello there") and cues == []


def test_recordings_that_waited_are_joined_in_the_order_they_were_spoken(tmp_path):
    deliverer, spool, book, output, told, cues = setup(tmp_path)
    still_to_come = kept_job(spool, waited=True)
    book.add(still_to_come)
    later = kept_job(spool, waited=True, order=5)
    earlier = kept_job(spool, waited=True, order=3)
    deliverer.copy(later, "second")  # sent again after a failure, it came back first
    assert book.next_job() is still_to_come  # nothing that waited is left to come
    deliverer.copy(earlier, "first")
    assert output.texts == ["second", "first\nsecond"]
    assert told.said("2 dictations, in order")


def test_a_paste_of_recordings_that_waited_inserts_each_text_once(tmp_path):
    deliverer, spool, book, output, told, cues = setup(tmp_path)
    output.inserts = True  # pasted at the cursor, where the text before it already is
    book.add(kept_job(spool, waited=True))  # a third is still to come: the batch stays open
    deliverer.copy(kept_job(spool, waited=True, order=1), "good morning")
    deliverer.copy(kept_job(spool, waited=True, order=2), "send the report")
    assert output.texts == ["good morning", " send the report"]
    assert last.recall(tmp_path / last.FILE_NAME) == "good morning\nsend the report"
    assert told.said("2 dictations, in order")


def test_a_dictation_wordless_twice_is_moved_to_the_undelivered_folder(tmp_path):
    deliverer, spool, book, output, told, cues = setup(tmp_path)
    job = kept_job(spool)
    assert deliverer.set_aside(job) is True
    assert spool.pending() == [] and output.texts == []
    assert (tmp_path / "undelivered" / job.entry.path.name).exists()


def test_forgetting_a_long_dictation_removes_its_earlier_parts_too(tmp_path):
    deliverer, spool, book, output, told, cues = setup(tmp_path)
    first = kept_job(spool, group="g", last=False)
    rest = kept_job(spool, group="g")
    book.keep_part(first, "one")
    deliverer.forget(rest)
    assert spool.pending() == []
