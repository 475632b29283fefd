"""What the recording indicator shows for each state of the client."""

from turbo_whisper.indicator import Flashes, Look, look_of

IDLE = {"state": "idle", "work": "idle", "pending": 0, "delivered": 0, "held": 0}


def test_recording_shows_the_input_level_from_silence_to_loud():
    assert look_of({**IDLE, "state": "recording"}, None).level == 0.0
    assert look_of({**IDLE, "state": "recording"}, -80.0).level == 0.0
    assert 0.4 < look_of({**IDLE, "state": "recording"}, -35.0).level < 0.6
    assert look_of({**IDLE, "state": "recording"}, 0.0).level == 1.0


def test_work_and_waiting_are_shown_and_idle_hides_it():
    assert look_of({**IDLE, "work": "transcribing"}, None).state == "transcribing"
    waiting = look_of({**IDLE, "work": "waiting for server", "pending": 1,
                       "work_detail": "Downloading 40%"}, None)
    assert waiting.state == "waiting" and "Downloading 40%" in waiting.words
    # Waiting with nothing to send (at start-up) is not worth a window.
    assert look_of({**IDLE, "work": "waiting for server"}, None) == Look(None)
    assert look_of(IDLE, None) == Look(None)


def test_a_delivery_or_an_error_flashes_for_a_moment():
    flashes = Flashes()
    assert flashes.look(IDLE, 0.0) is None  # the first look only learns the counts
    assert flashes.look({**IDLE, "delivered": 1}, 1.0).state == "copied"
    assert flashes.look({**IDLE, "delivered": 1}, 2.0).state == "copied"
    assert flashes.look({**IDLE, "delivered": 1}, 3.0) is None
    assert flashes.look({**IDLE, "delivered": 1, "held": 1}, 4.0).state == "error"
