"""Tier 3: the compose files, the launch script and `turbo-whisper server` on a real Engine.

The stack runs the CPU variant with the locally built test server image (no GPU and no
registry here). The launch tests share one desktop session and run in file order: launch,
healthy, transcribe, status, second launch, down, up again, stop.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.requirements import unavailable

from turbo_whisper.config import CPU_MODEL, DEFAULT_MODEL
from turbo_whisper.container import PROJECT, SERVICE, ServerStack
from turbo_whisper.status import Phase

pytestmark = pytest.mark.docker

CHECKOUT = Path(__file__).resolve().parents[2]
GPU_FILE = CHECKOUT / "docker-compose.turbo-whisper.yml"
CPU_FILE = CHECKOUT / "docker-compose.turbo-whisper.cpu.yml"
LAUNCHER = CHECKOUT / "scripts" / "launch-turbo-whisper.sh"
VOLUME = f"{PROJECT}_models"


def compose_commands() -> list[list[str]]:
    """docker-compose 1.29, and `docker compose` v2 where its plugin is installed."""
    commands = []
    if shutil.which("docker-compose"):
        commands.append(["docker-compose"])
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True,
                                 check=False).returncode == 0:
        commands.append([docker, "compose"])
    return commands


def rendered(command: list[str], compose_file: Path, **env: str) -> dict:
    result = subprocess.run([*command, "-p", PROJECT, "-f", str(compose_file), "config"],
                            capture_output=True, text=True, timeout=60, check=False,
                            env={**clean_environment(), **env}, cwd=compose_file.parent)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def clean_environment() -> dict[str, str]:
    """This process's environment without anything that would steer the product."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("TURBO_WHISPER_", "XDG_", "DOCKER_"))
            and k not in ("DISPLAY", "WAYLAND_DISPLAY", "VIRTUAL_ENV", "PULSE_SERVER")}


# --- the compose files -------------------------------------------------------------------------

@pytest.fixture(scope="module", params=["v1", "v2"])
def compose(request) -> list[str]:
    """`docker-compose` 1.29 (the seed's command) and `docker compose` v2 where present."""
    if request.param == "v1":
        if shutil.which("docker-compose") is None:
            unavailable("docker-compose is not installed (apt-get install docker-compose)")
        return ["docker-compose"]
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True,
                                 check=False).returncode == 0:
        return [docker, "compose"]
    pytest.skip("`docker compose` (v2) is not installed here; docker-compose 1.29 is checked")


def published(service: dict) -> tuple[str, str]:
    """(host address, host port) of the one published port, in v1's or v2's rendering."""
    (port,) = service["ports"]
    if isinstance(port, str):  # v1: "127.0.0.1:8000:8000/tcp"
        host, host_port, _ = port.split(":")
        return host, host_port
    return port["host_ip"], str(port["published"])


def mounted(service: dict) -> tuple[str, str]:
    """(volume, path in the container) of the one mount, in v1's or v2's rendering."""
    (volume,) = service["volumes"]
    if isinstance(volume, str):  # v1: "models:/root/.cache/huggingface/hub:rw"
        source, target = volume.split(":")[:2]
        return source, target
    return volume["source"], volume["target"]


@pytest.mark.parametrize("compose_file", [GPU_FILE, CPU_FILE], ids=["gpu", "cpu"])
def test_both_variants_validate_and_publish_on_loopback_only(compose, compose_file):
    config = rendered(compose, compose_file)
    service = config["services"][SERVICE]
    assert published(service) == ("127.0.0.1", "8000")
    assert mounted(service) == ("models", "/root/.cache/huggingface/hub")
    assert "models" in config["volumes"]
    assert service["restart"] == "unless-stopped"
    env = service["environment"]
    model = DEFAULT_MODEL if compose_file == GPU_FILE else CPU_MODEL
    assert env["WHISPER__MODEL"] == model
    assert env["PRELOAD_MODELS"] == f'["{model}"]'
    assert str(env["WHISPER__TTL"]) == str(env["STT_MODEL_TTL"]) == "-1"
    assert "MODEL_NAME" not in env
    assert service["healthcheck"]["start_period"] in ("30m", "30m0s")
    assert "/health" in " ".join(service["healthcheck"]["test"])


