"""Tier 3: the README's set-up command on a fresh Debian desktop, as its user, then a dictation.

The container is a fresh Debian 12 (debootstrap, see conftest.py) with Debian's python3, sudo
and a user, and nothing else: no compiler, no pip, no python3-venv, no Python package of
ours. The user runs `./scripts/launch-turbo-whisper.sh` in a copy of this checkout, as the
README says; it installs the system packages with sudo and the Python packages from PyPI.

Two things come from the host, as on any machine of this network: the container shares the
host's network (the only way a container here reaches Debian's archive and PyPI), and the
host's CA bundle (this network's TLS proxy signs with its own authority). The server it
dictates to is the loopback test server on the host, reached through that shared network.
The tests share one container and run in file order.
"""

from __future__ import annotations

import io
import subprocess
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.docker

CHECKOUT = Path(__file__).resolve().parents[2]
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


def checkout_files() -> list[str]:
    """The checkout's files as a clone has them: tracked and new, nothing ignored."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"],
                            cwd=CHECKOUT, capture_output=True, check=True, timeout=60)
    return [name for name in listed.stdout.decode().split("\0")
            if name and (CHECKOUT / name).is_file()]


def archive(files: dict[str, bytes | Path], uid: int) -> bytes:
    """A tar of the given files, owned by the desktop user."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, content in files.items():
            data = content.read_bytes() if isinstance(content, Path) else content
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.uid = info.gid = uid
            info.mode = 0o755 if isinstance(content, Path) and content.stat().st_mode & 0o100 \
                else 0o644
            info.mtime = int(time.time())
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@dataclass
class FreshDesktop:
    container: Any
    image: Any  # the conftest's DesktopImage
    server_url: str

    @property
    def home(self) -> str:
        return f"/home/{self.image.user}"

    @property
    def sources(self) -> str:
        return f"{self.home}/turbo-whisper"

    @property
    def runtime(self) -> str:
        return f"/run/user/{self.image.uid}"

    @property
    def client(self) -> str:
        return f"{self.home}/.local/bin/turbo-whisper"

    def run(self, command: str, timeout: float = 600,
            env: dict[str, str] | None = None) -> tuple[int, str, str]:
        """A shell command as the desktop user in a login-like environment."""
        environment = {
            "HOME": self.home, "USER": self.image.user, "LANG": "C.UTF-8",
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "XDG_RUNTIME_DIR": self.runtime,
            "TURBO_WHISPER_SERVER_URL": self.server_url,
            **(env or {}),
        }
        wrapped = ["timeout", str(int(timeout)), "bash", "-c", command]
        code, (out, err) = self.container.exec_run(wrapped, user=self.image.user,
                                                   workdir=self.sources,
                                                   environment=environment, demux=True)
        return code, (out or b"").decode(errors="replace"), (err or b"").decode(errors="replace")

    def root(self, command: str) -> str:
        code, (out, err) = self.container.exec_run(["bash", "-c", command], demux=True)
        assert code == 0, (out or b"") + (err or b"")
        return (out or b"").decode()

    def put(self, folder: str, files: dict[str, bytes | Path]) -> None:
        assert self.container.put_archive(folder, archive(files, self.image.uid))

    def launch(self, *args: str, **env: str) -> tuple[int, str]:
        code, out, err = self.run(" ".join(["./scripts/launch-turbo-whisper.sh", *args]), env=env)
        return code, out + err


@pytest.fixture(scope="module")
def fresh(docker_engine: Any, desktop_image: Any, warm_server: Any) -> Iterator[FreshDesktop]:
    container = docker_engine.client.containers.run(
        desktop_image.tag, ["sleep", "infinity"], detach=True, network_mode="host",
        volumes={CA_BUNDLE: {"bind": CA_BUNDLE, "mode": "ro"}},
    )
    try:
        desktop = FreshDesktop(container, desktop_image, warm_server.url)
        owner = f"-o {desktop_image.user} -g {desktop_image.user}"
        desktop.root(f"install -d -m 0700 {owner} {desktop.runtime}"
                     f" && install -d {owner} {desktop.sources}")
        desktop.put(desktop.sources, {name: CHECKOUT / name for name in checkout_files()})
        yield desktop
    finally:
        container.remove(force=True)


