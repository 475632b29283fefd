"""`turbo-whisper server up|down|status|logs`: the transcription server's Docker stack.

Only the standard library is imported here at the top: `turbo-whisper toggle` builds the same
parser and must start at once. The Docker SDK loads inside the commands that use it.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from turbo_whisper import sanitize
from turbo_whisper.errors import DockerError

if TYPE_CHECKING:
    from turbo_whisper.config import Settings
    from turbo_whisper.status import EngineStatus

EXIT_ERROR, EXIT_USAGE, EXIT_NOT_READY = 1, 2, 3

Command = Callable[[argparse.Namespace], int]


def add_parsers(subparsers: Any) -> None:
    """Register the `server` commands on the main parser's subparsers."""
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
    add_config_flag(up)
    up.set_defaults(func=cmd_server_up)

    down = actions.add_parser("down", help="stop the server (the downloaded model is kept)")
    add_config_flag(down)
    down.set_defaults(func=cmd_server_down)

    status = actions.add_parser("status", help="the server container's state and progress")
    add_config_flag(status)
    status.set_defaults(func=cmd_server_status)

    logs = actions.add_parser("logs", help="the server's log")
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    logs.add_argument("-n", "--tail", type=int, default=100, metavar="LINES",
                      help="lines from the end to show first (default 100)")
    add_config_flag(logs)
    logs.set_defaults(func=cmd_server_logs)


def add_config_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help="config file (TOML) to read")


def settings_from(args: argparse.Namespace) -> Settings:
    from turbo_whisper.config import load_settings

    return load_settings({"config": getattr(args, "config", None)})


def in_words(command: Command) -> Command:
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
    print(sanitize.shown(status.detail), flush=True)


# --- server ---------------------------------------------------------------------------------

@in_words
def cmd_server_up(args: argparse.Namespace) -> int:
    from turbo_whisper import container
    from turbo_whisper.status import Phase

    settings = settings_from(args)
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


@in_words
def cmd_server_down(args: argparse.Namespace) -> int:
    from turbo_whisper import container

    state = container.ServerStack().stop()
    if state is None:
        print("There is no server container to stop.")
        return 0
    kept = f" The model cache (volume {state.cache_volume}) is kept." if state.cache_volume else ""
    print(f"Stopped the server container {state.name}.{kept}")
    return 0


@in_words
def cmd_server_status(args: argparse.Namespace) -> int:
    """Exit 0 when the server is healthy, 3 when it is not, Docker down included."""
    from turbo_whisper import container

    errors: tuple[type[BaseException], ...] = (DockerError, *container.sdk_errors())
    try:
        return _server_status(container.ServerStack())
    except errors as exc:
        words = exc if isinstance(exc, DockerError) else \
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
    print(sanitize.shown(status.detail))
    return 0 if status.phase is Phase.READY else EXIT_NOT_READY


@in_words
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
