"""Cutting a long dictation into parts: arrays in, parts and names out, no threads."""

import numpy as np
import pytest
from support.clips import RATE, bursts

from turbo_whisper.parts import CUT_EVERY_SECONDS, Parts


@pytest.mark.parametrize("pattern, cut_between", [
    ([(2, True)], None),  # too short to cut
    ([(4, True), (0.6, False), (3, True)], None),  # the only pause is before the minimum
    ([(7, True), (0.6, False), (1, True)], (7.0, 7.6)),  # in the pause after the minimum
    ([(4, True), (0.6, False), (3, True), (0.6, False), (2, True)], (7.6, 8.2)),  # the latest
])
def test_a_part_ends_inside_the_latest_pause_past_the_minimum(pattern, cut_between):
    parts = Parts()
    audio = bursts(pattern)
    parts.add(audio, now=0.0)
    part = parts.cut(RATE, -50)
    if cut_between is None:
        assert part is None and parts.cut_frames == 0 and len(parts.unsent) == len(audio)
        return
    low, high = cut_between
    assert part is not None and low * RATE <= len(part) <= high * RATE
    assert parts.cut_frames == len(part)
    assert np.array_equal(np.concatenate([part, parts.unsent]), audio)  # nothing lost


def test_samples_fed_in_pieces_are_cut_as_if_fed_whole():
    audio = bursts([(7, True), (0.6, False), (1, True)])
    whole, pieces = Parts(), Parts()
    whole.add(audio, now=0.0)
    for start in range(0, len(audio), 8000):
        pieces.add(audio[start:start + 8000], now=0.0)
    assert np.array_equal(whole.cut(RATE, -50), pieces.cut(RATE, -50))


def test_the_rest_of_the_recording_is_what_follows_the_cut_parts():
    audio = bursts([(7, True), (0.6, False), (2, True)])
    parts = Parts()
    parts.add(audio, now=0.0)
    part = parts.cut(RATE, -50)
    assert part is not None
    assert np.array_equal(parts.rest(audio), audio[len(part):])
    assert np.array_equal(Parts().rest(audio), audio)  # nothing cut: the whole recording


def test_parts_are_named_after_their_dictation_in_order():
    parts = Parts()
    names = iter(["00000000000000000001-9-0000", "never asked for"])
    assert [parts.name_next(lambda: next(names)) for _ in range(3)] == [
        "00000000000000000001-9-0000.p000", "00000000000000000001-9-0000.p001",
        "00000000000000000001-9-0000.p002"]
    assert parts.group == "00000000000000000001-9-0000" and parts.index == 3


@pytest.mark.parametrize("looked_at, now, wait", [
    (10.0, 10.0, CUT_EVERY_SECONDS),
    (10.0, 10.0 + CUT_EVERY_SECONDS / 2, CUT_EVERY_SECONDS / 2),
    (10.0, 12.0, 0.0),  # overdue: at once, never a negative wait
])
def test_the_next_look_for_a_pause_is_due_a_fixed_time_after_the_last(looked_at, now, wait):
    parts = Parts()
    parts.add(np.zeros(0, dtype=np.int16), now=looked_at)
    assert parts.until_next_cut(now) == pytest.approx(wait)
