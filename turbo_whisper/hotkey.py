"""The global hotkey: parse a combination, grab it on X11, report press and release.

The combination is grabbed from the X server (XGrabKey), so the focused window never
receives it; only a combination of modifiers alone, which X cannot grab, is watched
through pynput's listener instead.
"""

from __future__ import annotations

import logging
import os
import select
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

    Both callbacks run on the hotkey's own thread, so they must only post an event and return.
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
        self._stopped: Any = None  # the listener stop() ended, for join()

    def start(self) -> None:
        problem = display_problem()
        if problem:
            raise HotkeyError(f"{problem} {SHORTCUT_HINT}")
        from turbo_whisper.x11 import split_combo

        if split_combo(self._combo)[1] is not None:
            self._listener = GrabbedHotkey(self._combo, self._on_press, self._on_release)
            self._listener.start()
            return
        self._listen()

    def _listen(self) -> None:
        """Watch a modifiers-only combination, which X cannot grab: other windows see it too."""
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
        log.info("Global hotkey %s is active (watched, not grabbed: other windows see it too).",
                 self._combo)

    def stop(self) -> None:
        self._stopped, self._listener = self._listener, None
        if self._stopped is not None:
            self._stopped.stop()

    def join(self, timeout: float | None = None) -> None:
        """After stop(): wait until the listener's thread has let go of the display."""
        if self._stopped is not None:
            self._stopped.join(timeout)

    def _canonical(self, key: Any) -> Any:
        listener = self._listener
        return listener.canonical(key) if listener is not None else key

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


class GrabbedHotkey:
    """The combination grabbed on the X server: it reaches this program and no window.

    It is grabbed with every state of NumLock, CapsLock and ScrollLock, which X counts
    as modifiers. A key held down repeats as release+press pairs with one timestamp;
    those are not a new press.
    """

    REPEAT_WAIT = 0.03  # seconds a repeat's press can trail its release

    def __init__(self, combo: str, on_press: Callable[[], None], on_release: Callable[[], None]):
        self._combo = combo
        self._on_press = on_press
        self._on_release = on_release
        self._down = False
        self._wake_r, self._wake_w = os.pipe()
        self._thread: threading.Thread | None = None
        self._screen: Any = None
        self._early: Any = None  # an event read ahead while looking for a key repeat

    def start(self) -> None:
        from turbo_whisper import x11

        try:
            self._screen = x11.open_display()
        except Exception as exc:
            raise HotkeyError(f"The X display cannot be opened ({exc}). {SHORTCUT_HINT}") from exc
        try:
            self._grab()
        except HotkeyError:
            self._screen.close()
            raise
        self._thread = threading.Thread(target=self._loop, name="hotkey", daemon=True)
        self._thread.start()
        log.info("Global hotkey %s is active (grabbed: the focused window does not receive it).",
                 x11.shown(self._combo))

    def _grab(self) -> None:
        from Xlib import X
        from Xlib import error as xerror

        from turbo_whisper import x11

        modifiers, key = x11.split_combo(self._combo)
        self._keycode = x11.keycode(self._screen, key or "")
        if not self._keycode:
            raise HotkeyError(f"The key {key!r} of the hotkey is on no key of this keyboard; "
                              "choose another with the setting 'hotkey'.")
        masks = x11.modifier_masks(self._screen)
        base = 0
        for name in modifiers:
            base |= masks.get(name, 0)
        root = self._screen.screen().root
        taken = xerror.CatchError(xerror.BadAccess)
        for extra in _lock_variants(masks):
            root.grab_key(self._keycode, base | extra, True, X.GrabModeAsync, X.GrabModeAsync,
                          onerror=taken)
        self._screen.sync()
        if taken.get_error():
            root.ungrab_key(self._keycode, X.AnyModifier)
            self._screen.sync()
            raise HotkeyError(_taken_message(self._combo))

    def stop(self) -> None:
        if self._thread is None:
            return
        os.write(self._wake_w, b"x")
        self._thread.join(timeout=2)

    def join(self, timeout: float | None = None) -> None:
        """After stop(): wait until the thread has let go of the display."""
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        from Xlib import X

        screen = self._screen
        try:
            while self._wait_for_event():
                self._handle(self._next())
        except Exception as exc:  # a lost X connection: the client runs on without the hotkey
            log.warning("The global hotkey stopped working (%s); `turbo-whisper toggle` still "
                        "works.", exc)
        finally:
            try:
                screen.screen().root.ungrab_key(self._keycode, X.AnyModifier)
                screen.close()
            except Exception as exc:
                log.debug("Closing the hotkey's X connection: %s", exc)

    def _wait_for_event(self) -> bool:
        """True once an event is there, False when stop() asks the thread to end."""
        while self._early is None and not self._screen.pending_events():
            ready, _, _ = select.select([self._screen.fileno(), self._wake_r], [], [])
            if self._wake_r in ready:
                return False
        return True

    def _next(self) -> Any:
        event, self._early = self._early, None
        return event if event is not None else self._screen.next_event()

    def _handle(self, event: Any) -> None:
        from Xlib import X

        if getattr(event, "detail", None) != self._keycode:
            return
        if event.type == X.KeyPress and not self._down:
            self._down = True
            self._on_press()
        elif event.type == X.KeyRelease and not self._repeats(event) and self._down:
            self._down = False
            self._on_release()

    def _repeats(self, release: Any) -> bool:
        """Whether a release is half of a key repeat: a press of the same time follows it."""
        from Xlib import X

        screen = self._screen
        if not screen.pending_events():
            select.select([screen.fileno()], [], [], self.REPEAT_WAIT)
        if not screen.pending_events():
            return False
        following = screen.next_event()
        if (following.type == X.KeyPress and getattr(following, "detail", None) == self._keycode
                and following.time == release.time):
            return True
        self._early = following  # not a repeat: handle it next
        return False


def _lock_variants(masks: dict[str, int]) -> list[int]:
    """Every combination of the lock modifiers, which must not stop the hotkey."""
    locks = {masks["caps_lock"], masks.get("num_lock", 0), masks.get("scroll_lock", 0)} - {0}
    variants = [0]
    for lock in locks:
        variants += [variant | lock for variant in variants]
    return variants


def _taken_message(combo: str) -> str:
    from turbo_whisper.x11 import shown

    return (f"The hotkey {shown(combo)} is already taken by another program (the X server "
            "gives a combination to the first program that grabs it, and does not say which "
            "one), so the hotkey is off. Free it in that program or the desktop's keyboard "
            "settings, or choose another with the setting 'hotkey' (e.g. hotkey = "
            '"ctrl+alt+d"); `turbo-whisper toggle` works meanwhile.')
