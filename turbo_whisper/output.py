"""Putting the transcript where the user can paste it: the clipboard, read back to confirm.

The clipboard tool (xclip, xsel or wl-copy) that keeps the text after this program lets go
is started in its own session with no terminal: Ctrl+C or SIGHUP to the client's process
group does not take the clipboard with it, and a pipe to `doctor | head` is not held open.
(pyperclip, which did this before, starts it in our process group with our stdout.)
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import time
from collections.abc import Mapping
from typing import Any

from turbo_whisper.errors import ClipboardError

log = logging.getLogger(__name__)

INSTALL_HINT = (
    "install a clipboard tool: `sudo apt install xclip` (or xsel) on X11, "
    "`sudo apt install wl-clipboard` on Wayland"
)
_TOOLS: dict[str, tuple[list[str], list[str]]] = {  # tool: (copy, read) arguments
    "wl-copy": (["wl-copy"], ["wl-paste", "--no-newline"]),
    "xclip": (["xclip", "-selection", "{selection}"], ["xclip", "-o", "-selection", "{selection}"]),
    "xsel": (["xsel", "--{selection}", "--input"], ["xsel", "--{selection}", "--output"]),
}


def clipboard_problem() -> str | None:
    """Why the clipboard cannot work here, or None when a backend is present."""
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        return "there is no display session (neither DISPLAY nor WAYLAND_DISPLAY is set)"
    if _tool() is None:
        return f"no clipboard tool was found; {INSTALL_HINT}"
    return None


def _tool() -> str | None:
    """The clipboard tool for this session, in pyperclip's order of preference."""
    wayland = os.environ.get("WAYLAND_DISPLAY") and shutil.which("wl-copy") and \
        shutil.which("wl-paste")
    if wayland:
        return "wl-copy"
    if os.environ.get("DISPLAY"):
        return next((tool for tool in ("xclip", "xsel") if shutil.which(tool)), None)
    return None


def _command(read: bool, selection: str) -> list[str]:
    tool = _tool()
    if tool is None:
        raise ClipboardError(f"The transcript could not be copied: {clipboard_problem()}.")
    words = _TOOLS[tool][1 if read else 0]
    if tool == "wl-copy" and selection == "primary":
        words = [*words, "--primary"]
    return [word.format(selection=selection) for word in words]


def copy_bytes(data: bytes, selection: str = "clipboard") -> None:
    """Hand the bytes to the clipboard tool, which keeps them after this program exits."""
    try:
        tool = subprocess.Popen(_command(False, selection), stdin=subprocess.PIPE,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True, close_fds=True)
        tool.communicate(data, timeout=5)
    except (OSError, subprocess.SubprocessError) as exc:
        raise ClipboardError(f"The transcript could not be copied ({exc}); {INSTALL_HINT}.") from exc


def read_bytes(selection: str = "clipboard") -> bytes | None:
    """What the selection holds, as bytes (text need not be UTF-8); None when it is empty."""
    try:
        result = subprocess.run(_command(True, selection), stdin=subprocess.DEVNULL,
                                capture_output=True, timeout=5, check=False,
                                start_new_session=True)
    except (OSError, subprocess.SubprocessError, ClipboardError) as exc:
        log.debug("The clipboard cannot be read: %s", exc)
        return None
    return result.stdout if result.returncode == 0 else None


class Clipboard:
    """Copies the transcript and reads it back, so a silent failure cannot pass."""

    @property
    def inserts(self) -> bool:
        """Whether each text goes in at the cursor, after the one before (a paste), rather
        than replacing it (the clipboard)."""
        return False

    def deliver(self, transcript: str) -> str | None:
        """Put the text in the clipboard; a note for the user, or None when all went as asked."""
        problem = clipboard_problem()
        if problem:
            raise ClipboardError(f"The transcript could not be copied: {problem}.")
        data = transcript.encode("utf-8")
        for _attempt in range(2):
            copy_bytes(data)
            if self._reads_back(data):
                return None
        raise ClipboardError(
            "The clipboard did not keep the transcript (it read back different text)."
        )

    @staticmethod
    def _reads_back(data: bytes, seconds: float = 0.5) -> bool:
        # The clipboard tool takes the selection a moment after it starts: poll briefly.
        deadline = time.monotonic() + seconds
        while True:
            if read_bytes() == data:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)


TERMINALS = frozenset({
    "gnome-terminal", "gnome-terminal-server", "konsole", "xfce4-terminal", "alacritty",
    "kitty", "terminator", "tilix", "st", "st-256color", "wezterm", "org.wezfurlong.wezterm",
    "foot", "footclient", "lxterminal", "mate-terminal", "qterminal", "terminology", "guake",
    "tilda", "sakura", "yakuake", "ghostty", "com.mitchellh.ghostty", "org.gnome.console",
    "kgx", "ptyxis", "org.gnome.ptyxis", "terminal", "roxterm", "cool-retro-term",
})
SHIFT_INSERT = frozenset({"xterm", "uxterm", "urxvt", "rxvt", "rxvt-unicode", "urxvt-256color",
                          "aterm", "eterm"})
CTRL_V, CTRL_SHIFT_V, SHIFT_INSERT_KEYS = "<ctrl>+v", "<ctrl>+<shift>+v", "<shift>+<insert>"


def paste_keys(classes: set[str], table: Mapping[str, str] | None = None) -> str:
    """The keys that paste into a window of these WM_CLASS names: the setting first."""
    for name in sorted(classes):
        if table and name in table:
            return table[name]
    if classes & SHIFT_INSERT:
        return SHIFT_INSERT_KEYS
    return CTRL_SHIFT_V if classes & TERMINALS else CTRL_V


