"""The Docker side of the server stack: find the compose service's container, start and stop
it, read its state and logs, and tell how far the first model download has got.

State, logs, stop and progress go through the Docker SDK; bringing the stack up runs
`docker compose` (or `docker-compose` 1.29), since the SDK has no compose. The `docker`
package is imported inside functions so that commands which never touch Docker start at once.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from turbo_whisper.config import CPU_MODEL, DEFAULT_MODEL, Settings
from turbo_whisper.errors import ConfigError, DockerError, TurboWhisperError
from turbo_whisper.status import EngineStatus, Phase, StatusCallback

PROJECT = "turbo-whisper"
SERVICE = "whisper-server"
COMPOSE_FILE_NAME = "docker-compose.turbo-whisper.yml"
LAUNCHER = Path("scripts") / "launch-turbo-whisper.sh"
# Written into the virtual environment by the launch script: the checkout it installed from.
CHECKOUT_MARKER = "turbo-whisper-checkout"
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}

GROUP_HINT = (
    "add yourself to the docker group: sudo usermod -aG docker $USER, then log out and in"
)


# --- connecting ---------------------------------------------------------------------------

def _os_error_in(exc: BaseException) -> OSError | None:
    """The operating-system error at the root of a docker/requests/urllib3 error chain."""
    seen: set[int] = set()
    todo: list[Any] = [exc]
    while todo:
        item = todo.pop(0)
        if not isinstance(item, BaseException) or id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, OSError) and item.errno is not None:
            return item
        todo.extend([item.__cause__, item.__context__, *item.args])
    return None


def _engine_address(environ: Mapping[str, str]) -> str:
    return environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


def _docker_installed() -> bool:
    return any(shutil.which(name) for name in ("dockerd", "docker"))


def explain_connection_error(exc: BaseException,
                             environ: Mapping[str, str] | None = None) -> DockerError:
    """Turn a failure to reach the Docker Engine into a message a person can act on."""
    environ = os.environ if environ is None else environ
    address = _engine_address(environ)
    cause = _os_error_in(exc)
    words = str(exc)
    if isinstance(cause, PermissionError) or "Permission denied" in words:
        return DockerError(
            f"Docker refused access to {address} (permission denied): {GROUP_HINT}."
        )
    missing = isinstance(cause, FileNotFoundError) or "No such file" in words
    refused = isinstance(cause, ConnectionRefusedError) or "Connection refused" in words
    if missing and not _docker_installed():
        return DockerError(
            "Docker is not installed (no Docker Engine at "
            f"{address}): install it (Debian/Ubuntu: sudo apt install docker.io "
            "docker-compose), or use a remote server (setting 'server_url') or the embedded "
            "engine (engine = \"local\")."
        )
    if missing or refused:
        return DockerError(
            f"The Docker Engine is not running (nothing answers at {address}): start it with "
            "sudo systemctl start docker (and enable it for the next boots: "
            "sudo systemctl enable docker)."
        )
    return DockerError(f"The Docker Engine at {address} cannot be reached: {words}")


def connect(timeout: int = 30) -> Any:
    """A Docker SDK client that has answered a ping; DockerError in words otherwise."""
    try:
        import docker
        import docker.errors
    except ImportError:
        raise DockerError(
            "The Docker SDK for Python is missing from this installation: "
            "pip install docker (or run the launch script again, which installs it)."
        ) from None
    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
    except docker.errors.DockerException as exc:
        raise explain_connection_error(exc) from exc
    return client


def has_gpu_runtime(client: Any) -> bool:
    """Whether the Engine can give a container an NVIDIA GPU (runtime or toolkit hook)."""
    runtimes = client.info().get("Runtimes") or {}
    return "nvidia" in runtimes or shutil.which("nvidia-container-runtime-hook") is not None


# --- the compose files --------------------------------------------------------------------

def _checkout_candidates() -> Iterator[Path]:
    marker = Path(sys.prefix) / CHECKOUT_MARKER
    if marker.is_file():
        yield Path(marker.read_text(encoding="utf-8").strip())
    yield Path(__file__).resolve().parent.parent  # a source checkout or editable install
    yield Path.cwd()


def find_compose_file(settings: Settings) -> Path:
    """The GPU compose file: setting 'compose_file', else the checkout this came from."""
    if settings.compose_file is not None:
        if not settings.compose_file.is_file():
            raise ConfigError(
                f"Setting 'compose_file' names {settings.compose_file}, which does not exist."
            )
        return settings.compose_file
    for folder in _checkout_candidates():
        if (folder / COMPOSE_FILE_NAME).is_file():
            return folder / COMPOSE_FILE_NAME
    raise DockerError(
        f"Cannot find {COMPOSE_FILE_NAME}: set 'compose_file' (or TURBO_WHISPER_COMPOSE_FILE) "
        "to its path in your Turbo Whisper checkout."
    )


def variant_file(compose_file: Path, variant: str) -> Path:
    """The compose file of a variant: the file itself for "gpu", its .cpu sibling for "cpu"."""
    if variant == "gpu":
        return compose_file
    cpu_file = compose_file.with_name(f"{compose_file.stem}.cpu{compose_file.suffix}")
    if not cpu_file.is_file():
        raise DockerError(f"The CPU variant {cpu_file} is missing beside {compose_file}.")
    return cpu_file


def find_launcher(settings: Settings) -> Path:
    """The launch script of the checkout that holds the compose file."""
    launcher = find_compose_file(settings).parent / LAUNCHER
    if not launcher.is_file():
        raise DockerError(f"The launch script {launcher} is missing; pass its path instead.")
    return launcher


def is_local_server(settings: Settings) -> bool:
    return urlsplit(settings.server_url).hostname in LOOPBACK_HOSTS


def compose_environment(settings: Settings, environ: Mapping[str, str]) -> dict[str, str]:
    """The environment for compose: the server gets the client's port, and its model when
    the user set one; else each variant's file chooses (large-v3 on a GPU, small on a CPU)."""
    env = dict(environ)
    if "model" in settings.given:
        env["TURBO_WHISPER_MODEL"] = settings.model
    port = urlsplit(settings.server_url).port
    if "TURBO_WHISPER_PORT" not in environ and is_local_server(settings) and port:
        env["TURBO_WHISPER_PORT"] = str(port)
    return env


