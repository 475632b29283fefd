"""Choosing how to paste on Wayland, from the evidence a session gives; the portal's trigger."""

from __future__ import annotations

import os
import socket
import stat
import sys
from pathlib import Path

import pytest

from turbo_whisper.config import load_settings
from turbo_whisper.errors import ConfigError
from turbo_whisper.portal import portal_trigger
from turbo_whisper.wayland import (
    Chord,
    Wtype,
    Ydotool,
    choose,
    describe,
    focused_in_sway_tree,
    is_terminal,
    key_tools,
)

YDOTOOL_1 = "Usage: ydotool <cmd> <args>\nAvailable commands:\n  click\n  key\n  type\n  bakers\n"
YDOTOOL_0 = "Usage: ydotool <cmd> <args>\nAvailable commands:\n  type\n  recorder\n  key\n"


def stand_in(folder: Path, name: str, prints: str = "", code: int = 0) -> Path:
    """A program on PATH that prints a text and records its arguments."""
    folder.mkdir(exist_ok=True)
    program = folder / name
    program.write_text(f"#!/bin/sh\necho \"$@\" >> {folder / (name + '.args')}\n"
                       f"printf '%s' '{prints}' >&2\nexit {code}\n")
    program.chmod(program.stat().st_mode | stat.S_IXUSR)
    return program


def sway_window(app_id, focused=False, x11_class=None):
    node = {"type": "con", "focused": focused, "app_id": app_id, "nodes": []}
    if x11_class:
        node["window_properties"] = {"class": x11_class}
    return node


@pytest.mark.parametrize("tree, expected", [
    ({"type": "root", "focused": False, "nodes": [{"type": "output", "nodes": [
        {"type": "workspace", "nodes": [sway_window("firefox"), sway_window("foot", True)]}]}]},
     "foot"),
    ({"type": "root", "nodes": [{"type": "workspace", "focused": True, "nodes": [],
                                 "floating_nodes": [sway_window(None, True, "XTerm")]}]}, "XTerm"),
    ({"type": "root", "nodes": [{"type": "workspace", "focused": True, "nodes": []}]}, None),
])
def test_the_focused_window_is_read_from_swaymsg_tree(tree, expected):
    assert focused_in_sway_tree(tree) == expected


def test_terminals_get_ctrl_shift_v_and_other_windows_ctrl_v():
    assert is_terminal("foot") and is_terminal("Alacritty") and not is_terminal("firefox")
    assert not is_terminal(None)
    assert str(Chord(terminal=True)) == "Ctrl+Shift+V" and str(Chord(terminal=False)) == "Ctrl+V"


