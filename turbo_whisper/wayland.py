"""Pasting into the focused window on Wayland: wl-copy, then a paste chord from a key tool.

Wayland lets no ordinary client send keys to another window, so the chord goes through a
tool the session offers: wtype (the virtual-keyboard protocol of wlroots compositors such
as sway, Hyprland and river) or ydotool (a uinput device, for GNOME and KDE). Which tools
to try, in order, is the setting 'paste_via'; "clipboard" there means "stop and leave the
transcript in the clipboard". A paste counts as done only when the focused field reads it
back through the accessibility bus; where it cannot be read, the transcript stays in the
clipboard and the user is told so, never that it was pasted.
"""

from __future__ import annotations

import json
import locale
import logging
import os
import shutil
import socket
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from turbo_whisper.errors import ClipboardError
from turbo_whisper.output import TERMINALS, Clipboard

log = logging.getLogger(__name__)

METHODS = ("wtype", "ydotool", "clipboard")
DEFAULT_PASTE_VIA = METHODS
GUIDE = "docs/wayland.md in Turbo Whisper's repository"

Tell = Callable[..., None]


def is_wayland(environ: Mapping[str, str] | None = None) -> bool:
    """Whether this is a Wayland session (XWayland's DISPLAY may be set as well)."""
    return bool((os.environ if environ is None else environ).get("WAYLAND_DISPLAY"))


@dataclass(frozen=True)
class Chord:
    """The paste keys for the focused window: Ctrl+V, or Ctrl+Shift+V in a terminal."""

    terminal: bool

    @property
    def modifiers(self) -> tuple[str, ...]:
        return ("ctrl", "shift") if self.terminal else ("ctrl",)

    def __str__(self) -> str:
        return "+".join(m.title() for m in self.modifiers) + "+V"


# --- the focused window ---------------------------------------------------------------------

def focused_in_sway_tree(tree: Mapping[str, object]) -> str | None:
    """The app id (or X11 class) of the focused window in `swaymsg -t get_tree` output."""
    stack: list[object] = [tree]
    while stack:
        node = stack.pop()
        if not isinstance(node, Mapping):
            continue
        if node.get("focused") and node.get("type") in ("con", "floating_con"):
            props = node.get("window_properties")
            x11 = props.get("class") if isinstance(props, Mapping) else None
            name = node.get("app_id") or x11
            return str(name) if name else None
        for key in ("nodes", "floating_nodes"):
            children = node.get(key)
            if isinstance(children, list):
                stack.extend(children)
    return None


def focused_app(environ: Mapping[str, str] | None = None) -> str | None:
    """The focused window's app id where the compositor tells (sway, Hyprland); else None."""
    environ = os.environ if environ is None else environ
    if environ.get("SWAYSOCK") and shutil.which("swaymsg"):
        tree = _json_of(["swaymsg", "-r", "-t", "get_tree"])
        return focused_in_sway_tree(tree) if isinstance(tree, Mapping) else None
    if environ.get("HYPRLAND_INSTANCE_SIGNATURE") and shutil.which("hyprctl"):
        window = _json_of(["hyprctl", "-j", "activewindow"])
        if isinstance(window, Mapping):
            name = window.get("class") or window.get("initialClass")
            return str(name) if name else None
    return None


def _json_of(command: list[str]) -> object:
    try:
        done = subprocess.run(command, capture_output=True, timeout=5, check=False)
        return json.loads(done.stdout) if done.returncode == 0 else None
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        log.debug("%s failed: %s", command[0], exc)
        return None


def is_terminal(app: str | None) -> bool:
    return bool(app) and str(app).lower() in TERMINALS


# --- the key tools ----------------------------------------------------------------------------

def _utf8_env() -> dict[str, str]:
    """The environment for a key tool: wtype cannot read non-ASCII text without a UTF-8 locale."""
    env = dict(os.environ)
    if "utf" not in (locale.getpreferredencoding(False) or "").lower().replace("-", ""):
        env["LC_ALL"] = "C.UTF-8"
    return env


def _run(command: list[str], env: Mapping[str, str] | None = None) -> tuple[int, str]:
    try:
        done = subprocess.run(command, capture_output=True, timeout=10, check=False,
                              env=dict(env) if env is not None else _utf8_env())
    except subprocess.TimeoutExpired:
        return 1, f"{command[0]} did not finish within 10 s"
    except OSError as exc:
        return 1, f"{command[0]} could not be started ({exc.strerror})"
    words = (done.stderr + done.stdout).decode("utf-8", errors="replace").strip()
    return done.returncode, words or f"exit status {done.returncode}"


def _last_line(words: str) -> str:
    return words.splitlines()[-1] if words else words


