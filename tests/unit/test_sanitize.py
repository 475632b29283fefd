"""What may be shown: secrets blanked in every form a server may echo them, controls made
visible or dropped."""

from __future__ import annotations

import json
import logging
import shutil
from html import escape
from urllib.parse import quote, quote_plus

import pytest

from turbo_whisper import sanitize, text

KEY = "tw/Sécret key+7f3a9c\"2e51=="

FORMS = {
    "raw": KEY,
    "JSON with ensure_ascii": json.dumps(KEY)[1:-1],
    "JSON, slashes escaped": json.dumps(KEY, ensure_ascii=False)[1:-1].replace("/", "\\/"),
    "JSON in JSON": json.dumps(json.dumps(KEY)[1:-1])[1:-1],
    "URL-encoded": quote(KEY, safe=""),
    "form-encoded": quote_plus(KEY),
    "URL-encoded, lower case": quote(KEY, safe="").lower(),
    "HTML": escape(KEY),
    "HTML numeric": "".join(f"&#{ord(c)};" for c in KEY),
}


@pytest.fixture(autouse=True)
def kept_key():
    sanitize.keep_secret(KEY)


@pytest.mark.parametrize("form", FORMS, ids=list(FORMS))
def test_a_kept_secret_is_hidden_in_every_form_a_server_may_echo_it(form):
    shown = sanitize.shown(f"401: invalid token Bearer {FORMS[form]} (try again)")
    assert shown == f"401: invalid token Bearer {sanitize.HIDDEN} (try again)", shown


def test_text_around_a_secret_and_other_words_are_left_alone():
    assert sanitize.shown("the key: tw/other, port 8000") == "the key: tw/other, port 8000"


def test_a_secret_too_short_to_be_told_from_words_is_not_kept():
    sanitize.keep_secret("ab")
    assert sanitize.shown("about abba") == "about abba"


def test_controls_are_shown_escaped_but_newline_and_tab_stay():
    assert sanitize.shown("a\x1b[2Jb\x07c\x00d\re\x9bf\tg\nh") == \
        "a\\x1b[2Jb\\x07c\\x00d\\x0de\\x9bf\tg\nh"


def test_a_transcript_loses_escape_sequences_and_controls():
    transcript = " Open\x1b]0;title\x07 the\x1b[31m window\x00 please.\r\x9b2J\x1b[0m\n"
    assert text.finish(transcript) == "Open the window please."
    assert text.finish("line one\nline\ttwo") == "line one\nline\ttwo"


def test_the_log_filter_makes_the_message_and_the_traceback_safe():
    record = logging.LogRecord("turbo_whisper", logging.ERROR, __file__, 1,
                               "answer: %s", (f"Bearer {FORMS['JSON, slashes escaped']}\x1b[2J",),
                               None)
    try:
        raise ValueError(f"token {KEY}")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    assert sanitize.LogFilter().filter(record)
    line = logging.Formatter().format(record)
    assert "Sécret" not in line and "7f3a9c" not in line and "\x1b" not in line, line
    assert f"answer: Bearer {sanitize.HIDDEN}\\x1b[2J" in line


def test_a_desktop_notification_shows_neither_the_key_nor_controls(tmp_path, monkeypatch):
    import time

    from turbo_whisper.feedback import Feedback

    seen = tmp_path / "seen.txt"
    fake = tmp_path / "notify-send"
    # Written whole, then renamed: once the file is there, all that was shown is in it.
    fake.write_text(f'#!/bin/sh\nprintf "%s|" "$@" > {seen}.part\n'
                    f'{shutil.which("mv")} {seen}.part {seen}\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    Feedback(notifications=True).notify("error", f"401: Bearer {FORMS['URL-encoded']}\x1b[2J")
    deadline = time.monotonic() + 5
    while not seen.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    shown = seen.read_text()
    assert f"401: Bearer {sanitize.HIDDEN}\\x1b[2J" in shown, shown
