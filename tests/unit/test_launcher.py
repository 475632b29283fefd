"""The launch script's command line, which answers before it installs or starts anything."""

from __future__ import annotations

import subprocess
from pathlib import Path

LAUNCHER = Path(__file__).resolve().parents[2] / "scripts" / "launch-turbo-whisper.sh"


def launch(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(LAUNCHER), *args], capture_output=True, text=True, timeout=30,
                          check=False, env=env)


def test_help_names_every_option_and_the_overrides():
    result = launch("--help")
    assert result.returncode == 0
    for word in ("--foreground", "--no-server", "--gpu", "--cpu", "--stop",
                 "TURBO_WHISPER_VENV", "TURBO_WHISPER_PYTHON", "TURBO_WHISPER_VENV_OPTIONS",
                 "client.log"):
        assert word in result.stdout


def test_an_unknown_option_is_a_usage_error():
    result = launch("--bogus")
    assert result.returncode == 2
    assert "unknown option: --bogus" in result.stderr


def test_a_wrong_variant_is_a_usage_error(tmp_path):
    result = launch(env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
                         "TURBO_WHISPER_VARIANT": "tpu"})
    assert result.returncode == 2
    assert "gpu, cpu or auto" in result.stderr


def test_stop_with_nothing_running_says_so(tmp_path):
    result = launch("--stop", env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert result.returncode == 0
    assert "not running" in result.stdout


def test_it_is_a_bash_script_that_fails_on_errors():
    head = LAUNCHER.read_text().splitlines()[:3]
    assert head[0] == "#!/usr/bin/env bash"
    assert "set -euo pipefail" in head
