"""container.py: the words for each way Docker can be unusable, and the status it reads.

Missing and refusing sockets are real (a path with nothing behind it, a bound socket nobody
listens on); permission denied is an error chain shaped like the SDK's own, since a unit
test runs as one user. The Docker tier checks permission against a real Engine.
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import docker.errors
import pytest
import requests
import urllib3.exceptions

from turbo_whisper import container
from turbo_whisper.config import CPU_MODEL, DEFAULT_MODEL, Settings, load_settings
from turbo_whisper.container import (
    ContainerState,
    ServerStack,
    compose_environment,
    explain_connection_error,
    find_compose_file,
    format_bytes,
    last_log_line,
    stack_model,
    variant_file,
)
from turbo_whisper.errors import ConfigError, DockerError
from turbo_whisper.status import Phase

CHECKOUT = Path(__file__).resolve().parents[2]


def sdk_error(cause: OSError) -> docker.errors.DockerException:
    """The chain docker-py builds when the socket fails: DockerException <- requests <- urllib3."""
    protocol = urllib3.exceptions.ProtocolError("Connection aborted.", cause)
    connection = requests.exceptions.ConnectionError(protocol)
    try:
        try:
            raise connection
        except requests.exceptions.ConnectionError as exc:
            raise docker.errors.DockerException(
                f"Error while fetching server API version: {protocol.args}") from exc
    except docker.errors.DockerException as exc:
        return exc


def test_permission_denied_says_to_join_the_docker_group():
    error = explain_connection_error(sdk_error(PermissionError(13, "Permission denied")),
                                     environ={})
    assert isinstance(error, DockerError)
    assert "permission denied" in str(error)
    assert "sudo usermod -aG docker $USER, then log out and in" in str(error)
    assert "/var/run/docker.sock" in str(error)


def test_missing_socket_with_docker_installed_says_not_running(monkeypatch, tmp_path):
    monkeypatch.setattr(container.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/nothing.sock")
    with pytest.raises(DockerError) as caught:
        container.connect(timeout=5)
    assert "not running" in str(caught.value)
    assert "sudo systemctl start docker" in str(caught.value)
    assert str(tmp_path) in str(caught.value)


def test_missing_socket_without_docker_says_not_installed(monkeypatch, tmp_path):
    monkeypatch.setattr(container.shutil, "which", lambda name: None)
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/nothing.sock")
    with pytest.raises(DockerError) as caught:
        container.connect(timeout=5)
    assert "Docker is not installed" in str(caught.value)
    assert "apt install docker.io" in str(caught.value)
    assert 'engine = "local"' in str(caught.value)


def test_refused_connection_says_not_running(monkeypatch, tmp_path):
    path = tmp_path / "refusing.sock"
    bound = socket.socket(socket.AF_UNIX)
    bound.bind(str(path))  # bound but never listening: connecting is refused
    try:
        monkeypatch.setenv("DOCKER_HOST", f"unix://{path}")
        with pytest.raises(DockerError) as caught:
            container.connect(timeout=5)
    finally:
        bound.close()
    assert "not running" in str(caught.value)


def test_missing_sdk_gives_an_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "docker", None)
    with pytest.raises(DockerError) as caught:
        container.connect()
    assert "Docker SDK for Python is missing" in str(caught.value)
    assert "pip install docker" in str(caught.value)


def test_the_four_messages_are_distinct(monkeypatch):
    monkeypatch.setattr(container.shutil, "which", lambda name: None)
    words = {
        str(explain_connection_error(sdk_error(error), environ={}))
        for error in (PermissionError(13, "Permission denied"),
                      FileNotFoundError(2, "No such file or directory"))
    }
    monkeypatch.setattr(container.shutil, "which", lambda name: "/usr/bin/docker")
    words.add(str(explain_connection_error(sdk_error(ConnectionRefusedError(111, "refused")),
                                           environ={})))
    assert len(words) == 3


def test_api_refusal_keeps_the_engine_explanation():
    response = requests.Response()
    response.status_code = 409
    error = docker.errors.APIError("409 Client Error", response, explanation="port is taken")
    assert "port is taken" in str(container.explain_docker_error(error))


# --- compose files and environment -----------------------------------------------------------

def test_compose_file_found_in_the_checkout(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    found = find_compose_file(Settings())
    assert found == CHECKOUT / "docker-compose.turbo-whisper.yml"
    assert variant_file(found, "cpu") == CHECKOUT / "docker-compose.turbo-whisper.cpu.yml"
    assert variant_file(found, "gpu") == found


def test_compose_file_setting_must_exist(tmp_path):
    with pytest.raises(ConfigError, match="compose_file"):
        find_compose_file(Settings(compose_file=tmp_path / "missing.yml"))


def test_missing_cpu_variant_is_named(tmp_path):
    gpu = tmp_path / "stack.yml"
    gpu.write_text("services: {}\n")
    with pytest.raises(DockerError, match="stack.cpu.yml"):
        variant_file(gpu, "cpu")


def test_compose_gets_the_clients_model_when_the_user_set_it_and_the_port():
    settings = load_settings({"server_url": "http://127.0.0.1:8123",
                              "model": "Systran/faster-whisper-medium"}, environ={})
    env = compose_environment(settings, {"PATH": "/bin"})
    assert env["TURBO_WHISPER_MODEL"] == "Systran/faster-whisper-medium"
    assert env["TURBO_WHISPER_PORT"] == "8123"
    assert env["PATH"] == "/bin"


def test_without_a_model_of_the_users_each_compose_file_chooses_its_own():
    settings = load_settings({"server_url": "http://127.0.0.1:8123"}, environ={})
    assert "TURBO_WHISPER_MODEL" not in compose_environment(settings, {"PATH": "/bin"})


@pytest.mark.parametrize(("container_model", "gpu", "expected"), [
    ("Systran/faster-whisper-medium", None, "Systran/faster-whisper-medium"),  # it runs
    (None, True, DEFAULT_MODEL),
    (None, False, CPU_MODEL),
    (None, None, None),  # Docker cannot tell: the default stays
])
def test_the_stacks_model_comes_from_its_container_else_from_its_variant(
        container_model, gpu, expected):
    assert stack_model(container_model, gpu) == expected


def test_a_model_the_user_set_is_never_replaced(monkeypatch, tmp_path):
    monkeypatch.setattr(container, "connect", lambda timeout: pytest.fail("asked Docker"))
    settings = load_settings({"model": "Systran/faster-whisper-large-v3"}, environ={})
    assert container.with_stack_model(settings).model == "Systran/faster-whisper-large-v3"
    remote = load_settings({"server_url": "http://gpu-box.lan:8000"}, environ={})
    assert container.with_stack_model(remote) == remote


def test_without_docker_the_default_model_stays(monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/nothing.sock")
    settings = load_settings({}, environ={})
    assert container.with_stack_model(settings).model == DEFAULT_MODEL


def test_large_models_are_told_apart():
    assert [container.is_large_model(m) for m in (
        "Systran/faster-whisper-large-v3", "deepdml/faster-whisper-large-v3-turbo-ct2",
        "Systran/faster-whisper-small", "base.en")] == [True, True, False, False]


def test_an_explicit_port_or_a_remote_server_leaves_the_port_alone():
    settings = Settings(server_url="http://127.0.0.1:8123")
    assert compose_environment(settings, {"TURBO_WHISPER_PORT": "9000"})[
        "TURBO_WHISPER_PORT"] == "9000"
    remote = Settings(server_url="http://gpu-box.lan:8000")
    assert "TURBO_WHISPER_PORT" not in compose_environment(remote, {})


# --- reading a container ------------------------------------------------------------------------

def inspect(status="running", health="starting", exit_code=0, checks=()):
    """The parts of `docker inspect` output that container.py reads."""
    state = {"Status": status, "ExitCode": exit_code}
    if health is not None:
        state["Health"] = {"Status": health, "Log": [{"Output": o} for o in checks]}
    return {
        "Name": "/turbo-whisper-whisper-server-1",
        "Config": {"Image": "fedirz/faster-whisper-server:latest-cuda",
                   "Labels": {"com.docker.compose.project": "turbo-whisper",
                              "com.docker.compose.service": "whisper-server"}},
        "State": state,
        "Mounts": [
            {"Type": "bind", "Source": "/etc/hosts", "Destination": "/etc/hosts"},
            {"Type": "volume", "Name": "turbo-whisper_models",
             "Destination": "/root/.cache/huggingface/hub"},
        ],
    }


def test_state_from_inspect_output():
    state = ContainerState.from_attrs(inspect(checks=["curl: (7) refused", "still refused"]))
    assert state.name == "turbo-whisper-whisper-server-1"
    assert state.project == "turbo-whisper"
    assert (state.status, state.health) == ("running", "starting")
    assert state.cache_volume == "turbo-whisper_models"
    assert state.cache_path == "/root/.cache/huggingface/hub"
    assert state.health_output == "still refused"


class FakeContainer:
    """Answers like docker-py's Container for the calls engine_status makes."""

    def __init__(self, attrs, sizes=(), log=b""):
        self.attrs = attrs
        self.labels = attrs["Config"]["Labels"]
        self._sizes = list(sizes)
        self._log = log

    def exec_run(self, command):
        assert command[:2] == ["du", "-sk"]
        kib = self._sizes.pop(0) if len(self._sizes) > 1 else self._sizes[0]
        return 0, f"{kib}\t{command[2]}\n".encode()

    def logs(self, tail=None, **_):
        return self._log


