"""The global hotkey through pynput: parse a combination, report press and release."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from typing import Any

from turbo_whisper.errors import HotkeyError

log = logging.getLogger(__name__)

_ALIASES = {
    "control": "ctrl", "ctl": "ctrl", "super": "cmd", "win": "cmd", "meta": "cmd",
    "windows": "cmd", "return": "enter", "escape": "esc", "altgr": "alt_gr",
    "pgup": "page_up", "pgdn": "page_down", "del": "delete", "ins": "insert",
    "print": "print_screen", "capslock": "caps_lock",
}
_MODIFIERS = {"ctrl", "alt", "shift", "cmd", "alt_gr", "ctrl_l", "ctrl_r", "alt_l", "alt_r",
              "shift_l", "shift_r", "cmd_l", "cmd_r"}
_NAMED_KEYS = _MODIFIERS | {
    "space", "enter", "tab", "esc", "backspace", "delete", "insert", "home", "end",
    "page_up", "page_down", "up", "down", "left", "right", "pause", "menu",
    "print_screen", "scroll_lock", "caps_lock", "num_lock",
} | {f"f{n}" for n in range(1, 21)}

ACCEPTED = (
    'modifiers and one key joined by "+", such as "ctrl+alt+r", "super+space" or "f9" '
    '(pynput\'s "<ctrl>+<alt>+r" works too)'
)


def parse_hotkey(text: str) -> str:
    """Turn "ctrl+alt+r" or "<ctrl>+<alt>+r" into pynput's form; ValueError if it is not one."""
    parts = [p.strip().strip("<>").strip().lower() for p in text.split("+")]
    if not text.strip() or any(not p for p in parts):
        raise ValueError(ACCEPTED)
    names = [_ALIASES.get(p, p) for p in parts]
    for name in names:
        if name not in _NAMED_KEYS and len(name) != 1:
            raise ValueError(ACCEPTED)
    keys = [n for n in names if n not in _MODIFIERS]
    if len(keys) > 1 or len(set(names)) != len(names):
        raise ValueError(ACCEPTED)
    if not keys and len(names) < 2:
        raise ValueError(ACCEPTED)
    return "+".join(f"<{n}>" if n in _NAMED_KEYS else n for n in names)


def display_problem() -> str | None:
    """Why a global hotkey cannot work in this session, or None when it can."""
    if os.environ.get("DISPLAY"):
        return None
    if os.environ.get("WAYLAND_DISPLAY"):
        return (
            "This is a Wayland session without an X display, where no program can grab a "
            "global hotkey."
        )
    return "There is no X display (DISPLAY is not set), so the global hotkey cannot be grabbed."


SHORTCUT_HINT = (
    "Bind a desktop shortcut to the command `turbo-whisper toggle` instead "
    "(see 'Desktop shortcuts' in the README); the client keeps running without the hotkey."
)


class HotkeyListener:
    """Calls on_press when the whole combination goes down and on_release when it breaks.

    Both callbacks run on pynput's thread, so they must only post an event and return.
    """

    def __init__(self, combo: str, on_press: Callable[[], None],
                 on_release: Callable[[], None] | None = None):
        self._combo = combo
        self._on_press = on_press
        self._on_release = on_release or (lambda: None)
        self._pressed: set[Any] = set()
        self._active = False
        self._lock = threading.Lock()
        self._listener: Any = None

    def start(self) -> None:
        problem = display_problem()
        if problem:
            raise HotkeyError(f"{problem} {SHORTCUT_HINT}")
        try:
            from pynput import keyboard
        except Exception as exc:  # pynput raises ImportError (and others) without a display
            raise HotkeyError(
                f"The global hotkey is not available ({exc}). {SHORTCUT_HINT}"
            ) from exc
        self._keys = set(keyboard.HotKey.parse(self._combo))
        self._listener = keyboard.Listener(on_press=self._press, on_release=self._release)
        self._listener.daemon = True
        self._listener.start()
        self._listener.wait()
        log.info("Global hotkey %s is active.", self._combo)

    def stop(self) -> None:
        if self._listener is not None:
            self._listener.stop()
            self._listener = None

    def _canonical(self, key: Any) -> Any:
        return self._listener.canonical(key) if self._listener else key

    def _press(self, key: Any) -> None:
        with self._lock:
            self._pressed.add(self._canonical(key))
            fire = not self._active and self._keys <= self._pressed
            self._active = self._active or fire
        if fire:
            self._on_press()

    def _release(self, key: Any) -> None:
        with self._lock:
            canonical = self._canonical(key)
            self._pressed.discard(canonical)
            fire = self._active and canonical in self._keys
            if fire:
                self._active = False
        if fire:
            self._on_release()
