"""What the hotkey, the paste and the indicator need from the X server, through python-xlib.

Each user opens its own connection: python-xlib connections are not shared between threads.
Key names are pynput's ("<ctrl>", "<page_up>", "r"), as parse_hotkey writes them.
"""

from __future__ import annotations

from typing import Any

# pynput's names of the modifiers, and the X keysym that sits on each.
MODIFIER_KEYSYMS = {
    "shift": "Shift_L", "ctrl": "Control_L", "alt": "Alt_L", "cmd": "Super_L",
    "alt_gr": "ISO_Level3_Shift",
}
_SIDES = {"ctrl_l": "ctrl", "ctrl_r": "ctrl", "alt_l": "alt", "alt_r": "alt",
          "shift_l": "shift", "shift_r": "shift", "cmd_l": "cmd", "cmd_r": "cmd"}
_KEYSYMS = {
    "space": "space", "enter": "Return", "tab": "Tab", "esc": "Escape",
    "backspace": "BackSpace", "delete": "Delete", "insert": "Insert", "home": "Home",
    "end": "End", "page_up": "Prior", "page_down": "Next", "up": "Up", "down": "Down",
    "left": "Left", "right": "Right", "pause": "Pause", "menu": "Menu",
    "print_screen": "Print", "scroll_lock": "Scroll_Lock", "caps_lock": "Caps_Lock",
    "num_lock": "Num_Lock", **{f"f{n}": f"F{n}" for n in range(1, 21)},
}


def split_combo(combo: str) -> tuple[list[str], str | None]:
    """The modifiers (side-less) and the one key of a combination in pynput's form."""
    names = [part.strip("<>") for part in combo.split("+")]
    modifiers = [_SIDES.get(n, n) for n in names if _SIDES.get(n, n) in MODIFIER_KEYSYMS]
    keys = [n for n in names if _SIDES.get(n, n) not in MODIFIER_KEYSYMS]
    return modifiers, keys[0] if keys else None


def shown(combo: str) -> str:
    """A combination as people write it: "Ctrl+Alt+R"."""
    modifiers, key = split_combo(combo)
    words = {"ctrl": "Ctrl", "alt": "Alt", "shift": "Shift", "cmd": "Super", "alt_gr": "AltGr"}
    parts = [words[m] for m in modifiers] + ([key.replace("_", " ").title()] if key else [])
    return "+".join(parts)


def open_display() -> Any:
    """A new connection to the X server named by DISPLAY."""
    from Xlib import display

    return display.Display()


def keysym(key: str) -> int:
    """The X keysym of one pynput key name; 0 when X has none."""
    from Xlib import XK

    named = _KEYSYMS.get(key) or MODIFIER_KEYSYMS.get(key)
    if named:
        return int(XK.string_to_keysym(named))
    found = int(XK.string_to_keysym(key))
    return found or (ord(key) if len(key) == 1 and 0x20 <= ord(key) <= 0xFF else 0)


def keycode(screen: Any, key: str) -> int:
    """The keycode that types a key on this server's keyboard; 0 when none does."""
    return int(screen.keysym_to_keycode(keysym(key))) if keysym(key) else 0


def modifier_masks(screen: Any) -> dict[str, int]:
    """Which modifier bit each modifier key sets here (Alt is usually Mod1, NumLock Mod2)."""
    from Xlib import XK

    masks: dict[str, int] = {}
    mapping = screen.get_modifier_mapping()
    wanted = {**MODIFIER_KEYSYMS, "num_lock": "Num_Lock", "scroll_lock": "Scroll_Lock",
              "caps_lock": "Caps_Lock"}
    for name, sym in wanted.items():
        code = screen.keysym_to_keycode(XK.string_to_keysym(sym))
        for index, codes in enumerate(mapping):
            if code and code in codes:
                masks[name] = 1 << index
    masks.setdefault("shift", 1 << 0)
    masks.setdefault("caps_lock", 1 << 1)
    masks.setdefault("ctrl", 1 << 2)
    return masks


def window_classes(window: Any) -> set[str]:
    """WM_CLASS of a window or of the nearest ancestor that has one, lowercased."""
    for _ in range(6):  # the focus is often a child of the window that has a class
        if not hasattr(window, "get_wm_class"):
            return set()
        names = window.get_wm_class()
        if names:
            return {name.lower() for name in names}
        parent = window.query_tree().parent
        if not parent or parent == window:
            return set()
        window = parent
    return set()