def test_the_gpu_variant_reserves_an_nvidia_gpu_and_the_cpu_variant_does_not(compose):
    gpu = rendered(compose, GPU_FILE)["services"][SERVICE]
    devices = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia" and devices[0]["capabilities"] == ["gpu"]
    assert gpu["environment"]["WHISPER__INFERENCE_DEVICE"] == "cuda"
    cpu = rendered(compose, CPU_FILE)["services"][SERVICE]
    assert "deploy" not in cpu
    assert cpu["environment"]["WHISPER__INFERENCE_DEVICE"] == "cpu"


def test_the_two_files_stay_in_step(compose):
    gpu = rendered(compose, GPU_FILE)
    cpu = rendered(compose, CPU_FILE)
    assert gpu["volumes"] == cpu["volumes"]
    gpu_service, cpu_service = gpu["services"][SERVICE], cpu["services"][SERVICE]
    for key in ("ports", "restart", "healthcheck", "volumes"):
        assert gpu_service[key] == cpu_service[key], key
    # The CPU variant runs a model a CPU can run; the rest is the same.
    differ = {"WHISPER__INFERENCE_DEVICE", "WHISPER__COMPUTE_TYPE", "WHISPER__MODEL",
              "PRELOAD_MODELS"}
    assert {k: v for k, v in gpu_service["environment"].items() if k not in differ} == \
        {k: v for k, v in cpu_service["environment"].items() if k not in differ}


def test_image_model_port_and_cache_come_from_the_environment(compose):
    env = {"TURBO_WHISPER_SERVER_IMAGE": "ghcr.io/speaches-ai/speaches:0.9.0-cuda",
           "TURBO_WHISPER_CPU_IMAGE": "local/whisper-test:1",
           "TURBO_WHISPER_MODEL": "Systran/faster-whisper-small",
           "TURBO_WHISPER_PORT": "8123",
           "TURBO_WHISPER_CACHE_DIR": "/home/ubuntu/.cache/huggingface/hub",
           "TURBO_WHISPER_MODEL_TTL": "900"}
    gpu = rendered(compose, GPU_FILE, **env)["services"][SERVICE]
    cpu = rendered(compose, CPU_FILE, **env)["services"][SERVICE]
    assert gpu["image"] == env["TURBO_WHISPER_SERVER_IMAGE"]
    assert cpu["image"] == env["TURBO_WHISPER_CPU_IMAGE"]
    for service in (gpu, cpu):
        assert service["environment"]["PRELOAD_MODELS"] == '["Systran/faster-whisper-small"]'
        assert published(service) == ("127.0.0.1", "8123")
        assert mounted(service) == ("models", "/home/ubuntu/.cache/huggingface/hub")
        assert str(service["environment"]["STT_MODEL_TTL"]) == "900"
        assert str(service["environment"]["WHISPER__TTL"]) == "900"


# --- the launch script end to end -----------------------------------------------------------

