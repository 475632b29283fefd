from support.clips import RATE, bursts

from turbo_whisper.segment import find_cut


def test_no_cut_before_the_minimum_length():
    audio = bursts([(2, True), (0.6, False), (2, True)])
    assert find_cut(audio, RATE, -50, min_seconds=6) is None


def test_cut_lands_inside_the_latest_pause():
    audio = bursts([(4, True), (0.6, False), (3, True), (0.6, False), (2, True)])
    cut = find_cut(audio, RATE, -50, min_seconds=6)
    assert cut is not None
    assert 7.6 * RATE <= cut <= 8.2 * RATE  # in the second pause, not the first


def test_short_gaps_inside_words_are_not_pauses():
    audio = bursts([(3, True), (0.1, False), (3, True), (0.1, False), (3, True)])
    assert find_cut(audio, RATE, -50, min_seconds=2) is None


def test_a_pause_right_now_is_a_good_cut():
    audio = bursts([(7, True), (0.5, False)])
    cut = find_cut(audio, RATE, -50, min_seconds=6)
    assert cut is not None and cut >= 7 * RATE


def test_speech_without_a_pause_is_cut_at_its_quietest_moment_before_whisper_s_window():
    audio = bursts([(10, True), (0.1, False), (25, True)])
    cut = find_cut(audio, RATE, -50, min_seconds=6, max_seconds=28)
    assert cut is not None and 10 * RATE <= cut <= 10.1 * RATE
    assert find_cut(audio[: 20 * RATE], RATE, -50, min_seconds=6, max_seconds=28) is None
