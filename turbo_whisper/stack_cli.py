"""`turbo-whisper server up|down|status|logs` and `turbo-whisper autostart install|remove`.

Only the standard library is imported here at the top: `turbo-whisper toggle` builds the same
parser and must start at once. The Docker SDK loads inside the commands that use it.
"""

from __future__ import annotations

import argparse
import functools
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from turbo_whisper.errors import ConfigError

if TYPE_CHECKING:
    from turbo_whisper.config import Settings
    from turbo_whisper.status import EngineStatus

EXIT_ERROR, EXIT_USAGE, EXIT_NOT_READY = 1, 2, 3
DESKTOP_FILE = "turbo-whisper.desktop"
UNIT_FILE = "turbo-whisper.service"

Command = Callable[[argparse.Namespace], int]


def add_parsers(subparsers: Any) -> None:
    """Register the `server` and `autostart` commands on the main parser's subparsers."""
    _add_server(subparsers)
    _add_autostart(subparsers)


def _add_server(subparsers: Any) -> None:
    server = subparsers.add_parser("server", help="the transcription server's Docker stack")
    actions = server.add_subparsers(dest="server_action", metavar="ACTION")
    actions.required = True

    up = actions.add_parser("up", help="start the server stack (GPU when Docker has one)")
    variant = up.add_mutually_exclusive_group()
    variant.add_argument("--gpu", dest="variant", action="store_const", const="gpu",
                         help="the NVIDIA GPU variant")
    variant.add_argument("--cpu", dest="variant", action="store_const", const="cpu",
                         help="the CPU variant (no NVIDIA runtime needed)")
    up.add_argument("--wait", action="store_true",
                    help="wait until the server is healthy, showing download progress")
    up.add_argument("--if-needed", action="store_true",
                    help="do nothing when the client uses no server on this machine or the "
                         "server already runs (what the launch script asks)")
    _add_config_flag(up)
    up.set_defaults(func=cmd_server_up)

    down = actions.add_parser("down", help="stop the server (the downloaded model is kept)")
    _add_config_flag(down)
    down.set_defaults(func=cmd_server_down)

    status = actions.add_parser("status", help="the server container's state and progress")
    _add_config_flag(status)
    status.set_defaults(func=cmd_server_status)

    logs = actions.add_parser("logs", help="the server's log")
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    logs.add_argument("-n", "--tail", type=int, default=100, metavar="LINES",
                      help="lines from the end to show first (default 100)")
    _add_config_flag(logs)
    logs.set_defaults(func=cmd_server_logs)


def _add_autostart(subparsers: Any) -> None:
    autostart = subparsers.add_parser("autostart", help="start Turbo Whisper at login")
    actions = autostart.add_subparsers(dest="autostart_action", metavar="ACTION")
    actions.required = True

    install = actions.add_parser(
        "install", help="run the launch script at login (XDG autostart and systemd user unit)")
    install.add_argument("--launcher", type=Path, metavar="SCRIPT",
                         help="the launch script (default: the checkout's "
                              "scripts/launch-turbo-whisper.sh)")
    _add_config_flag(install)
    install.set_defaults(func=cmd_autostart_install)

    remove = actions.add_parser("remove", help="stop starting Turbo Whisper at login")
    remove.set_defaults(func=cmd_autostart_remove)


def _add_config_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help="config file (TOML) to read")


def _settings(args: argparse.Namespace) -> Settings:
    from turbo_whisper.config import load_settings

    return load_settings({"config": getattr(args, "config", None)})


def _in_words(command: Command) -> Command:
    """The Docker SDK's own errors become DockerError, which main() prints as one line."""

    @functools.wraps(command)
    def run(args: argparse.Namespace) -> int:
        from turbo_whisper import container

        try:
            return command(args)
        except container.sdk_errors() as exc:
            raise container.explain_docker_error(exc) from None

    return run


def _say(status: EngineStatus) -> None:
    print(status.detail, flush=True)


# --- server ---------------------------------------------------------------------------------