def compose_command() -> list[str]:
    """`docker compose` (v2) where the plugin is there, else `docker-compose` (v1)."""
    docker = shutil.which("docker")
    if docker is not None:
        probe = subprocess.run([docker, "compose", "version"], capture_output=True, check=False)
        if probe.returncode == 0:
            return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    if legacy is not None:
        return [legacy]
    raise DockerError(
        "Docker Compose is not installed (neither `docker compose` nor `docker-compose`): "
        "install it (Debian/Ubuntu: sudo apt install docker-compose)."
    )


def compose_up(compose_file: Path, env: Mapping[str, str], project: str = PROJECT) -> None:
    """Create or update the stack and start it in the background; returns once it started."""
    command = [*compose_command(), "-p", project, "-f", str(compose_file), "up", "-d"]
    # The compose file's folder is the working directory, so a .env file beside it counts.
    result = subprocess.run(command, env=dict(env), cwd=compose_file.parent, check=False)
    if result.returncode != 0:
        raise DockerError(
            f"`{' '.join(command)}` failed (exit code {result.returncode}); "
            "its messages are above."
        )


def stack_model(container_model: str | None, gpu: bool | None) -> str | None:
    """The model the local stack serves when the user set none: the container's own, else
    the default of the variant Docker can run; None when Docker cannot tell."""
    if container_model:
        return container_model
    if gpu is None:
        return None
    return DEFAULT_MODEL if gpu else CPU_MODEL


def with_stack_model(settings: Settings) -> Settings:
    """The settings with the model the local server stack runs, unless the user set one."""
    if "model" in settings.given or settings.engine != "server" or not is_local_server(settings):
        return settings
    try:
        client = connect(timeout=5)
    except DockerError:
        return settings
    try:
        container = ServerStack(client).find()
        env = container_environment(container.attrs) if container is not None else {}
        gpu = None if env else has_gpu_runtime(client)
    except sdk_errors():
        return settings
    finally:
        client.close()
    model = stack_model(env.get("WHISPER__MODEL"), gpu)
    return replace(settings, model=model) if model else settings


def container_environment(attrs: Mapping[str, Any]) -> dict[str, str]:
    """A container's environment variables, from its inspect data."""
    pairs = (item.partition("=") for item in (attrs.get("Config") or {}).get("Env") or [])
    return {name: value for name, _, value in pairs}


def is_large_model(model: str) -> bool:
    return "large" in model.rsplit("/", 1)[-1].lower()


# --- the container ------------------------------------------------------------------------

