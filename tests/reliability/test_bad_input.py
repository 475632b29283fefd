"""A user's mistake gets one line that names the thing and what is accepted; no traceback.

Every case runs the real `turbo-whisper` command in its own folders, as a user would.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

NOWHERE = "http://127.0.0.1:9"  # the discard port: nothing answers there


def run_cli(home: Path, *args: str, env: dict[str, str] | None = None,
            timeout: float = 30) -> subprocess.CompletedProcess:
    variables = {
        **os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_STATE_HOME": str(home / "state"), "XDG_DATA_HOME": str(home / "data"),
        "XDG_RUNTIME_DIR": str(home / "runtime"), "DISPLAY": "", "WAYLAND_DISPLAY": "",
    }
    # The default settings, as a user has them: none of this machine's own.
    variables = {k: v for k, v in variables.items() if not k.startswith("TURBO_WHISPER_")}
    variables.update(env or {})
    (home / "runtime").mkdir(parents=True, exist_ok=True, mode=0o700)
    return subprocess.run([sys.executable, "-m", "turbo_whisper", *args], env=variables,
                          cwd=home, capture_output=True, text=True, timeout=timeout,
                          check=False)


def the_error(result: subprocess.CompletedProcess) -> str:
    """The one `turbo-whisper: ...` line of a failed command, after checking there is one."""
    assert result.returncode != 0, result
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("turbo-whisper:")]
    assert len(lines) == 1, result.stderr
    assert result.stdout == "", result.stdout
    return lines[0]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def config_file(home: Path, text: str) -> Path:
    path = home / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- the config file


def test_invalid_toml_names_the_file_and_the_place(home):
    path = config_file(home, 'server_url = "http://127.0.0.1:8000\nmodel = 3\n')
    line = the_error(run_cli(home, "run", "--config", str(path)))
    assert str(path) in line and "not valid TOML" in line and "line 1" in line, line


def test_a_config_file_that_does_not_exist_is_named(home):
    line = the_error(run_cli(home, "run", "--config", str(home / "nothere.toml")))
    assert "nothere.toml" in line and "does not exist" in line


def test_an_unknown_key_is_warned_about_by_name_and_the_rest_is_used(home):
    path = config_file(home, f'colour = "blue"\nserver_url = "{NOWHERE}"\n')
    result = run_cli(home, "status", "--config", str(path))
    assert "Traceback" not in result.stderr
    warning = [line for line in result.stderr.splitlines() if "colour" in line]
    assert len(warning) == 1 and "Unknown setting 'colour'" in warning[0], result.stderr
    assert "server_url" in warning[0]  # the known settings are listed
    assert NOWHERE in result.stdout  # the rest of the file was used
    assert result.returncode == 3  # "not running", not a configuration error


WRONG_TYPES = {
    'request_timeout = "soon"': ("request_timeout", "'soon'", "a number >= 1"),
    "sounds = \"maybe\"": ("sounds", "'maybe'", "true or false"),
    "max_seconds = -3": ("max_seconds", "-3", "a number >= 1"),
    'mode = "sometimes"': ("mode", "'sometimes'", '"toggle" or "hold"'),
    "language = 42": ("language", "42", "expected text"),
    'language = "english"': ("language", "'english'", "language code such as \"en\""),
    'replacements = "none"': ("replacements", "'none'", "a table of text"),
    "device = -1": ("device", "-1", "device index"),
    'output = "printer"': ("output", "'printer'", '"clipboard" or "paste"'),
}


@pytest.mark.parametrize("line, expected", WRONG_TYPES.items(), ids=list(WRONG_TYPES))
def test_a_value_of_the_wrong_type_names_the_setting_the_value_and_what_is_accepted(
        home, line, expected):
    name, shown, accepted = expected
    path = config_file(home, line + "\n")
    error = the_error(run_cli(home, "run", "--config", str(path)))
    assert f"Setting '{name}'" in error and str(path) in error, error
    assert shown in error and accepted in error, error


def test_a_wrong_value_in_the_environment_names_the_variable(home):
    result = run_cli(home, "run", env={"TURBO_WHISPER_REQUEST_TIMEOUT": "abc"})
    error = the_error(result)
    assert "TURBO_WHISPER_REQUEST_TIMEOUT" in error and "'abc'" in error
    assert "a number" in error


# --------------------------------------------------------------------------- flags


@pytest.mark.parametrize("hotkey", ["ctrl+alt+", "ctrl+alt+rr", "ctrl+ctrl", "hyper+r", ""])
def test_a_bad_hotkey_says_what_a_hotkey_looks_like(home, hotkey):
    error = the_error(run_cli(home, "run", "--hotkey", hotkey, "--server-url", NOWHERE))
    assert "Setting 'hotkey'" in error and repr(hotkey) in error, error
    assert '"ctrl+alt+r"' in error, error


@pytest.mark.parametrize("url", ["ftp://example.org", "127.0.0.1:8000", "http://", "http://h:99999",
                                 "localhost"])
def test_a_bad_server_url_says_what_a_url_looks_like(home, url):
    error = the_error(run_cli(home, "run", "--server-url", url))
    assert "Setting 'server_url'" in error and url in error, error
    assert "http:// or https:// URL" in error, error


def test_an_api_key_file_that_cannot_be_read_is_named(home):
    error = the_error(run_cli(home, "run", "--api-key-file", str(home / "no-key"),
                              "--server-url", NOWHERE))
    assert "api_key_file" in error and "no-key" in error and "cannot be read" in error


@pytest.mark.integration
def test_a_device_that_does_not_exist_stops_the_client_with_the_list_of_devices(home, pulse):
    result = run_cli(home, "run", "--device", "nosuchmic", "--server-url", NOWHERE,
                     env=pulse.env)
    error = the_error(result)
    assert "'nosuchmic'" in error and "Input devices:" in error, error
    assert "pulse" in error  # the devices there are, to choose from
    assert "Set 'device'" in error
    assert not (home / "runtime" / "turbo-whisper" / "control.sock").exists()


# --------------------------------------------------------------------------- transcribe


def test_transcribing_a_file_that_is_not_a_wav_names_it_and_what_is_expected(home):
    home.mkdir(parents=True)
    notes = home / "notes.txt"
    notes.write_text("These are my notes, not a recording.\n" * 3)
    error = the_error(run_cli(home, "transcribe", str(notes), "--server-url", NOWHERE))
    assert str(notes) in error and "not a PCM WAV" in error, error
    assert "16-bit PCM WAV is expected" in error and "sox" in error


def test_transcribing_an_8_bit_wav_says_16_bit_is_expected(home):
    home.mkdir(parents=True)
    wav = home / "eight.wav"
    import wave

    with wave.open(str(wav), "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(1)
        writer.setframerate(8000)
        writer.writeframes(bytes(range(256)) * 40)
    error = the_error(run_cli(home, "transcribe", str(wav), "--server-url", NOWHERE))
    assert "8-bit samples" in error and "16-bit PCM" in error, error


def test_transcribing_a_missing_file_names_it(home):
    error = the_error(run_cli(home, "transcribe", str(home / "gone.wav")))
    assert "gone.wav" in error and "No such file" in error