@_in_words
def cmd_server_up(args: argparse.Namespace) -> int:
    from turbo_whisper import container
    from turbo_whisper.status import Phase

    settings = _settings(args)
    if args.if_needed and settings.engine != "server":
        print(f"The client uses engine = \"{settings.engine}\": no server stack is needed.")
        return 0
    if args.if_needed and not container.is_local_server(settings):
        print(f"The client uses the server at {settings.server_url}: no local stack is needed.")
        return 0
    compose_file = container.find_compose_file(settings)
    stack = container.ServerStack()
    state = stack.state()
    if state is not None and state.status == "running" and (
            args.if_needed or state.project != stack.project):
        print(f"The server container {state.name} is already running.")
        return 0
    variant = args.variant or _detect_variant(stack.client)
    chosen = container.variant_file(compose_file, variant)
    print(f"Starting the server stack: {variant.upper()} variant ({chosen}).", flush=True)
    container.compose_up(chosen, container.compose_environment(settings, os.environ))
    if not args.wait:
        state = stack.state()
        if state is not None and state.health == "healthy":
            print(f"The server container {state.name} is running and healthy.")
        else:
            print("The server starts in the background; its first start downloads the model. "
                  "`turbo-whisper server status` shows how far it has got.")
        return 0
    patience = settings.ready_timeout if settings.ready_timeout > 0 else float("inf")
    final = stack.wait_until_healthy(_say, timeout=patience)
    return 0 if final.phase is Phase.READY else EXIT_ERROR


def _detect_variant(client: Any) -> str:
    from turbo_whisper import container

    if container.has_gpu_runtime(client):
        return "gpu"
    print("Docker has no NVIDIA runtime (see `docker info`): using the CPU variant "
          "(--gpu forces the GPU one).")
    return "cpu"


@_in_words
def cmd_server_down(args: argparse.Namespace) -> int:
    from turbo_whisper import container

    state = container.ServerStack().stop()
    if state is None:
        print("There is no server container to stop.")
        return 0
    kept = f" The model cache (volume {state.cache_volume}) is kept." if state.cache_volume else ""
    print(f"Stopped the server container {state.name}.{kept}")
    return 0


@_in_words
def cmd_server_status(args: argparse.Namespace) -> int:
    """Exit 0 when the server is healthy, 3 when it is not, Docker down included."""
    from turbo_whisper import container

    errors: tuple[type[BaseException], ...] = (container.DockerError, *container.sdk_errors())
    try:
        return _server_status(container.ServerStack())
    except errors as exc:
        words = exc if isinstance(exc, container.DockerError) else \
            container.explain_docker_error(exc)
        print(f"turbo-whisper: {words}", file=sys.stderr)
        return EXIT_NOT_READY


def _server_status(stack: Any) -> int:
    from turbo_whisper import container
    from turbo_whisper.status import Phase

    state = stack.state()
    if state is None:
        print("There is no Turbo Whisper server container: start it with "
              "`turbo-whisper server up`.")
        return EXIT_NOT_READY
    print(f"Container: {state.name} (image {state.image}, project {state.project})")
    health = f", health: {state.health}" if state.health else ", no healthcheck"
    print(f"State: {state.status}{health}")
    if state.cache_volume:
        size = stack.cache_bytes()
        shown = f", {container.format_bytes(size)}" if size is not None else ""
        print(f"Model cache: volume {state.cache_volume} at {state.cache_path}{shown}")
    status = stack.engine_status(sample_seconds=0.0 if state.health == "healthy" else 1.0)
    print(status.detail)
    return 0 if status.phase is Phase.READY else EXIT_NOT_READY


@_in_words
def cmd_server_logs(args: argparse.Namespace) -> int:
    from turbo_whisper import container

    stack = container.ServerStack()
    try:
        for text in stack.logs(follow=args.follow, tail=args.tail):
            sys.stdout.write(text)
            sys.stdout.flush()
    except KeyboardInterrupt:
        return 0
    return 0


# --- autostart ------------------------------------------------------------------------------

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
        "\n"
        "[Service]\n"
        "Type=simple\n"
        f"ExecStart={systemd_exec_argument(str(launcher))} --foreground\n"
        "Restart=on-failure\n"
        "RestartSec=10\n"
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


@_in_words
def cmd_autostart_install(args: argparse.Namespace) -> int:
    from turbo_whisper import container

    launcher = args.launcher or container.find_launcher(_settings(args))
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


@_in_words
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