def test_the_fresh_desktop_has_no_compiler_and_no_python_packages_of_ours(fresh):
    for missing in ("gcc", "cc", "pip3"):
        assert fresh.run(f"command -v {missing}")[0] != 0, f"{missing} is installed"
    for module in ("pip", "evdev", "numpy", "httpx"):
        assert fresh.run(f"python3 -c 'import {module}'")[0] != 0, f"{module} is there"
    assert fresh.run("python3 -m venv /tmp/probe")[0] != 0  # no python3-venv yet
    assert fresh.run("sudo -n true")[0] == 0


def test_the_readme_set_up_command_installs_and_starts_the_client(fresh):
    started = time.monotonic()
    code, said = fresh.launch()
    assert code == 0, said
    assert ("installing system packages: python3-venv python3-evdev libportaudio2 xclip"
            in said)
    assert "creating the virtual environment" in said
    assert "Docker is not installed" in said  # this desktop has no Docker: told, not fatal
    assert "the client runs anyway" in said
    assert "~/.local/bin is not on your PATH yet" in said
    assert "runs in the background" in said
    assert "Traceback" not in said
    # Nothing was compiled: evdev is Debian's, and still no compiler is installed.
    code, where, _ = fresh.run(f"{fresh.home}/.local/share/turbo-whisper/venv/bin/python -c "
                               "'import evdev; print(evdev.__file__)'")
    assert code == 0 and where.startswith("/usr/lib/python3/dist-packages/"), where
    assert fresh.run("command -v gcc")[0] != 0
    print(f"first launch took {time.monotonic() - started:.0f} s:\n{said}")


def test_a_dictation_goes_through_the_installed_client(fresh, speech):
    fresh.put("/tmp", {"door.wav": speech("open the door and turn on the light")})
    code, out, err = fresh.run(f"{fresh.client} transcribe /tmp/door.wav", timeout=120)
    assert code == 0, err
    assert "door" in out.lower() and "light" in out.lower()


def test_the_running_client_answers_and_a_second_launch_only_says_so(fresh):
    code, out, err = fresh.run(f"{fresh.client} status", timeout=60)
    assert code == 0, err
    assert out.startswith("Turbo Whisper is running")
    code, said = fresh.launch()
    assert code == 0 and "already running" in said, said
    assert "installing" not in said


def test_changed_sources_reinstall_offline(fresh):
    code, said = fresh.launch("--stop")
    assert code == 0 and "Stopped Turbo Whisper" in said, said
    fresh.run("echo '# a change' >> turbo_whisper/__init__.py")
    # No package index at all: only what the environment already holds may be used.
    code, said = fresh.launch("--no-server", PIP_NO_INDEX="1")
    assert code == 0, said
    assert "installing Turbo Whisper" in said
    assert "could not install" not in said  # built without isolation: nothing to fetch
    assert "runs in the background" in said
    code, out, _ = fresh.run(f"{fresh.client} pid")
    assert code == 0 and int(out) > 0


def test_a_reinstall_that_fails_starts_the_installed_client_with_a_warning(fresh):
    assert fresh.launch("--stop")[0] == 0
    # The sources now need a package this environment does not have, and there is no index.
    fresh.run("sed -i 's/^dependencies = \\[/dependencies = [\"soundfile>=0.12\", /' "
              "pyproject.toml")
    code, said = fresh.launch("--no-server", PIP_NO_INDEX="1")
    assert code == 0, said
    assert "starting the Turbo Whisper installed before" in said
    assert "runs in the background" in said
    assert fresh.run(f"{fresh.client} status", timeout=60)[0] == 0
    code, said = fresh.launch("--stop")
    assert code == 0 and "Stopped Turbo Whisper" in said, said
    assert fresh.run(f"{fresh.client} pid")[0] == 3