class Wtype:
    """wtype: the wlroots virtual-keyboard protocol (sway, Hyprland, river, labwc, Wayfire)."""

    name = "wtype"

    def problem(self) -> str | None:
        if not shutil.which("wtype"):
            return "not installed (sudo apt install wtype, or dnf/pacman install wtype)"
        # A one-millisecond pause is a full connection that presses nothing.
        code, words = _run(["wtype", "-s", "1"])
        if code == 0:
            return None
        if "virtual keyboard" in words.lower():
            return ("this compositor does not offer the virtual-keyboard protocol wtype needs "
                    "(GNOME and KDE do not; use ydotool there)")
        return f"it cannot reach the compositor ({_last_line(words)})"

    def press(self, chord: Chord) -> None:
        command = ["wtype"]
        for modifier in chord.modifiers:
            command += ["-M", modifier]
        command += ["-k", "v"]
        for modifier in reversed(chord.modifiers):
            command += ["-m", modifier]
        # GTK 3 acts on the chord only once another key event follows it (seen with sway);
        # a Shift tap is one that types nothing anywhere.
        command += ["-k", "Shift_L"]
        _check(self.name, *_run(command))


# Linux input event codes (linux/input-event-codes.h): what ydotool 1.x takes.
_KEYCODES = {"ctrl": 29, "shift": 42, "v": 47}


def ydotool_sockets(environ: Mapping[str, str]) -> list[str]:
    """Where ydotoold listens, in the order ydotool itself looks."""
    places = [environ.get("YDOTOOL_SOCKET", "")]
    if environ.get("XDG_RUNTIME_DIR"):
        places.append(os.path.join(environ["XDG_RUNTIME_DIR"], ".ydotool_socket"))
    places.append("/tmp/.ydotool_socket")
    return [place for place in places if place]


def socket_answers(path: str) -> bool:
    """Whether a daemon listens on the Unix socket (ydotoold 1.x datagrams, 0.1 streams)."""
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        with socket.socket(socket.AF_UNIX, kind) as probe:
            try:
                probe.connect(path)
                return True
            except OSError:
                continue
    return False


class Ydotool:
    """ydotool: a virtual input device through the kernel's uinput, for GNOME and KDE."""

    name = "ydotool"

    def __init__(self, environ: Mapping[str, str] | None = None):
        self.environ = dict(os.environ if environ is None else environ)  # where to look for the socket
        self.socket: str | None = None
        self.old = False  # 0.1.x: named keys, and uinput straight from the client when no daemon

    def problem(self) -> str | None:
        if not shutil.which("ydotool"):
            return "not installed (sudo apt install ydotool; see the ydotool set-up in " + GUIDE + ")"
        self.old = "recorder" in _run(["ydotool"])[1]  # 0.1 lists it; 1.x does not
        listening = [p for p in ydotool_sockets(self.environ) if os.path.exists(p)]
        for path in listening:
            if socket_answers(path):
                self.socket = path
                return None
        uinput = os.access("/dev/uinput", os.W_OK)
        if self.old and uinput:
            return None
        return self._no_daemon(listening, uinput)

    def _no_daemon(self, listening: list[str], uinput: bool) -> str:
        if listening:
            words = (f"its daemon's socket {listening[0]} does not answer or is not yours "
                     "(start ydotoold as your user, or with --socket-own=$(id -u):$(id -g))")
        else:
            words = ("its daemon ydotoold is not running (no socket at "
                     f"{' or '.join(ydotool_sockets(self.environ))}); start it with "
                     "`systemctl --user enable --now ydotoold`")
        if not uinput:
            words += ("; /dev/uinput is not writable by you, which ydotoold needs: "
                      "`sudo usermod -aG input $USER` and the udev rule in " + GUIDE)
        return words

    def press(self, chord: Chord) -> None:
        env = _utf8_env()
        if self.socket:
            env["YDOTOOL_SOCKET"] = self.socket
        if self.old:
            command = ["ydotool", "key", "+".join([*chord.modifiers, "v"])]
        else:
            keys = [*chord.modifiers, "v"]
            command = (["ydotool", "key"] + [f"{_KEYCODES[k]}:1" for k in keys]
                       + [f"{_KEYCODES[k]}:0" for k in reversed(keys)])
        _check(self.name, *_run(command, env))


def _check(tool: str, code: int, words: str) -> None:
    if code != 0:
        raise ClipboardError(f"The transcript is in the clipboard, but pasting it with {tool} "
                             f"failed ({_last_line(words)}); paste it yourself with Ctrl+V.")


KeyTool = Wtype | Ydotool


def key_tools(paste_via: Sequence[str], environ: Mapping[str, str] | None = None) -> list[KeyTool]:
    """The key tools to try, in the order of 'paste_via', up to "clipboard"."""
    tools: list[KeyTool] = []
    for name in paste_via:
        if name == "clipboard":
            break
        tools.append(Wtype() if name == "wtype" else Ydotool(environ))
    return tools


@dataclass(frozen=True)
class Choice:
    """The key tool that will paste (None: the clipboard alone), and why the others will not."""

    tool: KeyTool | None
    passed_over: tuple[tuple[str, str], ...]

    def reasons(self) -> str:
        return "; ".join(f"{name}: {why}" for name, why in self.passed_over)


