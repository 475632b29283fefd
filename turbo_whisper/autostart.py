"""`turbo-whisper autostart install|remove`: start Turbo Whisper at login.

It writes an XDG autostart desktop entry and, where systemd is installed, a systemd user unit,
both running the launch script. Only the standard library is imported at the top, for the same
reason as in stack_cli: `turbo-whisper toggle` builds the same parser and must start at once.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from turbo_whisper.errors import ConfigError
from turbo_whisper.stack_cli import EXIT_ERROR, add_config_flag, in_words, settings_from

DESKTOP_FILE = "turbo-whisper.desktop"
UNIT_FILE = "turbo-whisper.service"


def add_parser(subparsers: Any) -> None:
    """Register the `autostart` command on the main parser's subparsers."""
    autostart = subparsers.add_parser("autostart", help="start Turbo Whisper at login")
    actions = autostart.add_subparsers(dest="autostart_action", metavar="ACTION")
    actions.required = True

    install = actions.add_parser(
        "install", help="run the launch script at login (XDG autostart and systemd user unit)")
    install.add_argument("--launcher", type=Path, metavar="SCRIPT",
                         help="the launch script (default: the checkout's "
                              "scripts/launch-turbo-whisper.sh)")
    add_config_flag(install)
    install.set_defaults(func=cmd_autostart_install)

    remove = actions.add_parser("remove", help="stop starting Turbo Whisper at login")
    remove.set_defaults(func=cmd_autostart_remove)


def xdg_config_home() -> Path:
    from turbo_whisper import paths

    return paths.config_dir().parent


def desktop_entry_path() -> Path:
    return xdg_config_home() / "autostart" / DESKTOP_FILE


def unit_path() -> Path:
    return xdg_config_home() / "systemd" / "user" / UNIT_FILE


_EXEC_RESERVED = re.compile(r"[\s\"'\\><~|&;$*?#()`]")


def desktop_exec_argument(argument: str) -> str:
    """One argument of a desktop entry's Exec key, quoted and escaped as the spec asks."""
    argument = argument.replace("%", "%%")
    if not _EXEC_RESERVED.search(argument):
        return argument
    quoted = re.sub(r"([\"`$\\])", r"\\\1", argument)
    # The string-value escape rule applies on top of the Exec quoting rule.
    return '"' + quoted.replace("\\", "\\\\") + '"'


def systemd_exec_argument(argument: str) -> str:
    """One argument of a unit's ExecStart, safe from specifier and variable expansion."""
    escaped = argument.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("%", "%%").replace("$", "$$") + '"'


def desktop_entry(launcher: Path) -> str:
    return (
        "[Desktop Entry]\n"
        "Type=Application\n"
        "Name=Turbo Whisper\n"
        "Comment=Dictation: press Ctrl+Alt+R, speak, and the text is in the clipboard\n"
        f"Exec={desktop_exec_argument(str(launcher))}\n"
        "Icon=audio-input-microphone\n"
        "Terminal=false\n"
        "X-GNOME-Autostart-enabled=true\n"
        "X-GNOME-Autostart-Delay=3\n"
    )


def systemd_unit(launcher: Path) -> str:
    return (
        "[Unit]\n"
        "Description=Turbo Whisper dictation client\n"
        "After=graphical-session.target\n"
        "PartOf=graphical-session.target\n"
        # The client restarts itself after a crash (run --supervised); systemd restarts
        # the whole, up to 5 times in 5 minutes, if the supervisor itself fails, but not
        # after a setting to fix (2) or a crash loop the supervisor gave up on (4).
        "StartLimitIntervalSec=300\n"
        "StartLimitBurst=5\n"
        "\n"
        "[Service]\n"
        "Type=simple\n"
        f"ExecStart={systemd_exec_argument(str(launcher))} --foreground\n"
        "Restart=on-failure\n"
        "RestartSec=5\n"
        "RestartPreventExitStatus=2 4\n"
        "\n"
        "[Install]\n"
        "WantedBy=graphical-session.target\n"
    )


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(path)


def _user_systemctl(*words: str) -> subprocess.CompletedProcess[str] | None:
    """Run `systemctl --user WORDS`; None where systemctl is not installed."""
    systemctl = shutil.which("systemctl")
    if systemctl is None:
        return None
    return subprocess.run([systemctl, "--user", *words], capture_output=True, text=True,
                          check=False)


def user_systemd_running() -> bool:
    answer = _user_systemctl("show-environment")
    return answer is not None and answer.returncode == 0


@in_words
def cmd_autostart_install(args: argparse.Namespace) -> int:
    from turbo_whisper import container

    launcher = args.launcher or container.find_launcher(settings_from(args))
    launcher = launcher.expanduser().resolve()
    if not launcher.is_file():
        raise ConfigError(f"The launch script {launcher} does not exist.")
    if not os.access(launcher, os.X_OK):
        raise ConfigError(f"The launch script {launcher} is not executable: chmod +x it.")
    _write(desktop_entry_path(), desktop_entry(launcher))
    print(f"Wrote {desktop_entry_path()}: Turbo Whisper starts at your next login.")
    if shutil.which("systemctl") is None:
        return 0
    _write(unit_path(), systemd_unit(launcher))
    print(f"Wrote {unit_path()} (it restarts the client if it stops by accident).")
    how = "systemctl --user daemon-reload && systemctl --user enable turbo-whisper.service"
    if not user_systemd_running():
        print(f"No systemd user manager is running now, so the unit is not enabled; "
              f"the autostart entry is enough. To use the unit later: {how}")
        return 0
    _user_systemctl("daemon-reload")
    enabled = _user_systemctl("enable", UNIT_FILE)
    if enabled is None or enabled.returncode != 0:
        words = enabled.stderr.strip() if enabled is not None else ""
        print(f"Could not enable the unit ({words}); try: {how}", file=sys.stderr)
        return EXIT_ERROR
    print("Enabled the systemd user unit: it starts with your graphical session.")
    return 0


@in_words
def cmd_autostart_remove(args: argparse.Namespace) -> int:
    removed = []
    if unit_path().exists():
        if user_systemd_running():
            _user_systemctl("disable", UNIT_FILE)
        unit_path().unlink()
        removed.append(unit_path())
        if user_systemd_running():
            _user_systemctl("daemon-reload")
    if desktop_entry_path().exists():
        desktop_entry_path().unlink()
        removed.append(desktop_entry_path())
    if not removed:
        print("Turbo Whisper was not set to start at login.")
    for path in removed:
        print(f"Removed {path}.")
    return 0
