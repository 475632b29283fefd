"""Any text a transcript can hold reaches the X clipboard byte for byte.

The product's Clipboard (pyperclip with xclip, read back to confirm) on a real X display,
compared with what another program, `xclip -o`, reads from the clipboard.

What is left out: lone surrogates (U+D800..U+DFFF on their own), which are not text and have
no UTF-8 form; no server sends them in a transcript (the HTTP client replaces them, see
test_server_answers.py). NUL and every other control character do round-trip through
xclip and are included.
"""

from __future__ import annotations

import os
import subprocess

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from support.requirements import require_tools

pytestmark = pytest.mark.integration

TEXT = st.text(st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=200)


@pytest.fixture
def x_clipboard(xvfb, monkeypatch):
    """The product's Clipboard, talking to the test display through xclip."""
    require_tools("xclip", purpose="the X clipboard")
    import pyperclip

    from turbo_whisper.output import Clipboard

    monkeypatch.setenv("DISPLAY", xvfb)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    pyperclip.set_clipboard("xclip")
    return Clipboard()


def xclip_output(display: str) -> bytes:
    result = subprocess.run(["xclip", "-o", "-selection", "clipboard"],
                            env={**os.environ, "DISPLAY": display}, capture_output=True,
                            timeout=10, check=True)
    return result.stdout


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=TEXT)
@example(text="Café déjà vu — œuvre 🎤 naïve")
@example(text="tab\there, CRLF\r\nNUL\x00 and ESC\x1b[31m red")
@example(text="e\u0301 vs \u00e9, \ufeffBOM, \u2028 line separator, \U0010ffff")
@example(text="  leading and trailing spaces  \n")
@example(text="日本語のテキスト、עברית, العربية")
def test_any_text_survives_the_clipboard_byte_for_byte(x_clipboard, xvfb, text):
    x_clipboard.deliver(text)
    assert xclip_output(xvfb) == text.encode("utf-8")
