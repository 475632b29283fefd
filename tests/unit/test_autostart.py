"""`turbo-whisper autostart install|remove`: the files it writes, in temporary XDG folders.

systemctl is a recording stand-in on PATH, so the test never touches the machine's own
systemd user manager.
"""

from __future__ import annotations

import configparser
import os
from pathlib import Path

import pytest

from turbo_whisper import cli
from turbo_whisper.autostart import desktop_exec_argument, systemd_exec_argument


@pytest.fixture
def config_home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    return home


@pytest.fixture
def launcher(tmp_path) -> Path:
    script = tmp_path / "my checkout" / "scripts" / "launch-turbo-whisper.sh"
    script.parent.mkdir(parents=True)
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    return script


def fake_systemctl(tmp_path, monkeypatch, user_manager: bool) -> Path:
    """A systemctl on PATH that logs its arguments; show-environment tells if a manager runs."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "systemctl.calls"
    answer = 0 if user_manager else 1
    (bin_dir / "systemctl").write_text(
        "#!/bin/sh\n"
        f'echo "$*" >> "{calls}"\n'
        f'[ "$2" = show-environment ] && exit {answer}\n'
        "exit 0\n"
    )
    (bin_dir / "systemctl").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    return calls


def no_systemctl(tmp_path, monkeypatch) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


def install(launcher: Path | None) -> int:
    """`turbo-whisper autostart install [--launcher SCRIPT]`, through the real command line."""
    return cli.main(["autostart", "install"] + (["--launcher", str(launcher)] if launcher else []))


def remove() -> int:
    return cli.main(["autostart", "remove"])


class CaseSensitiveParser(configparser.ConfigParser):
    """Desktop entry keys are case-sensitive; ConfigParser lowercases them by default."""

    def optionxform(self, optionstr: str) -> str:
        return optionstr


def read_desktop_entry(path: Path) -> configparser.SectionProxy:
    parser = CaseSensitiveParser(interpolation=None)
    parser.read(path, encoding="utf-8")
    return parser["Desktop Entry"]


def test_install_writes_an_autostart_entry_that_runs_the_launcher(
        config_home, launcher, tmp_path, monkeypatch, capsys):
    no_systemctl(tmp_path, monkeypatch)
    assert install(launcher) == 0
    entry = read_desktop_entry(config_home / "autostart" / "turbo-whisper.desktop")
    assert entry["Type"] == "Application"
    assert entry["Exec"] == f'"{launcher}"'  # the folder name has a space: quoted
    assert entry["Terminal"] == "false"
    assert not (config_home / "systemd").exists()
    assert "next login" in capsys.readouterr().out


def test_with_systemctl_but_no_user_manager_the_unit_is_written_not_enabled(
        config_home, launcher, tmp_path, monkeypatch, capsys):
    calls = fake_systemctl(tmp_path, monkeypatch, user_manager=False)
    assert install(launcher) == 0
    unit = (config_home / "systemd" / "user" / "turbo-whisper.service").read_text()
    assert f'ExecStart="{launcher}" --foreground' in unit
    assert "WantedBy=graphical-session.target" in unit
    assert "enable" not in calls.read_text()
    said = capsys.readouterr().out
    assert "not enabled" in said
    assert "systemctl --user enable turbo-whisper.service" in said


def test_with_a_user_manager_the_unit_is_enabled_and_remove_undoes_everything(
        config_home, launcher, tmp_path, monkeypatch, capsys):
    calls = fake_systemctl(tmp_path, monkeypatch, user_manager=True)
    assert install(launcher) == 0
    assert "--user enable turbo-whisper.service" in calls.read_text().splitlines()
    assert remove() == 0
    assert "--user disable turbo-whisper.service" in calls.read_text().splitlines()
    assert not (config_home / "autostart" / "turbo-whisper.desktop").exists()
    assert not (config_home / "systemd" / "user" / "turbo-whisper.service").exists()
    assert remove() == 0
    assert "was not set to start at login" in capsys.readouterr().out


def test_a_launcher_that_cannot_run_is_refused_in_one_line(config_home, tmp_path, capsys):
    script = tmp_path / "launch.sh"
    script.write_text("#!/bin/sh\n")
    assert install(script) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert "not executable" in err and len(err.strip().splitlines()) == 1
    assert install(tmp_path / "absent.sh") == cli.EXIT_USAGE


def test_the_default_launcher_is_the_checkouts(config_home, tmp_path, monkeypatch):
    no_systemctl(tmp_path, monkeypatch)
    assert install(None) == 0
    entry = read_desktop_entry(config_home / "autostart" / "turbo-whisper.desktop")
    checkout = Path(__file__).resolve().parents[2]
    expected = checkout / "scripts" / "launch-turbo-whisper.sh"
    assert entry["Exec"].strip('"') == str(expected)
    assert os.access(expected, os.X_OK)


@pytest.mark.parametrize("argument, written", [
    ("/home/ana/turbo/scripts/launch.sh", "/home/ana/turbo/scripts/launch.sh"),
    ("/home/ana/my apps/launch.sh", '"/home/ana/my apps/launch.sh"'),
    ('/opt/a"b/launch.sh', '"/opt/a\\\\"b/launch.sh"'),
    ("/opt/$HOME/launch.sh", '"/opt/\\\\$HOME/launch.sh"'),
    ("/opt/100%/launch.sh", "/opt/100%%/launch.sh"),
])
def test_desktop_exec_quoting_follows_the_spec(argument, written):
    assert desktop_exec_argument(argument) == written


def test_systemd_exec_quoting_escapes_specifiers_and_variables():
    assert systemd_exec_argument('/a b/%h/$X/"q"') == '"/a b/%%h/$$X/\\"q\\""'


def test_the_unit_restarts_a_failed_supervisor_a_few_times_but_not_what_restarting_cannot_fix(
        launcher):
    import configparser

    from turbo_whisper.autostart import systemd_unit
    from turbo_whisper.cli import EXIT_USAGE
    from turbo_whisper.supervisor import EXIT_CRASH_LOOP

    unit = configparser.ConfigParser(interpolation=None)
    unit.read_string(systemd_unit(launcher))
    assert unit["Service"]["Restart"] == "on-failure"
    assert int(unit["Unit"]["StartLimitBurst"]) >= 3 and int(unit["Unit"]["StartLimitIntervalSec"])
    prevented = unit["Service"]["RestartPreventExitStatus"].split()
    assert {str(EXIT_USAGE), str(EXIT_CRASH_LOOP)} <= set(prevented)