def choose(paste_via: Sequence[str], environ: Mapping[str, str] | None = None) -> Choice:
    """The first key tool of 'paste_via' that can work in this session."""
    passed_over: list[tuple[str, str]] = []
    for tool in key_tools(paste_via, environ):
        why = tool.problem()
        if why is None:
            return Choice(tool, tuple(passed_over))
        passed_over.append((tool.name, why))
    return Choice(None, tuple(passed_over))


def describe(paste_via: Sequence[str]) -> tuple[bool, str]:
    """What `doctor` says: whether a key tool will paste, and which and why."""
    choice = choose(paste_via)
    if choice.tool is None:
        why = choice.reasons() or "'paste_via' names no key tool"
        return False, f"the transcript will only be copied: {why}."
    others = f" ({choice.reasons()})" if choice.passed_over else ""
    return True, (f"{choice.tool.name} will press the paste keys{others}; the text counts as "
                  "pasted only where the focused field reads it back (AT-SPI), and stays in "
                  "the clipboard otherwise.")


# --- the output -----------------------------------------------------------------------------

class WaylandPaster(Clipboard):
    """Copies with wl-copy, then presses the paste chord through the first key tool that works.

    The paste counts as done only when the focused field reads it back (AT-SPI); only then
    is the previous clipboard put back. Otherwise the transcript stays in the clipboard.
    """

    def __init__(self, paste_via: Sequence[str] = DEFAULT_PASTE_VIA,
                 tell: Tell | None = None, read_field: Callable[[], str | None] | None = None,
                 restore_delay: float = 0.8, read_back_seconds: float = 1.5):
        from turbo_whisper.atspi import focused_text

        self.paste_via = tuple(paste_via)
        self.restore_delay = restore_delay
        self.read_back_seconds = read_back_seconds  # for the field to show the pasted text
        self._tell: Tell = tell or (lambda level, message, **_: log.info("%s", message))
        self._read_field = read_field or focused_text
        self._choice: Choice | None = None
        self._told_fallback = False
        self._told_unseen: set[str] = set()  # apps whose fields cannot be read back, told once

    @property
    def inserts(self) -> bool:
        return self._current_choice().tool is not None  # without a key tool it only copies

    def start_up_line(self) -> str:
        ok, words = describe(self.paste_via)
        return f"Pasting on Wayland: {words}" if ok else f"Not pasting on Wayland: {words}"

    def deliver(self, transcript: str) -> None:
        previous = _clipboard_text()
        super().deliver(transcript)
        choice = self._current_choice()
        if choice.tool is None:
            self._fallback(choice)
            return
        app = focused_app()
        chord = Chord(is_terminal(app))
        before = self._read_field()
        try:
            choice.tool.press(chord)
        except ClipboardError:
            self._choice = None  # look again next time: the daemon may have gone
            raise
        self._confirm(transcript, before, previous,
                      f"{chord} with {choice.tool.name} into {app or 'the focused window'}", app)

    def _confirm(self, transcript: str, before: str | None, previous: bytes | None,
                 what: str, app: str | None = None) -> None:
        from turbo_whisper.atspi import arrived

        landed = arrived(transcript, before, self._read_field, seconds=self.read_back_seconds)
        if landed:
            self._tell("info", f"Pressed {what}; the focused field reads the transcript back.",
                       notify=False)
            self._restore_later(previous, transcript)
        elif landed is False:
            self._tell("warning", f"Pressed {what}, but the focused field does not show the "
                       "transcript; it is in the clipboard: paste it with Ctrl+V.")
        else:  # a notification the first time for each app, so that the user knows to look
            self._tell("info", f"Pressed {what}; that window does not let Turbo Whisper see "
                       "whether the text arrived, so it stays in the clipboard as well.",
                       notify=(app or "") not in self._told_unseen)
            self._told_unseen.add(app or "")

    def _restore_later(self, previous: bytes | None, transcript: str) -> None:
        if previous and previous != transcript.encode("utf-8"):
            timer = threading.Timer(self.restore_delay, _restore, (previous, transcript))
            timer.daemon = True
            timer.start()

    def _current_choice(self) -> Choice:
        if self._choice is None or self._choice.tool is None:
            self._choice = choose(self.paste_via)
        return self._choice

    def _fallback(self, choice: Choice) -> None:
        why = choice.reasons() or "'paste_via' names no key tool"
        self._tell("warning", f"The transcript is in the clipboard but was not pasted ({why}); "
                   "paste it with Ctrl+V.", notify=not self._told_fallback)
        self._told_fallback = True


def _clipboard_text() -> bytes | None:
    """The clipboard as bytes: what the user copied need not be UTF-8."""
    from turbo_whisper.output import read_bytes

    return read_bytes()


def _restore(previous: bytes, transcript: str) -> None:
    """Put the previous clipboard back, unless the user has copied something else since."""
    from turbo_whisper.output import copy_bytes

    if _clipboard_text() == transcript.encode("utf-8"):
        try:
            copy_bytes(previous)
        except ClipboardError as exc:
            log.debug("The previous clipboard could not be put back: %s", exc)
