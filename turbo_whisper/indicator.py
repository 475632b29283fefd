"""A small always-on-top window that shows what the client is doing, without taking focus.

X11 only: an override-redirect window (no window manager frame, never focused, never in
the task list), shown while recording (red, with the live input level as a bar), while
transcribing (blue), while waiting for the server (amber, with its words), and for a moment
after a transcript was copied (green) or a recording was kept after an error (purple).
It reads the client's state ten times a second; it never changes it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

WIDTH, HEIGHT, MARGIN, BAR = 280, 26, 16, 5
FLASH_SECONDS = {"copied": 1.5, "error": 3.0}
COLOURS = {  # background of each state; the text and the level bar are white
    "recording": (0xC8, 0x1E, 0x1E), "transcribing": (0x1E, 0x5A, 0xC8),
    "waiting": (0xD2, 0x8C, 0x00), "copied": (0x1E, 0x96, 0x3C), "error": (0x8C, 0x1E, 0xA0),
}


@dataclass(frozen=True)
class Look:
    """What the indicator shows: a state (None: hidden), its words, an input level 0..1."""

    state: str | None
    words: str = ""
    level: float = 0.0


def look_of(snapshot: dict[str, Any], level_db: float | None) -> Look:
    """The indicator's look for a status snapshot of the client."""
    if snapshot.get("state") == "recording":
        level = 0.0 if level_db is None else min(1.0, max(0.0, (level_db + 60.0) / 50.0))
        return Look("recording", "Recording", level)
    if snapshot.get("work") == "transcribing":
        return Look("transcribing", "Transcribing...")
    if snapshot.get("work") == "waiting for server" and snapshot.get("pending"):
        return Look("waiting", f"Waiting for the server: {snapshot.get('work_detail', '')}")
    return Look(None)


class Flashes:
    """A short "copied" or "error" look after the delivered or kept counts go up."""

    def __init__(self) -> None:
        self._seen: dict[str, int] | None = None
        self._until = 0.0
        self._look = Look(None)

    def look(self, snapshot: dict[str, Any], now: float) -> Look | None:
        counts = {"copied": int(snapshot.get("delivered", 0)), "error": int(snapshot.get("held", 0))}
        seen, self._seen = self._seen, counts
        for state, words in (("error", "Kept after an error: see the log"), ("copied", "Copied")):
            if seen is not None and counts[state] > seen[state]:
                self._look, self._until = Look(state, words), now + FLASH_SECONDS[state]
        return self._look if now < self._until else None


class Indicator:
    """The window and the thread that keeps it up to date."""

    def __init__(self, snapshot: Callable[[], dict[str, Any]],
                 level_db: Callable[[], float | None], position: str = "top-right"):
        self._snapshot = snapshot
        self._level_db = level_db
        self._position = position
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Open the window (hidden); a missing display is said once and the client runs on."""
        try:
            self._open()
        except Exception as exc:
            log.info("The recording indicator is off: the X display cannot show it (%s).", exc)
            return
        self._thread = threading.Thread(target=self._loop, name="indicator", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)

    def _open(self) -> None:
        from Xlib import X

        from turbo_whisper import x11

        self._screen = x11.open_display()
        screen = self._screen.screen()
        colormap = screen.default_colormap
        self._pixels = {name: colormap.alloc_color(r * 257, g * 257, b * 257).pixel
                        for name, (r, g, b) in COLOURS.items()}
        x, y = self._place(screen.width_in_pixels, screen.height_in_pixels)
        self._window = screen.root.create_window(
            x, y, WIDTH, HEIGHT, 0, screen.root_depth, X.InputOutput, X.CopyFromParent,
            background_pixel=screen.black_pixel, override_redirect=True,
            event_mask=X.ExposureMask)
        self._window.set_wm_name("Turbo Whisper")
        self._window.set_wm_class("turbo-whisper-indicator", "Turbo-whisper")
        self._window.set_wm_hints(flags=1, input=0)  # InputHint: never give it the focus
        self._gc = self._window.create_gc(foreground=screen.white_pixel,
                                          background=screen.black_pixel)
        self._font = self._open_font()
        self._white = screen.white_pixel
        self._shown: Look = Look(None)
        self._screen.sync()

    def _open_font(self) -> Any:
        font = self._screen.open_font("fixed")  # None when the server has no such font
        if font is not None:
            self._gc.change(font=font)
        return font

    def _place(self, width: int, height: int) -> tuple[int, int]:
        across = {"left": MARGIN, "right": width - WIDTH - MARGIN}
        side = next((word for word in ("left", "right") if word in self._position), None)
        x = across[side] if side else (width - WIDTH) // 2
        y = height - HEIGHT - MARGIN * 3 if self._position.startswith("bottom") else MARGIN
        return x, y

    def _loop(self) -> None:
        flashes = Flashes()
        while not self._stop.wait(0.1):
            try:
                snapshot = self._snapshot()
                look = flashes.look(snapshot, time.monotonic()) or \
                    look_of(snapshot, self._level_db())
                self._show(look)
            except Exception as exc:  # the display went away: the client runs on without it
                log.info("The recording indicator stopped (%s).", exc)
                return
        self._screen.close()

    def _show(self, look: Look) -> None:
        exposed = False
        while self._screen.pending_events():
            exposed = exposed or self._screen.next_event().type == 12  # Expose
        if _same(look, self._shown) and not exposed:
            return
        if look.state is None:
            self._window.unmap()
        else:
            if self._shown.state is None:
                self._window.map()
                self._window.configure(stack_mode=0)  # Above: on top of everything
            self._draw(look)
        self._shown = look
        self._screen.flush()

    def _draw(self, look: Look) -> None:
        assert look.state is not None
        self._gc.change(foreground=self._pixels[look.state])
        self._window.fill_rectangle(self._gc, 0, 0, WIDTH, HEIGHT)
        self._gc.change(foreground=self._white)
        if self._font is not None:
            words = look.words if len(look.words) <= 44 else look.words[:41] + "..."
            self._window.draw_text(self._gc, 8, 15, words.encode("latin-1", "replace"))
        if look.state == "recording":
            self._window.fill_rectangle(self._gc, 0, HEIGHT - BAR, round(WIDTH * look.level), BAR)


def _same(one: Look, other: Look) -> bool:
    """Whether two looks draw alike (the level bar moves in steps of 5 %)."""
    return (one.state, one.words, round(one.level * 20)) == \
        (other.state, other.words, round(other.level * 20))