class FakeContainers:
    def __init__(self, found):
        self.found = found

    def list(self, all=False, filters=None):
        return [self.found] if self.found is not None else []


class FakeClient:
    def __init__(self, found):
        self.containers = FakeContainers(found)


def stack_with(found) -> ServerStack:
    return ServerStack(client=FakeClient(found))


def test_a_growing_cache_reads_as_a_download_with_bytes_so_far():
    found = FakeContainer(inspect(), sizes=[1_000_000, 1_050_000])
    status = stack_with(found).engine_status(sample_seconds=0.05)
    assert status.phase is Phase.DOWNLOADING
    assert "1.1 GB so far" in status.detail


def test_a_still_cache_while_starting_reads_as_starting_with_its_size():
    found = FakeContainer(inspect(), sizes=[2_000], log=b"INFO: Loading model\n")
    status = stack_with(found).engine_status(sample_seconds=0.01)
    assert status.phase is Phase.STARTING
    assert "2.0 MB" in status.detail and "Loading model" in status.detail


def test_healthy_is_ready_and_exited_is_failed_with_its_last_words():
    assert stack_with(FakeContainer(inspect(health="healthy"))).engine_status().phase \
        is Phase.READY
    gone = FakeContainer(inspect(status="exited", health="unhealthy", exit_code=3),
                         log=b"Traceback...\nRuntimeError: CUDA driver version is too old\n")
    status = stack_with(gone).engine_status()
    assert status.phase is Phase.FAILED
    assert "exit code 3" in status.detail and "CUDA driver" in status.detail


