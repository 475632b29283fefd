"""Hostile start-up input: broken bytes, absurd nesting and numbers, smuggled control
characters. Each gets one line that names the thing, and no traceback; none of it reaches
an HTTP header or a URL, where it would fail later, in the worker, for an hour."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_bad_input import NOWHERE, run_cli, the_error


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def raw_config(home: Path, data: bytes) -> Path:
    path = home / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


BROKEN_FILES = {
    "a Latin-1 byte": (b'server_url = "http://caf\xe9:8000"\n', "not UTF-8"),
    "binary garbage": (bytes(range(256)) * 4, "not UTF-8"),
    "arrays nested 5000 deep": (b"x = " + b"[" * 5000 + b"]" * 5000 + b"\n", "too deep"),
    "tables nested 5000 deep": (b"x = " + b"{a=" * 5000 + b"}" * 5000 + b"\n", "too deep"),
    "an integer of 5000 digits": (b"request_timeout = " + b"9" * 5000 + b"\n", "too long"),
    "a 5000-digit whole number": (b"preroll_ms = " + b"1" * 5000 + b"\n", "too long"),
}


@pytest.mark.parametrize("case", BROKEN_FILES, ids=list(BROKEN_FILES))
def test_a_config_file_that_cannot_be_read_as_toml_is_one_line(home, case):
    data, words = BROKEN_FILES[case]
    path = raw_config(home, data)
    for command in ("run", "status", "retry", "doctor"):
        error = the_error(run_cli(home, command, "--config", str(path)))
        assert str(path) in error and words in error, error


BAD_VALUES = {
    "a float of 1e400": ("request_timeout = 1e400", "request_timeout", "inf"),
    "a whole number of 1e400": ("preroll_ms = 1e400", "preroll_ms", "inf"),
    "a NUL in api_key_file": ('api_key_file = "/tmp/key\\u0000.txt"', "api_key_file", "NUL"),
    "a tab in server_url": ('server_url = "http://127.0.0.1:9\\t/v1"', "server_url",
                            "control characters"),
    "a BEL in server_url": ('server_url = "http://127.0.0.1:9\\u0007"', "server_url",
                            "control characters"),
    "a space in server_url": ('server_url = "http://127.0.0.1 :9"', "server_url",
                              "without spaces"),
    "a non-ASCII API key": ('api_key = "clé-secrète-123"', "api_key", "visible ASCII"),
    "an API key with a newline": ('api_key = "line1\\nline2"', "api_key", "visible ASCII"),
}


@pytest.mark.parametrize("case", BAD_VALUES, ids=list(BAD_VALUES))
def test_a_value_that_would_break_a_request_later_is_refused_at_start_up(home, case):
    line, name, words = BAD_VALUES[case]
    path = raw_config(home, (line + "\n").encode())
    error = the_error(run_cli(home, "run", "--config", str(path)))
    assert f"Setting '{name}'" in error and words in error, error
    assert "clé-secrète" not in error and "line2" not in error  # a key is never shown


@pytest.mark.parametrize("url", ["http://127.0.\t0.1:9", "http://127.0.0.1:9/\x1b[31m",
                                 "http://127.0.0.1:9/a\x7fb"])
def test_a_control_character_in_the_server_url_from_the_environment_is_refused(home, url):
    error = the_error(run_cli(home, "status", env={"TURBO_WHISPER_SERVER_URL": url}))
    assert "TURBO_WHISPER_SERVER_URL" in error and "control characters" in error, error
    assert "\x1b" not in error and "\t" not in error  # shown escaped, not obeyed


KEY_FILES = {
    "two lines": (b"first-half-of-key\nsecond-half\n", "more than one line"),
    "not UTF-8": (b"k\xe9y-1234567\n", "not UTF-8"),
    "non-ASCII": ("clé-secrète-123\n".encode(), "visible ASCII"),
    "a control character": (b"key\x1b[2J-123\n", "control characters"),
}


@pytest.mark.parametrize("case", KEY_FILES, ids=list(KEY_FILES))
def test_a_key_file_that_cannot_be_a_header_is_refused_before_any_request(home, case):
    data, words = KEY_FILES[case]
    home.mkdir(parents=True, exist_ok=True)
    key = home / "api-key"
    key.write_bytes(data)
    key.chmod(0o600)
    for command in ("run", "status", "retry"):
        result = run_cli(home, command, "--api-key-file", str(key), "--server-url", NOWHERE)
        error = the_error(result)
        assert "api_key_file" in error and str(key) in error and words in error, error
        assert "is starting" not in result.stdout + result.stderr
        for secret in (b"second-half", b"secr", b"[2J"):
            assert secret.decode() not in error
