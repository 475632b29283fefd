"""Putting the transcript where the user can paste it: the clipboard, read back to confirm."""

from __future__ import annotations

import logging
import os
import shutil

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
            pyperclip.copy(transcript)
            back = pyperclip.paste()
        except pyperclip.PyperclipException as exc:
            raise ClipboardError(
                f"The transcript could not be copied ({exc}); {INSTALL_HINT}."
            ) from exc
        if back != transcript:
            raise ClipboardError(
                "The clipboard did not keep the transcript (it read back different text)."
            )