def test_no_container_says_how_to_create_it():
    status = stack_with(None).engine_status()
    assert status.phase is Phase.FAILED
    assert "turbo-whisper server up" in status.detail


def test_unhealthy_and_not_downloading_shows_the_health_check_output():
    found = FakeContainer(inspect(health="unhealthy", checks=["HTTP Error 500"]), sizes=[10])
    status = stack_with(found).engine_status(sample_seconds=0.01)
    assert status.phase is Phase.FAILED
    assert "HTTP Error 500" in status.detail


def test_container_status_is_none_when_docker_cannot_say(monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/nothing.sock")
    assert container.container_status() is None


def test_bytes_and_log_lines_for_people():
    assert [format_bytes(n) for n in (0, 999, 1500, 12_300_000, 3_090_000_000)] == [
        "0 B", "999 B", "1.5 kB", "12.3 MB", "3.1 GB"]
    bar = "Fetching 4 files:  25%|##5 | 1/4\rFetching 4 files:  50%|#####  | 2/4\r\n\n"
    assert last_log_line(bar) == "Fetching 4 files:  50%|#####  | 2/4"
    assert last_log_line("") == ""


def test_server_status_with_docker_down_says_so_and_exits_3(monkeypatch, tmp_path, capsys):
    from turbo_whisper.cli import main

    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/nothing.sock")
    assert main(["server", "status"]) == 3
    said = capsys.readouterr().err
    assert said.startswith("turbo-whisper: ") and "Docker" in said and "Traceback" not in said
