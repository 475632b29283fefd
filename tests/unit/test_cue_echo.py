import numpy as np

from turbo_whisper.cue_echo import CueEraser, find_known_sound
from turbo_whisper.feedback import cue_samples

RATE = 16_000


def speech_like(seconds: float, seed: int = 1) -> np.ndarray:
    """Noise shaped into syllables: loud, broadband, nothing like a pure tone."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 4 * t)
    return (rng.normal(0, 3000, len(t)) * envelope).astype(np.int16)


def with_cue(samples: np.ndarray, at_seconds: float, gain: float = 0.8) -> np.ndarray:
    cue = cue_samples("start", rate=RATE) * 32767 * gain
    mixed = samples.astype(np.float64)
    at = int(at_seconds * RATE)
    mixed[at: at + len(cue)] += cue
    return np.clip(mixed, -32768, 32767).astype(np.int16)


def test_the_start_cue_is_found_where_it_sounded_even_under_speech():
    recording = with_cue(speech_like(2.0) // 4, 0.23)
    span = find_known_sound(recording, cue_samples("start", rate=RATE), RATE)
    assert span is not None
    assert abs(span[0] - int(0.23 * RATE)) <= 0.011 * RATE


def test_speech_alone_is_not_taken_for_the_cue():
    for seed in range(5):
        assert find_known_sound(speech_like(2.0, seed), cue_samples("start", rate=RATE),
                                RATE) is None


def test_the_eraser_silences_the_cue_in_the_recording_and_in_its_later_reads():
    silent_but_cue = with_cue(np.zeros(int(2.5 * RATE), dtype=np.int16), 0.1)
    eraser = CueEraser(lambda rate: cue_samples("start", rate=rate))
    eraser.reset(cue_played=True)
    eraser.locate(silent_but_cue[: RATE // 2], RATE, final=False)
    assert eraser.pending  # too little of the recording yet
    eraser.locate(silent_but_cue, RATE, final=False)
    assert not eraser.pending
    assert np.abs(eraser.silence(silent_but_cue)).max() == 0
    assert np.abs(eraser.silence(silent_but_cue[800:], offset=800)).max() == 0
    eraser.reset(cue_played=False)
    eraser.locate(silent_but_cue, RATE, final=True)
    assert np.array_equal(eraser.silence(silent_but_cue), silent_but_cue)
