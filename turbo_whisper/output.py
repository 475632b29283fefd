"""Putting the transcript where the user can paste it: the clipboard, read back to confirm."""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from typing import Any

from turbo_whisper.errors import ClipboardError

log = logging.getLogger(__name__)

INSTALL_HINT = (
    "install a clipboard tool: `sudo apt install xclip` (or xsel) on X11, "
    "`sudo apt install wl-clipboard` on Wayland"
)


def clipboard_problem() -> str | None:
    """Why the clipboard cannot work here, or None when a backend is present."""
    wayland = bool(os.environ.get("WAYLAND_DISPLAY"))
    if not os.environ.get("DISPLAY") and not wayland:
        return "there is no display session (neither DISPLAY nor WAYLAND_DISPLAY is set)"
    tools = ["wl-copy"] if wayland and not os.environ.get("DISPLAY") else ["xclip", "xsel", "wl-copy"]
    if not any(shutil.which(t) for t in tools):
        return f"no clipboard tool was found; {INSTALL_HINT}"
    return None


class Clipboard:
    """Copies text with pyperclip and reads it back, so a silent failure cannot pass."""

    def deliver(self, transcript: str) -> None:
        import pyperclip

        problem = clipboard_problem()
        if problem:
            raise ClipboardError(f"The transcript could not be copied: {problem}.")
        try:
            for _attempt in range(2):
                pyperclip.copy(transcript)
                if self._reads_back(pyperclip, transcript):
                    return
        except pyperclip.PyperclipException as exc:
            raise ClipboardError(
                f"The transcript could not be copied ({exc}); {INSTALL_HINT}."
            ) from exc
        raise ClipboardError(
            "The clipboard did not keep the transcript (it read back different text)."
        )

    @staticmethod
    def _reads_back(pyperclip: Any, transcript: str, seconds: float = 0.5) -> bool:
        # The clipboard tool takes the selection a moment after it starts: poll briefly.
        deadline = time.monotonic() + seconds
        while True:
            if pyperclip.paste() == transcript:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)


TERMINALS = frozenset({
    "xterm", "uxterm", "urxvt", "rxvt", "gnome-terminal", "gnome-terminal-server", "konsole",
    "xfce4-terminal", "alacritty", "kitty", "terminator", "tilix", "st", "st-256color",
    "wezterm", "org.wezfurlong.wezterm", "foot", "lxterminal", "mate-terminal", "qterminal",
    "terminology", "guake", "tilda", "sakura", "yakuake", "ghostty", "com.mitchellh.ghostty",
    "org.gnome.console", "kgx", "ptyxis", "org.gnome.ptyxis",
})


def focused_window_classes() -> set[str]:
    """The WM_CLASS names of the focused X window, lowercased; empty when unknown."""
    try:
        from Xlib import display as xdisplay

        screen = xdisplay.Display()
        try:
            window = screen.get_input_focus().focus
            for _ in range(4):  # the focus is often a child of the window that has a class
                if not hasattr(window, "get_wm_class"):
                    return set()
                names = window.get_wm_class()
                if names:
                    return {name.lower() for name in names}
                window = window.query_tree().parent
        finally:
            screen.close()
    except Exception as exc:
        log.debug("Cannot read the focused window's class: %s", exc)
    return set()


class Paster(Clipboard):
    """Copies, sends the paste keystroke to the focused window, then restores the old clipboard."""

    def __init__(self, restore_delay: float = 0.8):
        self.restore_delay = restore_delay
        self._timer: threading.Timer | None = None

    def deliver(self, transcript: str) -> None:
        import pyperclip

        previous = self._read()
        super().deliver(transcript)
        try:
            self.paste_keystroke()
        except Exception as exc:
            raise ClipboardError(
                f"The transcript is in the clipboard, but pasting it failed ({exc}); "
                "paste it yourself with Ctrl+V."
            ) from exc
        if previous is not None and previous != transcript:
            self._timer = threading.Timer(self.restore_delay, self._restore,
                                          (pyperclip, previous, transcript))
            self._timer.daemon = True
            self._timer.start()

    def _read(self) -> str | None:
        import pyperclip

        try:
            return str(pyperclip.paste())
        except pyperclip.PyperclipException:
            return None

    @staticmethod
    def _restore(pyperclip: Any, previous: str, transcript: str) -> None:
        # Only when the user has not copied something else in the meantime.
        if Paster._same(pyperclip, transcript):
            pyperclip.copy(previous)

    @staticmethod
    def _same(pyperclip: Any, transcript: str) -> bool:
        try:
            return bool(pyperclip.paste() == transcript)
        except pyperclip.PyperclipException:
            return False

    def paste_keystroke(self) -> None:
        """Ctrl+V, or Ctrl+Shift+V where the focused window is a terminal."""
        if not os.environ.get("DISPLAY"):
            raise ClipboardError("no X display to send the paste keystroke to (Wayland)")
        from pynput.keyboard import Controller, Key

        keys = [Key.ctrl]
        if focused_window_classes() & TERMINALS:
            keys.append(Key.shift)
        keyboard = Controller()
        with keyboard.pressed(*keys):
            keyboard.press("v")
            keyboard.release("v")
