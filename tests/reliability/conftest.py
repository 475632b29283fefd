"""Fixtures for the reliability and security tests (helpers are in reliability_kit.py)."""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from reliability_kit import Harness, LogRecords, Servers
from support.client import ClientProcess, Clients
from support.requirements import require_modules
from support.services import ServerLauncher


@pytest.fixture
def servers(tmp_path: Path, model_dir: Path) -> Iterator[Servers]:
    """Factory for loopback servers of this test; every one is stopped at teardown."""
    require_modules("faster_whisper", "httpx", purpose="the loopback transcription server")
    launcher = ServerLauncher(tmp_path / "servers", model_dir)
    yield Servers(launcher)
    launcher.stop_all()


@pytest.fixture
def client_log() -> Iterator[LogRecords]:
    """Captures the `turbo_whisper` loggers at every level for the test."""
    records = LogRecords()
    logger = logging.getLogger("turbo_whisper")
    old_level = logger.level
    logger.addHandler(records)
    logger.setLevel(logging.DEBUG)
    yield records
    logger.removeHandler(records)
    logger.setLevel(old_level)


@pytest.fixture
def dictation(tmp_path: Path, client_log: LogRecords) -> Iterator[Harness]:
    """The in-process client; call .start(server_url, [wav, ...], **settings) first."""
    harness = Harness(tmp_path / "home", client_log)
    yield harness
    harness.stop()


@pytest.fixture
def headless_client(tmp_path: Path) -> Iterator[Callable[..., ClientProcess]]:
    """Factory: headless_client(home, server_url, **env): the client with no display and no
    sound server (so no hotkey and no microphone), for what it keeps and whom it obeys."""
    clients = Clients(tmp_path, {"DISPLAY": "", "WAYLAND_DISPLAY": ""})
    yield lambda home, server_url, **env: clients(server_url, home, **env)
    clients.stop_all()


@pytest.fixture
def shared_home() -> Iterator[Path]:
    """A client home another user may walk into, so that only the client's own permissions
    stand between that user and the client (pytest's own folders are 0700)."""
    home = Path(tempfile.mkdtemp(prefix="tw-shared-"))
    home.chmod(0o755)
    (home / "runtime").mkdir()
    (home / "runtime").chmod(0o755)
    yield home
    shutil.rmtree(home, ignore_errors=True)
