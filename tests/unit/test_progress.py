"""The server's download progress, read one look at a time with a clock the test moves."""

from turbo_whisper.progress import PROGRESS_NOTIFY_SECONDS, ProgressWatcher
from turbo_whisper.status import EngineStatus, Phase


class Told:
    """A feedback stand-in that keeps what it was told and whether it reached the desktop."""

    def __init__(self):
        self.lines = []

    def tell(self, level, message, *, notify=True):
        self.lines.append((level, message, notify))


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def downloading(detail):
    return EngineStatus(Phase.DOWNLOADING, detail)


def watcher_reading(*answers):
    answers = list(answers)
    told, clock = Told(), Clock()
    watcher = ProgressWatcher(lambda: answers.pop(0), lambda: False, told, clock=clock)
    return watcher, told, clock


def test_each_new_step_is_logged_once_and_kept_for_status():
    watcher, told, _ = watcher_reading(downloading("1.2 GB so far."), downloading("1.2 GB so far."),
                                       downloading("1.5 GB so far."))
    watcher.look()
    watcher.look()
    assert watcher.detail == "1.2 GB so far."
    watcher.look()
    assert [message for _, message, _ in told.lines] == ["1.2 GB so far.", "1.5 GB so far."]
    assert watcher.detail == "1.5 GB so far."


def test_the_desktop_gets_a_progress_note_a_minute_at_most():
    watcher, told, clock = watcher_reading(*(downloading(f"{n} GB so far.") for n in range(3)))
    clock.now += 10
    watcher.look()  # the phase change itself was just notified
    clock.now += PROGRESS_NOTIFY_SECONDS
    watcher.look()
    clock.now += 10
    watcher.look()
    assert [notify for _, _, notify in told.lines] == [False, True, False]


def test_a_container_that_says_nothing_clears_the_step():
    watcher, told, _ = watcher_reading(downloading("1.2 GB so far."), None)
    watcher.look()
    watcher.look()
    assert watcher.detail == "" and len(told.lines) == 1


def test_with_nothing_to_watch_no_thread_is_started():
    watcher = ProgressWatcher(None, lambda: False, Told())
    watcher.start()
    assert watcher._thread is None