@dataclass
class Desktop:
    """One user's session: temporary home and XDG folders, a venv, the private Engine."""

    root: Path
    env: dict[str, str]
    engine: Any  # the conftest's DockerEngine
    port: int

    @property
    def venv(self) -> Path:
        return Path(self.env["TURBO_WHISPER_VENV"])

    @property
    def log_file(self) -> Path:
        return Path(self.env["XDG_STATE_HOME"]) / "turbo-whisper" / "client.log"

    def launch(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        return subprocess.run([str(LAUNCHER), *args], env=self.env, capture_output=True,
                              text=True, timeout=timeout, check=False)

    def command(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run([str(self.venv / "bin" / "turbo-whisper"), *args], env=self.env,
                              capture_output=True, text=True, timeout=timeout, check=False)

    def client_pid(self) -> int:
        """The running client's pid, as its instance lock tells `turbo-whisper pid`."""
        result = self.command("pid", timeout=30)
        assert result.returncode == 0, result.stderr
        return int(result.stdout)

    def stack(self) -> ServerStack:
        return ServerStack(self.engine.client)


def parent_of(pid: int) -> int:
    """The parent process id, from /proc."""
    stat = Path(f"/proc/{pid}/stat").read_bytes()
    return int(stat.rsplit(b")", 1)[1].split()[1])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def desktop_environment(root: Path, engine: Any, venv: Path) -> dict[str, str]:
    home = root / "home"
    runtime = root / "run"
    for folder in (home, runtime):
        folder.mkdir(parents=True, exist_ok=True)
    runtime.chmod(0o700)
    return {
        **clean_environment(),
        "DOCKER_HOST": engine.host,
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_STATE_HOME": str(home / ".local" / "state"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_RUNTIME_DIR": str(runtime),
        "TURBO_WHISPER_VENV": str(venv),
        # The base interpreter with its packages: the first-run install stays quick.
        "TURBO_WHISPER_PYTHON": getattr(sys, "_base_executable", sys.executable),
        "TURBO_WHISPER_VENV_OPTIONS": "--system-site-packages",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }


@pytest.fixture(scope="module")
def desktop(tmp_path_factory, docker_engine: Any, server_image: str):
    root = tmp_path_factory.mktemp("desktop")
    port = free_port()
    env = desktop_environment(root, docker_engine, root / "venv")
    env["TURBO_WHISPER_CPU_IMAGE"] = server_image
    env["TURBO_WHISPER_SERVER_URL"] = f"http://127.0.0.1:{port}"
    session = Desktop(root, env, docker_engine, port)
    yield session
    session.launch("--stop", timeout=60)


def process_ends(pid: int, timeout: float = 30) -> bool:
    """Whether the process is gone; an orphan's zombie waits for this machine's init."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.2)
    return False


def wait_for_health(stack: ServerStack, timeout: float = 180) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = stack.state()
        if state is not None and state.health == "healthy":
            return state.health
        time.sleep(1)
    raise AssertionError(f"not healthy after {timeout} s: {stack.state()}")


def test_launch_installs_starts_the_client_and_brings_the_stack_up(desktop):
    started = time.monotonic()
    result = desktop.launch()
    assert result.returncode == 0, result.stdout + result.stderr
    said = result.stdout + result.stderr
    assert "creating the virtual environment" in said
    assert "CPU variant" in said  # no NVIDIA runtime here: detected, not told
    assert "runs in the background" in said
    # It returned without waiting for the server to become healthy.
    state = desktop.stack().state()
    assert state is not None and state.status == "running"
    assert state.project == PROJECT and state.cache_volume == VOLUME
    os.kill(desktop.client_pid(), 0)
    assert time.monotonic() - started < 300


def test_the_container_becomes_healthy(desktop):
    assert wait_for_health(desktop.stack()) == "healthy"
    attrs = desktop.engine.client.containers.get(desktop.stack().state().name).attrs
    bindings = attrs["HostConfig"]["PortBindings"]["8000/tcp"]
    assert bindings == [{"HostIp": "127.0.0.1", "HostPort": str(desktop.port)}]


def test_transcribe_prints_the_spoken_words(desktop, speech):
    wav = speech("open the window please")
    result = desktop.command("transcribe", str(wav))
    assert result.returncode == 0, result.stderr
    assert "window" in result.stdout.lower()


def test_the_cpu_stack_runs_a_small_model_and_the_client_asks_for_it(desktop):
    attrs = desktop.engine.client.containers.get(desktop.stack().state().name).attrs
    assert f"WHISPER__MODEL={CPU_MODEL}" in attrs["Config"]["Env"]
    # The client started before the container existed: it chose from Docker's runtimes.
    deadline = time.monotonic() + 120
    while "Ready: " not in desktop.log_file.read_text() and time.monotonic() < deadline:
        time.sleep(0.5)
    ready = [line for line in desktop.log_file.read_text().splitlines() if "Ready: " in line]
    assert ready and ready[-1].endswith(f"with {CPU_MODEL}."), ready
    doctor = desktop.command("doctor", timeout=120)
    assert "too large for a CPU" not in doctor.stdout, doctor.stdout
    assert "too large for a CPU" in desktop.command(
        "doctor", "--model", DEFAULT_MODEL, timeout=120).stdout


def test_server_status_reports_the_healthy_container(desktop):
    result = desktop.command("server", "status")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "State: running, health: healthy" in result.stdout
    assert f"Model cache: volume {VOLUME}" in result.stdout
    assert "is healthy" in result.stdout


def test_server_logs_show_the_servers_own_lines(desktop):
    result = desktop.command("server", "logs", "--tail", "50")
    assert result.returncode == 0, result.stderr
    assert "GET /health" in result.stdout or "listening" in result.stdout.lower()
    # Started as a terminal's shell starts a command, with Ctrl+C's SIGINT not ignored: a
    # test run started in the background (`&` without job control) ignores it, and children
    # inherit that.
    follower = subprocess.Popen(
        [str(desktop.venv / "bin" / "turbo-whisper"), "server", "logs", "--follow"],
        env=desktop.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        first_line = follower.stdout.readline()
        assert first_line.strip()
        assert follower.poll() is None  # still following
    finally:
        follower.send_signal(signal.SIGINT)
        follower.wait(timeout=30)


def test_a_second_launch_is_a_no_op(desktop):
    pid = desktop.client_pid()
    before = desktop.stack().find().attrs["State"]["StartedAt"]
    started = time.monotonic()
    result = desktop.launch()
    assert result.returncode == 0, result.stderr
    assert "already running" in result.stdout
    assert time.monotonic() - started < 5
    assert desktop.client_pid() == pid
    assert desktop.stack().find().attrs["State"]["StartedAt"] == before


def test_a_launched_client_killed_by_accident_is_started_again(desktop):
    """The launch script starts the client supervised: a kill -9 of the client (the process
    holding the instance lock, not its supervisor) brings a new client within seconds, which
    says so."""
    log = Path(desktop.env["XDG_STATE_HOME"]) / "turbo-whisper" / "client.log"
    first = desktop.client_pid()
    supervisor = parent_of(first)
    command_line = Path(f"/proc/{supervisor}/cmdline").read_bytes().split(b"\0")
    assert b"--supervised" in command_line, command_line
    os.kill(first, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while "restarted after a crash" not in log.read_text():
        assert time.monotonic() < deadline, log.read_text()[-2000:]
        time.sleep(0.2)
    again = desktop.client_pid()
    assert again != first and parent_of(again) == supervisor
    assert "stopped unexpectedly (killed by SIGKILL)" in log.read_text()
    status = desktop.command("status")
    assert status.returncode == 0 and "is running" in status.stdout, status.stdout


def test_down_keeps_the_model_volume_and_up_reuses_it(desktop):
    volume_created = desktop.engine.client.volumes.get(VOLUME).attrs["CreatedAt"]
    result = desktop.command("server", "down")
    assert result.returncode == 0, result.stderr
    assert f"volume {VOLUME}" in result.stdout and "kept" in result.stdout
    assert desktop.stack().state().status == "exited"
    # Even compose's own `down`, which removes the container, keeps the volume.
    removed = subprocess.run(["docker-compose", "-p", PROJECT, "-f", str(CPU_FILE), "down"],
                             env=desktop.env, capture_output=True, text=True, timeout=120)
    assert removed.returncode == 0, removed.stderr
    assert desktop.stack().state() is None
    assert desktop.engine.client.volumes.get(VOLUME).attrs["CreatedAt"] == volume_created

    result = desktop.command("server", "up", "--cpu", "--wait", timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is healthy" in result.stdout
    assert desktop.engine.client.volumes.get(VOLUME).attrs["CreatedAt"] == volume_created


def test_stop_ends_the_client(desktop):
    pid = desktop.client_pid()
    result = desktop.launch("--stop")
    assert result.returncode == 0, result.stderr
    assert f"Stopped Turbo Whisper (process {pid})" in result.stdout
    assert process_ends(pid)
    assert "not running" in desktop.launch("--stop").stdout
    assert desktop.command("pid").returncode == 3


def test_stop_ends_a_client_started_by_hand_and_a_launch_sees_it(desktop, tmp_path):
    by_hand = subprocess.Popen([str(desktop.venv / "bin" / "turbo-whisper"), "run"],
                               env=desktop.env, stdout=subprocess.DEVNULL,
                               stderr=open(tmp_path / "by-hand.log", "w"))
    try:
        deadline = time.monotonic() + 60
        while desktop.command("pid").returncode != 0 and time.monotonic() < deadline:
            assert by_hand.poll() is None, (tmp_path / "by-hand.log").read_text()
            time.sleep(0.2)
        assert desktop.client_pid() == by_hand.pid
        again = desktop.launch("--no-server")
        assert again.returncode == 0, again.stderr
        assert f"already running (process {by_hand.pid})" in again.stdout
        stopped = desktop.launch("--stop")
        assert stopped.returncode == 0, stopped.stderr
        assert f"Stopped Turbo Whisper (process {by_hand.pid})" in stopped.stdout
        assert by_hand.wait(timeout=10) == 0  # it quit cleanly, not killed
        assert "Stopping." in (tmp_path / "by-hand.log").read_text()
    finally:
        if by_hand.poll() is None:
            by_hand.kill()
            by_hand.wait()


def test_without_a_docker_engine_the_client_still_starts(desktop, tmp_path):
    env = desktop_environment(tmp_path, desktop.engine, desktop.venv)
    env["DOCKER_HOST"] = f"unix://{tmp_path}/no-engine.sock"
    lonely = Desktop(tmp_path, env, desktop.engine, desktop.port)
    try:
        result = lonely.launch()
        assert result.returncode == 0, result.stdout + result.stderr
        assert "The Docker Engine is not running" in result.stderr
        assert "the client runs anyway" in result.stderr
        assert "Traceback" not in result.stderr
        os.kill(lonely.client_pid(), 0)
    finally:
        lonely.launch("--stop", timeout=60)


def test_a_client_that_cannot_start_is_reported_with_its_own_words(desktop, tmp_path):
    env = desktop_environment(tmp_path, desktop.engine, desktop.venv)
    env["TURBO_WHISPER_MODE"] = "sideways"
    broken = Desktop(tmp_path, env, desktop.engine, desktop.port)
    result = broken.launch("--no-server")
    assert result.returncode == 1
    assert "stopped at once" in result.stderr
    assert "Setting 'mode'" in result.stderr  # the client's message, from its log
    assert broken.command("pid").returncode == 3


# --- the Docker SDK side on the real Engine ------------------------------------------------------

def test_download_progress_is_read_from_the_cache_volume(docker_engine, base_image):
    """A container that fills its cache volume like a model download, never healthy yet."""
    client = docker_engine.client
    project = "progress"
    cache = "/root/.cache/huggingface/hub"
    client.volumes.create(f"{project}_models")
    fill = f"while :; do head -c 3000000 /dev/zero >> {cache}/blob.incomplete; sleep 0.2; done"
    container = client.containers.run(
        base_image, ["sh", "-c", fill], detach=True,
        labels={"com.docker.compose.project": project, "com.docker.compose.service": SERVICE},
        volumes={f"{project}_models": {"bind": cache, "mode": "rw"}},
        healthcheck={"test": ["CMD", "false"], "interval": 60 * 10**9,
                     "start_period": 600 * 10**9},
    )
    try:
        stack = ServerStack(client, project=project)
        status = stack.engine_status(sample_seconds=1.0)
        assert status.phase is Phase.DOWNLOADING, status.detail
        assert "MB so far" in status.detail
        first = stack.cache_bytes()
        time.sleep(0.6)
        assert stack.cache_bytes() > first
        stack.stop(timeout=1)
        stopped = stack.engine_status()
        assert stopped.phase is Phase.FAILED and "exited" in stopped.detail
    finally:
        container.remove(force=True)
        client.volumes.get(f"{project}_models").remove()


def test_permission_denied_on_the_socket_names_the_docker_group(docker_engine):
    """The Engine's socket is root:docker 0660: a user outside the group is refused.

    The user `nobody` cannot read this test run's interpreter, so the check runs the
    package from a world-readable copy under Debian's python3, whose python3-docker comes
    with docker-compose.
    """
    system_python = Path("/usr/bin/python3")
    if subprocess.run([str(system_python), "-c", "import docker"], capture_output=True,
                      check=False).returncode != 0:
        unavailable("/usr/bin/python3 has no docker module (apt-get install python3-docker)")
    readable = Path(tempfile.mkdtemp(prefix="tw-nobody-"))
    try:
        shutil.copytree(CHECKOUT / "turbo_whisper", readable / "turbo_whisper",
                        ignore=shutil.ignore_patterns("__pycache__"))
        for folder in (readable, *readable.rglob("*")):
            folder.chmod(0o755 if folder.is_dir() else 0o644)
        probe = ("from turbo_whisper.container import connect\n"
                 "from turbo_whisper.errors import TurboWhisperError\n"
                 "try:\n    connect(timeout=5)\n"
                 "except TurboWhisperError as exc:\n    print(exc)\n")
        result = subprocess.run(
            [str(system_python), "-c", probe], capture_output=True, text=True, timeout=60,
            env={"PATH": "/usr/bin:/bin", "DOCKER_HOST": docker_engine.host,
                 "PYTHONPATH": str(readable), "PYTHONDONTWRITEBYTECODE": "1"},
            user=65534, group=65534, extra_groups=[], cwd="/",
        )
    finally:
        shutil.rmtree(readable, ignore_errors=True)
    assert "permission denied" in result.stdout, result.stdout + result.stderr
    assert "sudo usermod -aG docker $USER, then log out and in" in result.stdout
