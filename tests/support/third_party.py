"""Real transcription servers that are not ours, installed from PyPI into venvs of their own.

PyPI `faster-whisper-server` 0.0.3 is an independent OpenAI-compatible FastAPI server. It is
installed once into a venv under the test cache folder (pip's own cache makes a rebuild
quick), by whichever test session gets there first, under a lock; a marker written when the
install has finished keeps a later run from trusting a half-made venv.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from pathlib import Path

from support.services import LOOPBACK, ServerHandle, free_port, launch_server, tail

PYPI_SERVER = "faster-whisper-server==0.0.3"
INSTALL_SECONDS = 900


class InstallError(RuntimeError):
    """A server could not be installed (no network, no venv module, a broken release)."""


def cache_dir() -> Path:
    """Where test-only installs live: $TURBO_WHISPER_TEST_CACHE, or ~/.cache/turbo-whisper-tests."""
    configured = os.environ.get("TURBO_WHISPER_TEST_CACHE")
    base = Path(configured) if configured else Path.home() / ".cache" / "turbo-whisper-tests"
    base.mkdir(parents=True, exist_ok=True)
    return base


def installed_venv(requirement: str, command: str) -> Path:
    """A venv holding `requirement` whose bin/`command` exists; installed on first use."""
    root = cache_dir() / "venvs"
    root.mkdir(parents=True, exist_ok=True)
    name = requirement.replace("==", "-").replace("/", "-")
    target = root / name
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / ".complete").exists() and (target / "bin" / command).exists():
            return target
        # A venv records its own path in its scripts, so it is built where it stays; the
        # marker written last tells a finished install from an interrupted one.
        shutil.rmtree(target, ignore_errors=True)
        log = root / f"{name}.install.log"
        with open(log, "wb") as output:
            _run([sys.executable, "-m", "venv", str(target)], output, log)
            _run([str(target / "bin" / "python"), "-m", "pip", "install", "--quiet",
                  "--disable-pip-version-check", requirement], output, log)
        if not (target / "bin" / command).exists():
            raise InstallError(f"{requirement} installed no {command}; see {log}")
        (target / ".complete").write_text(requirement + "\n")
        return target


def _run(command: list[str], output, log: Path) -> None:
    try:
        result = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=output,
                                stderr=subprocess.STDOUT, timeout=INSTALL_SECONDS, check=False)
    except subprocess.TimeoutExpired:
        raise InstallError(f"{' '.join(command)} took over {INSTALL_SECONDS} s") from None
    if result.returncode != 0:
        raise InstallError(f"{' '.join(command[:4])}... failed ({result.returncode}):\n{tail(log)}")


class PyPIServerLauncher:
    """Starts `faster-whisper-server MODEL_DIR` processes and stops them all at the end."""

    def __init__(self, venv: Path, model_dir: Path, work_dir: Path) -> None:
        self.venv = venv
        self.model_dir = model_dir
        self.work_dir = Path(work_dir)
        self.handles: list[ServerHandle] = []

    def start(self, *, port: int | None = None, wait: bool = True,
              timeout: float = 120.0) -> ServerHandle:
        """Start one server (on `port`, or a free one); wait until it accepts connections
        unless told not to."""
        number = len(self.handles)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.work_dir / f"pypi-server-{number}.log"
        port = port or free_port()
        command = [str(self.venv / "bin" / "faster-whisper-server"), str(self.model_dir),
                   "--host", LOOPBACK, "--port", str(port)]
        env = {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}
        env["HF_HUB_OFFLINE"] = "1"  # it must never reach for a model hub
        handle = launch_server(command, "pypi-faster-whisper-server", port,
                               self.work_dir / f"pypi-server-{number}.port", log_path, env)
        self.handles.append(handle)
        if wait:
            handle.wait_ready(timeout)
        return handle

    def stop_all(self) -> None:
        for handle in reversed(self.handles):
            handle.stop()
