from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support.client import ClientProcess


@pytest.fixture
def client(tmp_path: Path, xvfb: str, pulse) -> Iterator[Callable[..., ClientProcess]]:
    """Factory: client(server_url, **env) -> a ClientProcess, not yet started."""
    made: list[ClientProcess] = []

    def make(server_url: str, **env: str) -> ClientProcess:
        variables = {"DISPLAY": xvfb, "TURBO_WHISPER_SERVER_URL": server_url, **pulse.env, **env}
        process = ClientProcess(tmp_path / f"client{len(made)}", variables)
        made.append(process)
        return process

    yield make
    for process in made:
        process.stop()
