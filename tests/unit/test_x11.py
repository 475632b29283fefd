"""Key combinations as X sees them and as people write them."""

from turbo_whisper.x11 import shown, split_combo


def test_combinations_are_split_and_shown_as_people_write_them():
    assert split_combo("<ctrl_l>+<alt>+r") == (["ctrl", "alt"], "r")
    assert split_combo("<ctrl>+<shift>") == (["ctrl", "shift"], None)
    assert shown("<ctrl>+<alt>+r") == "Ctrl+Alt+R"
    assert shown("<cmd>+<page_up>") == "Super+Page Up"
