import pytest

from turbo_whisper.hotkey import display_problem, parse_hotkey


@pytest.mark.parametrize(
    "text, expected",
    [
        ("ctrl+alt+r", "<ctrl>+<alt>+r"),
        ("<ctrl>+<alt>+r", "<ctrl>+<alt>+r"),
        ("Ctrl + Alt + R", "<ctrl>+<alt>+r"),
        ("super+space", "<cmd>+<space>"),
        ("f9", "<f9>"),
        ("control+shift+escape", "<ctrl>+<shift>+<esc>"),
    ],
)
def test_accepted_forms(text, expected):
    assert parse_hotkey(text) == expected


@pytest.mark.parametrize("text", ["", "ctrl+", "ctrl+alt+banana", "r+s", "ctrl+ctrl+r", "ctrl"])
def test_rejected_forms(text):
    with pytest.raises(ValueError, match="modifiers and one key"):
        parse_hotkey(text)


def test_no_display_is_explained(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")
    assert "Wayland" in display_problem()
    monkeypatch.delenv("WAYLAND_DISPLAY")
    assert "DISPLAY is not set" in display_problem()
    monkeypatch.setenv("DISPLAY", ":0")
    assert display_problem() is None
