"""Real X clients for desktop tests: a window that logs the keys it receives, a paste target."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from support.services import stop_process

# A plain X client (python-xlib), not Tk: Tk drops Ctrl+Alt+letter presses before its
# bindings see them, so a Tk logger would miss the very keys this is about.
KEY_LOGGER = textwrap.dedent("""
    import sys, time
    from Xlib import X, XK, display
    screen = display.Display()
    root = screen.screen().root
    window = root.create_window(0, 0, 300, 100, 0, screen.screen().root_depth,
                                event_mask=X.KeyPressMask)
    window.set_wm_name("key logger")
    window.map()
    screen.sync()
    time.sleep(0.2)
    window.set_input_focus(X.RevertToParent, X.CurrentTime)
    screen.sync()
    out = open(sys.argv[1], "w", buffering=1, encoding="utf-8")
    out.write("ready\\n")
    while True:
        event = screen.next_event()
        if event.type == X.KeyPress:
            name = XK.keysym_to_string(screen.keycode_to_keysym(event.detail, 0))
            out.write(f"press {name} {event.state}\\n")
""")

TK_ENTRY = textwrap.dedent("""
    import os, sys, tkinter
    root = tkinter.Tk()
    root.title("paste target")
    entry = tkinter.Entry(root, width=80)
    entry.pack()
    def save():
        # Whole or not at all: a reader never sees the file truncated and not yet written.
        with open(sys.argv[1] + ".new", "w", encoding="utf-8") as handle:
            handle.write(entry.get())
        os.replace(sys.argv[1] + ".new", sys.argv[1])
        root.after(100, save)
    root.after(200, lambda: (root.focus_force(), entry.focus_force()))
    root.after(300, save)
    root.mainloop()
""")


class Window:
    """A real X client started with this Python, stopped by its process id."""

    def __init__(self, display: str, args: list[str], output: Path):
        self.output = output
        self.process = subprocess.Popen(args, env={**os.environ, "DISPLAY": display},
                                        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)

    def text(self) -> str:
        return self.output.read_text(encoding="utf-8") if self.output.exists() else ""

    def wait_for(self, word: str, timeout: float = 15.0) -> None:
        end = time.monotonic() + timeout
        while word not in self.text():
            if time.monotonic() > end or self.process.poll() is not None:
                raise AssertionError(f"{word!r} not seen by the window: {self.text()!r}")
            time.sleep(0.05)

    def stop(self) -> None:
        stop_process(self.process)


def key_logger(display: str, tmp_path: Path) -> Window:
    """A focused X window that writes every key press it receives to a file."""
    log = tmp_path / "keys.txt"
    window = Window(display, [sys.executable, "-c", KEY_LOGGER, str(log)], log)
    window.wait_for("ready")
    return window


def tk_entry(display: str, tmp_path: Path) -> Window:
    """A focused Tk text entry whose content is saved to a file ten times a second."""
    saved = tmp_path / "entry.txt"
    window = Window(display, [sys.executable, "-c", TK_ENTRY, str(saved)], saved)
    end = time.monotonic() + 15
    while not saved.exists() and time.monotonic() < end:
        time.sleep(0.05)
    return window


def xterm(display: str, tmp_path: Path) -> Window:
    """A real xterm, focused, whose shell writes what it receives (a paste) to a file."""
    typed = tmp_path / "xterm.txt"
    typed.write_text("")
    window = Window(display, ["xterm", "-geometry", "80x10+0+0", "-e", "sh", "-c",
                              f"stty -icanon -echo; exec cat > '{typed}'"], typed)
    env = {**os.environ, "DISPLAY": display}
    end = time.monotonic() + 15
    while time.monotonic() < end:
        # Only a mapped window can take the focus: xterm creates its window a moment before
        # mapping it, and focusing it in between is an X error (BadMatch).
        found = subprocess.run(["xdotool", "search", "--onlyvisible", "--pid",
                                str(window.process.pid)], env=env, capture_output=True,
                               text=True, check=False).stdout.split()
        if found and subprocess.run(["xdotool", "windowfocus", "--sync", found[0]], env=env,
                                    capture_output=True, check=False, timeout=10).returncode == 0:
            return window
        time.sleep(0.1)
    window.stop()
    raise AssertionError("the xterm window did not appear, or never took the focus")


def set_clipboard(display: str, data: bytes) -> None:
    """What the user copied before dictating, held by xclip in its own session."""
    subprocess.run(["xclip", "-selection", "clipboard"], input=data, check=True, timeout=10,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                   env={**os.environ, "DISPLAY": display})


def dictate_with_commands(run, pulse, wav: Path) -> None:
    """One dictation through `turbo-whisper toggle`, the speech played while recording."""
    assert run.command("toggle").returncode == 0
    pulse.play(wav)
    time.sleep(0.2)
    assert run.command("toggle").returncode == 0


def grab_elsewhere(display: str) -> subprocess.Popen:
    """Another program that grabs Ctrl+Alt+R first and keeps it until stopped."""
    script = textwrap.dedent("""
        import sys, time
        from Xlib import X, XK, display
        screen = display.Display()
        code = screen.keysym_to_keycode(XK.string_to_keysym("r"))
        screen.screen().root.grab_key(code, X.ControlMask | X.Mod1Mask, True,
                                      X.GrabModeAsync, X.GrabModeAsync)
        screen.sync()
        print("grabbed", flush=True)
        time.sleep(3600)
    """)
    process = subprocess.Popen([sys.executable, "-c", script], env={**os.environ, "DISPLAY": display},
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stdout.readline().strip() == "grabbed"
    return process


COLOURS = {"recording": (0xC8, 0x1E, 0x1E), "transcribing": (0x1E, 0x5A, 0xC8),
           "waiting": (0xD2, 0x8C, 0x00), "copied": (0x1E, 0x96, 0x3C),
           "error": (0x8C, 0x1E, 0xA0)}


class Screenshots:
    """Reads the screen where the client's indicator window is, as a person would see it."""

    def __init__(self, display: str):
        from Xlib import display as xdisplay

        self.screen = xdisplay.Display(display)
        self.root = self.screen.screen().root

    def indicator(self) -> tuple[str | None, float]:
        """The state whose colour the indicator shows (None: not on screen), and how much of
        its width the white level bar along its bottom edge covers."""
        box = self.where()
        return (None, 0.0) if box is None else self._read(box)

    def where(self):
        """The indicator's place and size on screen (x, y, width, height), or None."""
        from Xlib import X
        from Xlib.error import BadDrawable, BadWindow

        for window in self.root.query_tree().children:
            try:
                names = window.get_wm_class()
                if names and names[0] == "turbo-whisper-indicator" and \
                        window.get_attributes().map_state == X.IsViewable:
                    return window.get_geometry()
            except (BadWindow, BadDrawable):
                continue  # it closed between the listing and the look: it is not on screen
        return None

    def _read(self, box) -> tuple[str | None, float]:
        from Xlib import X

        image = self.root.get_image(box.x, box.y, box.width, box.height, X.ZPixmap,
                                    0xFFFFFFFF).data

        def pixel(x: int, y: int) -> tuple[int, ...]:
            at = (y * box.width + x) * 4
            return tuple(image[at:at + 3][::-1])  # the image is BGRX

        colour = pixel(2, 2)
        state = next((name for name, rgb in COLOURS.items() if rgb == colour), str(colour))
        bar = sum(pixel(x, box.height - 2) == (255, 255, 255) for x in range(box.width))
        return state, bar / box.width

    def close(self) -> None:
        self.screen.close()