@dataclass(frozen=True)
class ContainerState:
    name: str
    project: str
    image: str
    status: str  # created, running, restarting, paused, exited, dead
    health: str | None  # starting, healthy, unhealthy; None without a healthcheck
    exit_code: int
    cache_volume: str | None
    cache_path: str | None
    health_output: str = ""

    @classmethod
    def from_attrs(cls, attrs: Mapping[str, Any]) -> ContainerState:
        state = attrs.get("State") or {}
        labels = (attrs.get("Config") or {}).get("Labels") or {}
        health = state.get("Health") or {}
        checks = health.get("Log") or []
        volume = _cache_mount(attrs.get("Mounts") or [])
        return cls(
            name=str(attrs.get("Name", "")).lstrip("/"),
            project=labels.get("com.docker.compose.project", ""),
            image=(attrs.get("Config") or {}).get("Image", ""),
            status=state.get("Status", "unknown"),
            health=health.get("Status"),
            exit_code=int(state.get("ExitCode") or 0),
            cache_volume=volume.get("Name") if volume else None,
            cache_path=volume.get("Destination") if volume else None,
            health_output=str(checks[-1].get("Output", "")).strip() if checks else "",
        )


def _cache_mount(mounts: list[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    volumes = [m for m in mounts if m.get("Type") == "volume"]
    named = [m for m in volumes if str(m.get("Name", "")).endswith("_models")]
    found = named or volumes
    return found[0] if found else None


def format_bytes(count: float) -> str:
    """A byte count the way a person reads it: 950 B, 12.3 MB, 3.1 GB."""
    if count < 1000:
        return f"{count:.0f} B"
    units = ["kB", "MB", "GB"]
    count /= 1000
    while count >= 1000 and len(units) > 1:
        count /= 1000
        units.pop(0)
    return f"{count:.1f} {units[0]}"


def last_log_line(text: str) -> str:
    """The last thing a log says, as a progress bar shows it after its last carriage return."""
    for line in reversed(text.splitlines()):
        shown = line.split("\r")[-1].strip()
        if shown:
            return shown[:200]
    return ""


class ServerStack:
    """The whisper-server container of the compose project, through the Docker SDK."""

    def __init__(self, client: Any = None, project: str = PROJECT, service: str = SERVICE):
        self._client = client
        self.project = project
        self.service = service
        self._last_sample: tuple[int, float] | None = None

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = connect()
        return self._client

    def find(self) -> Any | None:
        """Our project's container; else a hand-started one from our compose file."""
        label = f"com.docker.compose.service={self.service}"
        ours = self.client.containers.list(
            all=True, filters={"label": [label, f"com.docker.compose.project={self.project}"]}
        )
        if ours:
            return ours[0]
        for container in self.client.containers.list(all=True, filters={"label": label}):
            files = container.labels.get("com.docker.compose.project.config_files", "")
            if "docker-compose.turbo-whisper" in files:
                return container
        return None

    def state(self) -> ContainerState | None:
        container = self.find()
        return None if container is None else ContainerState.from_attrs(container.attrs)

    def stop(self, timeout: int = 20) -> ContainerState | None:
        """Stop the container; the model cache volume stays. None when there is none."""
        container = self.find()
        if container is None:
            return None
        container.stop(timeout=timeout)
        container.reload()
        return ContainerState.from_attrs(container.attrs)

    def logs(self, follow: bool = False, tail: int | str = 100) -> Iterator[str]:
        container = self._require()
        if not follow:
            yield container.logs(tail=tail).decode("utf-8", "replace")
            return
        for chunk in container.logs(stream=True, follow=True, tail=tail):
            yield chunk.decode("utf-8", "replace")

    def cache_bytes(self, container: Any = None) -> int | None:
        """Bytes in the model cache volume, measured inside the running container."""
        container = container or self.find()
        if container is None:
            return None
        state = ContainerState.from_attrs(container.attrs)
        if state.status != "running" or not state.cache_path:
            return None
        import docker.errors

        try:
            code, output = container.exec_run(["du", "-sk", state.cache_path])
        except docker.errors.APIError:
            return None
        words = output.decode("utf-8", "replace").split()
        if code != 0 or not words or not words[0].isdigit():
            return None
        return int(words[0]) * 1024

    def engine_status(self, sample_seconds: float = 0.0) -> EngineStatus:
        """What the server container is doing, in words; downloads show bytes so far."""
        container = self.find()
        if container is None:
            return EngineStatus(
                Phase.FAILED,
                "There is no Turbo Whisper server container: start it with "
                "`turbo-whisper server up`.",
            )
        state = ContainerState.from_attrs(container.attrs)
        if state.status != "running":
            return self._not_running(container, state)
        if state.health == "healthy":
            return EngineStatus(Phase.READY, f"The server container {state.name} is healthy.")
        return self._starting(container, state, sample_seconds)

    def _not_running(self, container: Any, state: ContainerState) -> EngineStatus:
        if state.status in ("created", "restarting"):
            return EngineStatus(Phase.STARTING, f"The server container {state.name} is starting.")
        said = last_log_line(container.logs(tail=20).decode("utf-8", "replace"))
        return EngineStatus(
            Phase.FAILED,
            f"The server container {state.name} is {state.status} (exit code "
            f"{state.exit_code})" + (f"; its last words: {said}" if said else "")
            + ". Start it with `turbo-whisper server up`.",
        )

    def _starting(self, container: Any, state: ContainerState,
                  sample_seconds: float) -> EngineStatus:
        growth = self._growth(container, sample_seconds)
        if growth is not None and growth[1] > 0:
            size, rate = growth
            return EngineStatus(
                Phase.DOWNLOADING,
                f"The server is downloading its model: {format_bytes(size)} so far "
                f"({format_bytes(rate)}/s).",
            )
        cached = f" (model cache: {format_bytes(growth[0])})" if growth else ""
        said = last_log_line(container.logs(tail=20).decode("utf-8", "replace"))
        if state.health == "unhealthy":
            return EngineStatus(
                Phase.FAILED,
                f"The server container {state.name} fails its health check{cached}: "
                f"{state.health_output or said or 'no output'}. "
                "See `turbo-whisper server logs`.",
            )
        return EngineStatus(
            Phase.STARTING,
            f"The server container {state.name} is starting{cached}"
            + (f"; it says: {said}" if said else "") + ".",
        )

    def _growth(self, container: Any, sample_seconds: float) -> tuple[int, float] | None:
        """Cache bytes now and their growth per second since the previous sample."""
        if self._last_sample is None and sample_seconds > 0:
            self._sample(container)
            time.sleep(sample_seconds)
        previous = self._last_sample
        current = self._sample(container)
        if current is None:
            return None
        if previous is None or current[1] <= previous[1]:
            return current[0], 0.0
        return current[0], max(0.0, (current[0] - previous[0]) / (current[1] - previous[1]))

    def _sample(self, container: Any) -> tuple[int, float] | None:
        size = self.cache_bytes(container)
        self._last_sample = None if size is None else (size, time.monotonic())
        return self._last_sample

    def wait_until_healthy(self, on_status: StatusCallback, timeout: float,
                           poll_seconds: float = 2.0) -> EngineStatus:
        """Poll until the container is healthy, is gone or stopped, or the time is up."""
        deadline = time.monotonic() + timeout
        said: EngineStatus | None = None
        while True:
            status = self.engine_status(sample_seconds=min(1.0, poll_seconds))
            if status != said:
                on_status(status)
                said = status
            state = self.state()
            over = state is None or state.status in ("exited", "dead")
            if status.phase is Phase.READY or over or time.monotonic() >= deadline:
                return status
            time.sleep(poll_seconds)

    def _require(self) -> Any:
        container = self.find()
        if container is None:
            raise DockerError(
                "There is no Turbo Whisper server container: create it with "
                "`turbo-whisper server up`."
            )
        return container


def explain_docker_error(exc: BaseException) -> DockerError:
    """Words for an SDK error met after connecting: an API refusal or a lost Engine."""
    explanation = getattr(exc, "explanation", None)
    if explanation:
        return DockerError(f"The Docker Engine refused: {explanation}")
    return explain_connection_error(exc)


def sdk_errors() -> tuple[type[BaseException], ...]:
    """The exception types the Docker SDK raises (its own and its HTTP library's)."""
    try:
        import docker.errors
        import requests
    except ImportError:
        return ()
    return (docker.errors.DockerException, requests.RequestException)


def container_status(stack: ServerStack | None = None) -> EngineStatus | None:
    """The container's status for the client's own display; None when Docker cannot say."""
    errors: tuple[type[BaseException], ...] = (TurboWhisperError, *sdk_errors())
    try:
        return (stack or ServerStack()).engine_status()
    except errors:
        return None
