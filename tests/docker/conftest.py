"""Tier 3: a private Docker Engine and the locally built images the compose stack runs.

There is no image registry here, so the images are built from nothing: a Debian base made
by debootstrap, and on top of it the test transcription server (tests/support/
whisper_server.py, faster-whisper from wheels, the tiny.en model). The engine keeps its data
under TURBO_WHISPER_TEST_CACHE (default /var/cache/turbo-whisper-tests), and images are
tagged by a hash of what went into them, so later runs reuse them instead of rebuilding.

Without root, dockerd, docker-compose or debootstrap the tier is skipped with the reason,
except under CI, where that is a failure.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.metadata
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from support.requirements import require_modules, require_tools, unavailable

TESTS_DIR = Path(__file__).resolve().parent.parent
CHECKOUT = TESTS_DIR.parent
SERVER_SCRIPT = TESTS_DIR / "support" / "whisper_server.py"
CACHE = Path(os.environ.get("TURBO_WHISPER_TEST_CACHE", "/var/cache/turbo-whisper-tests"))
BASE_REPO = "turbo-whisper-test-base"
SERVER_REPO = "turbo-whisper-test-server"
BASE_SUITE = "bookworm"
BASE_PACKAGES = ("python3", "curl", "ca-certificates")
PLATFORM_FLAGS = [
    "--only-binary=:all:", "--python-version", "311", "--implementation", "cp",
    "--platform", "manylinux_2_28_x86_64", "--platform", "manylinux_2_17_x86_64",
    "--platform", "manylinux2014_x86_64",
]


def _run(command: list[str], timeout: float, **kwargs: Any) -> subprocess.CompletedProcess:
    """Run a build step; on failure, fail with the end of what it said."""
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                            check=False, **kwargs)
    if result.returncode != 0:
        said = (result.stdout + result.stderr)[-3000:]
        pytest.fail(f"`{' '.join(command)}` failed ({result.returncode}):\n{said}", pytrace=False)
    return result


def _short_hash(*parts: bytes | str) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode() if isinstance(part, str) else part)
        digest.update(b"\0")
    return digest.hexdigest()[:16]


# --- the engine -------------------------------------------------------------------------------

@dataclass
class DockerEngine:
    """A dockerd of the test session's own: its socket, its environment, an SDK client."""

    data_root: Path
    run_dir: Path
    process: subprocess.Popen | None = None
    client: Any = None
    env: dict[str, str] = field(default_factory=dict)

    @property
    def socket(self) -> Path:
        return self.run_dir / "docker.sock"

    @property
    def host(self) -> str:
        return f"unix://{self.socket}"

    @property
    def pidfile(self) -> Path:
        return self.run_dir / "dockerd.pid"

    @property
    def log(self) -> Path:
        return self.run_dir / "dockerd.log"

    def start(self, timeout: float = 60.0) -> None:
        command = [
            "dockerd", "--data-root", str(self.data_root),
            "--exec-root", str(self.run_dir / "exec"), "--pidfile", str(self.pidfile),
            "-H", self.host,
            # Never share a containerd namespace with another engine on this machine.
            "--containerd-namespace", "turbo-whisper-tests",
            "--containerd-plugins-namespace", "turbo-whisper-tests-plugins",
        ]
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL)
        self.env = {**os.environ, "DOCKER_HOST": self.host}
        import docker

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            if self.socket.exists():
                try:
                    client = docker.DockerClient(base_url=self.host, timeout=120)
                    client.ping()
                    self.client = client
                    return
                except docker.errors.DockerException:
                    pass
            time.sleep(0.2)
        said = self.log.read_text(errors="replace")[-2000:]
        self.stop()
        unavailable(f"the private Docker Engine did not start; dockerd said:\n{said}")

    def remove_everything_but_images(self) -> None:
        """Containers and volumes left by an earlier, interrupted session."""
        for container in self.client.containers.list(all=True):
            container.remove(force=True, v=True)
        for volume in self.client.volumes.list():
            volume.remove(force=True)

    def stop(self) -> None:
        """Remove what the tests made, then stop dockerd by the pid it wrote."""
        if self.client is not None:
            self.remove_everything_but_images()
            self.client.close()
        pid = _read_pid(self.pidfile) or (self.process.pid if self.process else None)
        if pid is not None:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        if self.process is not None:
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


