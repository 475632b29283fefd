"""Which keys paste into which window, and which selections those keys read."""

from __future__ import annotations

import pytest

from turbo_whisper.output import paste_keys, pasted_selections


@pytest.mark.parametrize("classes, keys", [
    ({"xterm"}, "<shift>+<insert>"),
    ({"urxvt", "rxvt-unicode"}, "<shift>+<insert>"),
    ({"gnome-terminal-server", "gnome-terminal"}, "<ctrl>+<shift>+v"),
    ({"kitty"}, "<ctrl>+<shift>+v"),
    ({"foot"}, "<ctrl>+<shift>+v"),
    ({"konsole"}, "<ctrl>+<shift>+v"),
    ({"tk", "paste target"}, "<ctrl>+v"),
    (set(), "<ctrl>+v"),
])
def test_the_paste_keys_follow_the_window_class(classes, keys):
    assert paste_keys(classes) == keys


def test_the_setting_wins_over_the_built_in_table():
    assert paste_keys({"xterm"}, {"xterm": "<ctrl>+<shift>+v"}) == "<ctrl>+<shift>+v"
    assert paste_keys({"emacs"}, {"emacs": "<ctrl>+y"}) == "<ctrl>+y"


def test_shift_insert_and_unknown_keys_also_offer_the_primary_selection():
    assert pasted_selections("<ctrl>+v") == ("CLIPBOARD",)
    assert pasted_selections("<ctrl>+<shift>+v") == ("CLIPBOARD",)
    assert pasted_selections("<shift>+<insert>") == ("CLIPBOARD", "PRIMARY")
    assert pasted_selections("<ctrl>+y") == ("CLIPBOARD", "PRIMARY")
