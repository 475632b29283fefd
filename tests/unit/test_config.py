from pathlib import Path

import pytest

from turbo_whisper.config import DEFAULT_MODEL, Settings, load_settings
from turbo_whisper.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_when_nothing_is_set(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    settings = load_settings({}, environ={})
    assert settings.server_url == "http://127.0.0.1:8000"
    assert settings.model == DEFAULT_MODEL == "Systran/faster-whisper-large-v3"
    assert settings.language is None
    assert settings.hotkey == "<ctrl>+<alt>+r"
    assert settings.config_file is None


def test_flags_beat_environment_beat_file(tmp_path):
    path = write(tmp_path, 'model = "from-file"\nlanguage = "fr"\nserver_url = "http://file:1"\n')
    environ = {"TURBO_WHISPER_MODEL": "from-env", "TURBO_WHISPER_LANGUAGE": "de"}
    settings = load_settings({"config": str(path), "model": "from-flag"}, environ=environ)
    assert settings.model == "from-flag"
    assert settings.language == "de"
    assert settings.server_url == "http://file:1"
    assert settings.config_file == path


def test_config_file_from_xdg_and_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    (tmp_path / "turbo-whisper").mkdir()
    write(tmp_path / "turbo-whisper", 'prompt = "Bonjour"\n')
    assert load_settings({}, environ={}).prompt == "Bonjour"
    other = write(tmp_path, 'prompt = "Other"\n')
    assert load_settings({}, environ={"TURBO_WHISPER_CONFIG": str(other)}).prompt == "Other"


@pytest.mark.parametrize(
    "name, value, words",
    [
        ("server_url", "ftp://x", "http:// or https://"),
        ("server_url", "http://host:99999", "http:// or https://"),
        ("request_timeout", "soon", "a number"),
        ("max_seconds", "0", "a number >= 1"),
        ("hotkey", "ctrl+alt+banana", "modifiers and one key"),
        ("language", "english", "language code"),
        ("mode", "push", '"toggle" or "hold"'),
        ("sounds", "maybe", "true or false"),
    ],
)
def test_bad_value_names_setting_value_and_what_is_accepted(name, value, words):
    variable = f"TURBO_WHISPER_{name.upper()}"
    with pytest.raises(ConfigError) as caught:
        load_settings({}, environ={variable: value})
    message = str(caught.value)
    assert f"'{name}'" in message and repr(value) in message and words in message
    assert variable in message


def test_wrong_type_in_file_is_named(tmp_path):
    path = write(tmp_path, "request_timeout = \"long\"\n")
    with pytest.raises(ConfigError, match=r"'request_timeout' from the config file .*'long'"):
        load_settings({"config": str(path)}, environ={})


def test_invalid_toml_is_one_clear_error(tmp_path):
    path = write(tmp_path, "model = \n")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_settings({"config": str(path)}, environ={})


def test_named_config_file_must_exist(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings({"config": str(tmp_path / "nope.toml")}, environ={})


def test_unknown_key_is_warned_about_by_name(tmp_path, caplog):
    path = write(tmp_path, 'modle = "typo"\n')
    settings = load_settings({"config": str(path)}, environ={})
    assert settings.model == DEFAULT_MODEL
    assert "Unknown setting 'modle'" in caplog.text


def test_hotkey_in_pynput_form_is_accepted():
    assert load_settings({"hotkey": "<ctrl>+<alt>+r"}, environ={}).hotkey == "<ctrl>+<alt>+r"
    assert load_settings({"hotkey": "Super+Space"}, environ={}).hotkey == "<cmd>+<space>"


def test_device_by_index_or_name():
    assert load_settings({"device": "3"}, environ={}).device == 3
    assert load_settings({"device": "pulse"}, environ={}).device == "pulse"
    assert load_settings({"device": "default"}, environ={}).device is None


def test_api_key_is_never_shown(tmp_path):
    settings = load_settings({}, environ={"TURBO_WHISPER_API_KEY": "sk-secret-123"})
    assert settings.api_key == "sk-secret-123"
    assert "sk-secret-123" not in repr(settings)


def test_api_key_from_file(tmp_path):
    key_file = tmp_path / "key"
    key_file.write_text("sk-from-file\n")
    settings = load_settings({"api_key_file": str(key_file)}, environ={})
    assert settings.api_key == "sk-from-file"


def test_language_auto_means_detect():
    assert load_settings({"language": "auto"}, environ={}).language is None
    assert load_settings({"language": "FR"}, environ={}).language == "fr"


def test_replacements_table_from_file(tmp_path):
    path = write(tmp_path, '[replacements]\n"new line" = "\\n"\n')
    settings = load_settings({"config": str(path)}, environ={})
    assert settings.replacements == (("new line", "\n"),)


def test_settings_are_frozen() -> None:
    with pytest.raises(AttributeError):
        Settings().model = "x"  # type: ignore[misc]


def test_server_api_and_connect_timeout_are_validated_by_name():
    settings = load_settings({"server_api": "OpenAI", "connect_timeout": "5"}, environ={})
    assert settings.server_api == "openai" and settings.connect_timeout == 5.0
    assert load_settings({}, environ={"TURBO_WHISPER_SERVER_API": "whispercpp"}).server_api == \
        "whispercpp"
    with pytest.raises(ConfigError, match="'server_api' from --server-api has the value 'speach'"):
        load_settings({"server_api": "speach"}, environ={})
    with pytest.raises(ConfigError, match="'connect_timeout'.*a number >= 0"):
        load_settings({"connect_timeout": "-1"}, environ={})


def test_paste_keys_is_a_table_of_window_classes_and_keys(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('[paste_keys]\nEmacs = "ctrl+y"\n"org.wezfurlong.wezterm" = "shift+insert"\n')
    settings = load_settings({"config": str(path)}, environ={})
    assert dict(settings.paste_keys) == {"emacs": "<ctrl>+y",
                                         "org.wezfurlong.wezterm": "<shift>+<insert>"}


def test_paste_keys_that_are_not_keys_name_the_setting(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('[paste_keys]\nemacs = "ctrl+banana"\n')
    with pytest.raises(ConfigError, match="'paste_keys'.*window classes"):
        load_settings({"config": str(path)}, environ={})


def test_settings_remember_which_ones_the_user_gave(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('language = "fr"\n')
    settings = load_settings({"config": str(config), "mode": "hold"},
                             environ={"TURBO_WHISPER_MODEL": "Systran/faster-whisper-base"})
    assert settings.given == {"language", "mode", "model"}
    assert load_settings({}, environ={}).given == frozenset()