@pytest.fixture(scope="session")
def docker_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DockerEngine]:
    """A private dockerd for the session, its data (images) kept in the cache folder."""
    if os.geteuid() != 0:
        unavailable("the Docker tier starts its own dockerd, which needs root")
    require_tools("dockerd", "docker-compose", "debootstrap",
                  purpose="the Docker tier (apt-get install docker.io docker-compose debootstrap)")
    require_modules("docker", "yaml", purpose="the Docker tier")
    CACHE.mkdir(parents=True, exist_ok=True)
    # One session at a time owns the cached engine data.
    with open(CACHE / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        # A short path: unix socket paths are limited to 107 bytes.
        run_dir = Path(tempfile.mkdtemp(prefix="tw-docker-", dir="/tmp"))
        run_dir.chmod(0o755)
        engine = DockerEngine(CACHE / "engine", run_dir)
        engine.start()
        try:
            engine.remove_everything_but_images()
            yield engine
        finally:
            engine.stop()
            shutil.rmtree(run_dir, ignore_errors=True)


# --- the images -------------------------------------------------------------------------------

def _apt_mirror() -> str:
    """The Debian mirror apt uses here, for debootstrap."""
    sources = Path("/etc/apt/sources.list.d/debian.sources")
    if sources.exists():
        found = re.search(r"^URIs:\s*(\S+/debian)\s*$", sources.read_text(), re.MULTILINE)
        if found:
            return found.group(1)
    legacy = Path("/etc/apt/sources.list")
    if legacy.exists():
        found = re.search(r"^deb\s+(\S+/debian)\s+\w+", legacy.read_text(), re.MULTILINE)
        if found:
            return found.group(1)
    return "http://deb.debian.org/debian"


def _image_exists(engine: DockerEngine, tag: str) -> bool:
    import docker.errors

    try:
        engine.client.images.get(tag)
        return True
    except docker.errors.ImageNotFound:
        return False


def _forget_other_tags(engine: DockerEngine, repository: str, keep: str) -> None:
    """Images of an earlier key: the cache keeps only what the current tests use."""
    for image in engine.client.images.list(name=repository):
        if keep not in image.tags:
            engine.client.images.remove(image.id, force=True)


@pytest.fixture(scope="session")
def base_image(docker_engine: DockerEngine) -> str:
    """A minimal Debian with python3 and curl, made by debootstrap (about 40 s, then cached)."""
    mirror = _apt_mirror()
    tag = f"{BASE_REPO}:{_short_hash(BASE_SUITE, 'minbase', *BASE_PACKAGES, mirror)}"
    if _image_exists(docker_engine, tag):
        return tag
    rootfs = Path(tempfile.mkdtemp(prefix="rootfs-", dir=CACHE))
    try:
        _run(["debootstrap", "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}",
              BASE_SUITE, str(rootfs), mirror], timeout=900)
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        _run(["docker", "import", "-", tag], timeout=300, stdin=tar.stdout,
             env=docker_engine.env)
        assert tar.wait(timeout=60) == 0, "tar of the debootstrap tree failed"
    finally:
        shutil.rmtree(rootfs, ignore_errors=True)
    _forget_other_tags(docker_engine, BASE_REPO, tag)
    return tag


def _wheels(version: str) -> Path:
    """faster-whisper and its dependencies as CPython 3.11 manylinux wheels, downloaded once."""
    folder = CACHE / f"wheels-faster-whisper-{version}"
    if not (folder / ".complete").exists():
        shutil.rmtree(folder, ignore_errors=True)
        _run([sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "-q",
              *PLATFORM_FLAGS, "-d", str(folder), f"faster-whisper=={version}"], timeout=900)
        (folder / ".complete").touch()
    return folder


@pytest.fixture(scope="session")
def server_image(docker_engine: DockerEngine, base_image: str, model_dir: Path) -> str:
    """The test transcription server (fedirz dialect, tiny.en, port 8000) as an image."""
    require_modules("faster_whisper", purpose="the server image")
    version = importlib.metadata.version("faster-whisper")
    model_files = sorted(p for p in model_dir.iterdir() if p.is_file())
    key = _short_hash(base_image, version, SERVER_SCRIPT.read_bytes(),
                      *(f"{p.name}:{p.stat().st_size}" for p in model_files))
    tag = f"{SERVER_REPO}:{key}"
    if _image_exists(docker_engine, tag):
        return tag
    wheels = _wheels(version)
    context = Path(tempfile.mkdtemp(prefix="server-image-", dir=CACHE))
    try:
        _run([sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "-q",
              "--no-index", "--find-links", str(wheels), *PLATFORM_FLAGS,
              "--target", str(context / "site"), f"faster-whisper=={version}"], timeout=900)
        shutil.copytree(model_dir, context / "model")
        shutil.copy(SERVER_SCRIPT, context / "whisper_server.py")
        # The image's own Debian python3, which has the packages copied into /opt/site.
        image_python = "/usr/bin/python3"
        command = [image_python, "/opt/whisper_server.py", "--host", "0.0.0.0", "--port", "8000",
                   "--dialect", "fedirz", "--model-dir", "/opt/model"]
        (context / "Dockerfile").write_text(
            f"FROM {base_image}\n"
            "COPY site /opt/site\n"
            "COPY model /opt/model\n"
            "COPY whisper_server.py /opt/whisper_server.py\n"
            "ENV PYTHONPATH=/opt/site PYTHONUNBUFFERED=1 HOME=/root\n"
            "EXPOSE 8000\n"
            f"CMD {json.dumps(command)}\n"
        )
        docker_engine.client.images.build(path=str(context), tag=tag, rm=True, forcerm=True)
    finally:
        shutil.rmtree(context, ignore_errors=True)
    _forget_other_tags(docker_engine, SERVER_REPO, tag)
    return tag


DESKTOP_REPO = "turbo-whisper-test-desktop"
DESKTOP_USER = "ada"
# What a Debian desktop has and a minimal base lacks; no compiler, no pip, no python3-venv.
DESKTOP_PACKAGES = ("sudo",)


@dataclass(frozen=True)
class DesktopImage:
    tag: str
    user: str = DESKTOP_USER
    uid: int = 1000


@pytest.fixture(scope="session")
def desktop_image(docker_engine: DockerEngine, base_image: str) -> DesktopImage:
    """A fresh Debian 12 as a desktop install has it: Debian's python3 and nothing else of
    Python, no compiler, and a user with sudo (without a password, as a test cannot type one).

    Building it installs sudo from Debian's archive, so the build runs on the host's
    network: containers here reach the package sources only that way.
    """
    recipe = (
        f"FROM {base_image}\n"
        "RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "
        f"--no-install-recommends {' '.join(DESKTOP_PACKAGES)} >/dev/null "
        "&& rm -rf /var/lib/apt/lists/*\n"
        f"RUN useradd --create-home --shell /bin/bash --uid {DesktopImage.uid} {DESKTOP_USER} "
        f"&& echo '{DESKTOP_USER} ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/{DESKTOP_USER} "
        f"&& chmod 0440 /etc/sudoers.d/{DESKTOP_USER}\n"
    )
    tag = f"{DESKTOP_REPO}:{_short_hash(recipe)}"
    if _image_exists(docker_engine, tag):
        return DesktopImage(tag)
    context = Path(tempfile.mkdtemp(prefix="desktop-image-", dir=CACHE))
    try:
        (context / "Dockerfile").write_text(recipe)
        docker_engine.client.images.build(path=str(context), tag=tag, rm=True, forcerm=True,
                                          network_mode="host")
    finally:
        shutil.rmtree(context, ignore_errors=True)
    _forget_other_tags(docker_engine, DESKTOP_REPO, tag)
    return DesktopImage(tag)