def test_paste_via_is_a_list_in_order_from_file_or_environment(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('paste_via = ["ydotool", "clipboard"]\n')
    assert load_settings({"config": str(config)}, environ={}).paste_via == ("ydotool", "clipboard")
    settings = load_settings({}, environ={"TURBO_WHISPER_PASTE_VIA": "wtype, clipboard"})
    assert settings.paste_via == ("wtype", "clipboard")
    assert load_settings({}, environ={}).paste_via == ("wtype", "ydotool", "clipboard")


@pytest.mark.parametrize("value", ['["xdotool"]', "[]", '["wtype", "wtype"]', '"wtype,,clipboard"', "3"])
def test_a_bad_paste_via_names_the_setting_and_the_accepted_tools(tmp_path, value):
    config = tmp_path / "config.toml"
    config.write_text(f"paste_via = {value}\n")
    with pytest.raises(ConfigError, match=r"'paste_via'.*\"wtype\", \"ydotool\", \"clipboard\""):
        load_settings({"config": str(config)}, environ={})


def test_clipboard_ends_the_list_of_tools_to_try():
    assert [tool.name for tool in key_tools(["ydotool", "clipboard", "wtype"])] == ["ydotool"]
    assert key_tools(["clipboard"]) == []


def test_missing_tools_are_each_named_with_how_to_install_them(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    choice = choose(["wtype", "ydotool", "clipboard"], environ={})
    assert choice.tool is None
    assert "wtype: not installed (sudo apt install wtype" in choice.reasons()
    assert "ydotool: not installed (sudo apt install ydotool" in choice.reasons()
    works, words = describe(["wtype", "ydotool", "clipboard"])
    assert not works and words.startswith("the transcript will only be copied")


def test_wtype_on_a_compositor_without_the_protocol_says_so(tmp_path, monkeypatch):
    stand_in(tmp_path, "wtype", "Compositor does not support the virtual keyboard protocol", 1)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert "does not offer the virtual-keyboard protocol" in Wtype().problem()


def test_wtype_presses_the_terminal_chord_with_modifiers_released_in_reverse(tmp_path, monkeypatch):
    stand_in(tmp_path, "wtype")
    monkeypatch.setenv("PATH", str(tmp_path))
    assert Wtype().problem() is None
    Wtype().press(Chord(terminal=True))
    calls = (tmp_path / "wtype.args").read_text().splitlines()
    assert calls == ["-s 1", "-M ctrl -M shift -k v -m shift -m ctrl -k Shift_L"]


def test_ydotool_1_without_its_daemon_says_how_to_start_it(tmp_path, monkeypatch):
    stand_in(tmp_path, "ydotool", YDOTOOL_1)
    monkeypatch.setenv("PATH", str(tmp_path))
    why = Ydotool({"XDG_RUNTIME_DIR": str(tmp_path / "run")}).problem()
    assert "ydotoold is not running" in why and "systemctl --user enable --now ydotoold" in why
    assert str(tmp_path / "run" / ".ydotool_socket") in why
    if not os.access("/dev/uinput", os.W_OK):
        assert "/dev/uinput is not writable" in why and "usermod -aG input" in why


def test_ydotool_1_with_a_listening_daemon_presses_keycodes_through_its_socket(tmp_path, monkeypatch):
    stand_in(tmp_path, "ydotool", YDOTOOL_1)
    monkeypatch.setenv("PATH", str(tmp_path))
    path = str(tmp_path / "ydo.sock")
    daemon = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    daemon.bind(path)
    try:
        tool = Ydotool({"YDOTOOL_SOCKET": path})
        assert tool.problem() is None and tool.socket == path
        tool.press(Chord(terminal=False))
    finally:
        daemon.close()
    assert (tmp_path / "ydotool.args").read_text().splitlines()[-1] == "key 29:1 47:1 47:0 29:0"


def test_a_stale_ydotool_socket_is_not_taken_for_a_daemon(tmp_path, monkeypatch):
    stand_in(tmp_path, "ydotool", YDOTOOL_1)
    monkeypatch.setenv("PATH", str(tmp_path))
    path = tmp_path / "ydo.sock"
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    stale.bind(str(path))
    stale.close()  # the file stays; nothing listens
    why = Ydotool({"YDOTOOL_SOCKET": str(path)}).problem()
    assert why is not None and "does not answer or is not yours" in why


@pytest.mark.skipif(sys.platform != "linux", reason="Linux key tools")
def test_ydotool_0_1_uses_named_keys(tmp_path, monkeypatch):
    stand_in(tmp_path, "ydotool", YDOTOOL_0)
    monkeypatch.setenv("PATH", str(tmp_path))
    path = str(tmp_path / "ydo.sock")
    daemon = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    daemon.bind(path)
    daemon.listen(1)
    try:
        tool = Ydotool({"YDOTOOL_SOCKET": path})
        assert tool.problem() is None and tool.old
        tool.press(Chord(terminal=True))
    finally:
        daemon.close()
    assert (tmp_path / "ydotool.args").read_text().splitlines()[-1] == "key ctrl+shift+v"


def test_the_first_working_tool_is_chosen_and_the_ones_before_it_explained(tmp_path, monkeypatch):
    stand_in(tmp_path, "wtype")
    monkeypatch.setenv("PATH", str(tmp_path))
    choice = choose(["ydotool", "wtype", "clipboard"], environ={})
    assert choice.tool is not None and choice.tool.name == "wtype"
    assert choice.reasons().startswith("ydotool: not installed")


@pytest.mark.parametrize("hotkey, trigger", [
    ("<ctrl>+<alt>+r", "CTRL+ALT+r"),
    ("<cmd>+<space>", "LOGO+space"),
    ("<ctrl_l>+<shift>+<f9>", "CTRL+SHIFT+F9"),
    ("<alt>+<enter>", "ALT+Return"),
])
def test_the_hotkey_is_offered_to_the_portal_in_the_shortcuts_spec_form(hotkey, trigger):
    assert portal_trigger(hotkey) == trigger


def test_a_paste_counts_only_when_the_field_shows_the_transcript_once_more():
    from turbo_whisper.atspi import arrived

    assert arrived("hello", "say ", lambda: "say hello", seconds=0.02) is True
    assert arrived("hello", "hello", lambda: "hello", seconds=0.02) is False  # it was there before
    assert arrived("hello", None, lambda: "hello", seconds=0.02) is None  # not readable before
    assert arrived("hello", "", lambda: None, seconds=0.02) is None


class Told:
    def __init__(self):
        self.said: list[tuple[str, str]] = []

    def __call__(self, level, message, **_):
        self.said.append((level, message))


@pytest.mark.parametrize("field_after, level, words", [
    ("notes: dictated words", "info", "reads the transcript back"),
    ("notes: ", "warning", "does not show the transcript"),
    (None, "info", "does not let Turbo Whisper see whether the text arrived"),
])
def test_the_paster_says_what_it_knows_of_the_paste(tmp_path, monkeypatch, field_after, level,
                                                     words):
    from turbo_whisper import wayland

    stand_in(tmp_path, "wtype")
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(wayland.Clipboard, "deliver", lambda self, text: None)
    monkeypatch.setattr(wayland, "_clipboard_text", lambda: b"before")
    monkeypatch.setattr(wayland, "focused_app", lambda: "gedit")
    reads = iter(["notes: " if field_after is not None else None])
    told = Told()
    paster = wayland.WaylandPaster(["wtype"], told,
                                   read_field=lambda: next(reads, field_after), restore_delay=60,
                                   read_back_seconds=0.1)
    monkeypatch.setattr(wayland.WaylandPaster, "_restore_later",
                        lambda self, previous, text: told("restore", previous))
    paster.deliver("dictated words")
    assert told.said[0][0] == level and words in told.said[0][1]
    assert "Ctrl+V with wtype into gedit" in told.said[0][1]
    assert (("restore", b"before") in told.said) is (level == "info" and field_after is not None)


@pytest.mark.parametrize("tools, inserts", [(["wtype"], True), ([], False)])
def test_the_paster_inserts_only_when_a_key_tool_can_press_the_paste(tmp_path, monkeypatch,
                                                                       tools, inserts):
    from turbo_whisper import wayland

    for tool in tools:
        stand_in(tmp_path, tool)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert wayland.WaylandPaster(["wtype", "clipboard"], Told()).inserts is inserts


def test_a_window_that_cannot_be_read_back_is_notified_once_per_app(tmp_path, monkeypatch):
    from turbo_whisper import wayland

    stand_in(tmp_path, "wtype")
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(wayland.Clipboard, "deliver", lambda self, text: None)
    monkeypatch.setattr(wayland, "_clipboard_text", lambda: b"before")
    apps = iter(["foot", "foot", "kitty"])
    monkeypatch.setattr(wayland, "focused_app", lambda: next(apps))
    notified: list[tuple[str, bool]] = []
    paster = wayland.WaylandPaster(
        ["wtype"], lambda level, message, notify=True: notified.append((message, notify)),
        read_field=lambda: None, read_back_seconds=0.01)
    for _ in range(3):
        paster.deliver("dictated words")
    assert [notify for _, notify in notified] == [True, False, True]
    assert all("stays in the clipboard as well" in message for message, _ in notified)
