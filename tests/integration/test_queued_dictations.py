"""Dictations that become ready together reach the clipboard as one text, in order, or are
pasted one after another, each once."""

from __future__ import annotations

import pytest
from support.client import clipboard_with
from support.desktop import dictate_with_commands, tk_entry

pytestmark = pytest.mark.integration


def test_two_dictations_made_during_a_cold_start_are_joined_in_order(
        xvfb, pulse, speech, whisper_server, client):
    server = whisper_server("fedirz", start_delay=10)
    run = client(server.url).start()
    dictate_with_commands(run, pulse, speech("good morning everyone"))
    dictate_with_commands(run, pulse, speech("please send the report by friday"))
    run.wait_log("is transcribed once the server is ready", timeout=10)
    text = clipboard_with(xvfb, "report", run, timeout=90)
    first, second = text.lower().index("morning"), text.lower().index("report")
    assert first < second and "\n" in text[first:second], run.log()[-4000:]
    run.wait_log("2 dictations, in order", timeout=10)


def test_dictations_pasted_after_a_cold_start_go_into_the_window_once_each_in_order(
        xvfb, pulse, speech, whisper_server, client, tmp_path):
    server = whisper_server("fedirz", start_delay=10)
    run = client(server.url, TURBO_WHISPER_OUTPUT="paste").start()
    window = tk_entry(xvfb, tmp_path)
    try:
        dictate_with_commands(run, pulse, speech("good morning everyone"))
        dictate_with_commands(run, pulse, speech("please send the report by friday"))
        run.wait_log("is transcribed once the server is ready", timeout=10)
        run.wait(lambda: "report" in window.text().lower(), 90, "both texts in the window")
        run.wait_log("2 dictations, in order", timeout=10)
        text = window.text().lower()
        assert text.count("morning") == 1 and text.count("report") == 1, text
        assert text.index("morning") < text.index("report"), text
    finally:
        window.stop()