def pasted_selections(keys: str) -> tuple[str, ...]:
    """The selections a paste with these keys may read: Ctrl+V is CLIPBOARD, Shift+Insert
    in xterm and urxvt is PRIMARY, and keys from the setting may be either."""
    return ("CLIPBOARD",) if keys in (CTRL_V, CTRL_SHIFT_V) else ("CLIPBOARD", "PRIMARY")


def focused_window(screen: Any) -> Any:
    """The window that gets the keystroke: the focus, or the one under the pointer."""
    from Xlib import X

    focus = screen.get_input_focus().focus
    if isinstance(focus, int) or focus in (X.PointerRoot, X.NONE):
        return screen.screen().root.query_pointer().child or None
    return focus


class Paster(Clipboard):
    """Pastes into the focused window and puts the old clipboard back only once the window
    took the text; when it did not, the transcript stays in the clipboard and the user
    is told."""

    def __init__(self, table: Mapping[str, str] | None = None, wait: float = 2.0):
        self.table = dict(table or {})
        self.wait = wait

    @property
    def inserts(self) -> bool:
        return bool(os.environ.get("DISPLAY"))  # without a display it only copies

    def deliver(self, transcript: str) -> str | None:
        if not os.environ.get("DISPLAY"):
            super().deliver(transcript)
            raise ClipboardError("The transcript is in the clipboard, but there is no X display "
                                 "to paste it into (Wayland); paste it yourself with Ctrl+V.")
        data = transcript.encode("utf-8")
        from turbo_whisper.selection import LARGEST

        if len(data) > LARGEST:
            super().deliver(transcript)
            return "The transcript is too long to paste; it is in the clipboard."
        try:
            return self._paste(transcript, data)
        except ClipboardError:
            raise
        except Exception as exc:  # the X connection failed: the text must still be kept
            log.debug("Pasting failed", exc_info=True)
            super().deliver(transcript)
            return (f"Pasting failed ({exc}); the transcript is in the clipboard: paste it "
                    "yourself.")

    def _paste(self, transcript: str, data: bytes) -> str | None:
        from turbo_whisper.selection import SelectionOwner

        classes = focused_window_classes()
        keys = paste_keys(classes, self.table)
        selections = pasted_selections(keys)
        previous = {name: read_bytes(name.lower()) for name in selections}
        owner = SelectionOwner(data, selections)
        try:
            if not owner.owns():
                raise ClipboardError("Another program took the clipboard at once.")
            owner.count_from_now()
            send_keys(owner.screen, keys)
            taken = owner.serve(self.wait)
            if owner.lost:  # the user copied something else meanwhile: leave it be
                return None if taken else LOST_NOTE
            handed_over = self._put_back(previous, data, taken)
            owner.let_go()
        finally:
            owner.close()
        if handed_over and not self._reads_back(data):
            super().deliver(transcript)
        if taken:
            return None
        which = f'"{sorted(classes)[-1]}"' if classes else "unknown"
        return (f"The window (class {which}) did not take the paste, so the transcript stays "
                f"in the clipboard: paste it yourself. If that window pastes with other keys, "
                f"set them in 'paste_keys', e.g. paste_keys = {{ {which} = \"ctrl+shift+v\" }}.")

    @staticmethod
    def _put_back(previous: dict[str, bytes | None], data: bytes, taken: bool) -> bool:
        """The old contents where the paste was taken; the transcript where it was not (or
        where nothing was before). True when the transcript stays in the clipboard."""
        handed_over = False
        for name, old in previous.items():
            if name == "CLIPBOARD" and (not taken or not old):
                copy_bytes(data)
                handed_over = True
            elif old:
                copy_bytes(old, name.lower())
        return handed_over


LOST_NOTE = ("The window did not take the paste, and something else was copied meanwhile; "
             "`turbo-whisper last` copies the transcript again.")


def focused_window_classes() -> set[str]:
    """The WM_CLASS names of the window that gets the keystroke; empty when unknown."""
    from turbo_whisper import x11

    try:
        screen = x11.open_display()
    except Exception as exc:
        log.debug("Cannot open the display to find the focused window: %s", exc)
        return set()
    try:
        window = focused_window(screen)
        return x11.window_classes(window) if window else set()
    except Exception as exc:
        log.debug("Cannot read the focused window's class: %s", exc)
        return set()
    finally:
        screen.close()


def send_keys(screen: Any, keys: str) -> None:
    """Type a key combination through XTEST, with the modifiers the user holds let go."""
    from Xlib import X
    from Xlib.ext import xtest

    from turbo_whisper import x11

    modifiers, key = x11.split_combo(keys)
    _release_held_modifiers(screen)
    codes = [x11.keycode(screen, name) for name in modifiers]
    codes.append(x11.keycode(screen, key or ""))
    if not all(codes):
        raise ClipboardError(f"The paste keys {keys} are not on this keyboard.")
    for code in codes:
        xtest.fake_input(screen, X.KeyPress, code)
    for code in reversed(codes):
        xtest.fake_input(screen, X.KeyRelease, code)
    screen.sync()


def _release_held_modifiers(screen: Any) -> None:
    """Alt still down from the hotkey would turn Ctrl+V into Ctrl+Alt+V."""
    from Xlib import X
    from Xlib.ext import xtest

    pressed = screen.query_keymap()
    for codes in screen.get_modifier_mapping():
        for code in codes:
            if code and pressed[code // 8] & (1 << (code % 8)):
                xtest.fake_input(screen, X.KeyRelease, code)
