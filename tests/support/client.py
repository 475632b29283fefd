"""The real `turbo-whisper` client as a process, with its own XDG folders, for end-to-end tests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from support.services import stop_process


class ClientProcess:
    """Runs `python -m turbo_whisper run` under a given display and audio server."""

    def __init__(self, home: Path, env: Mapping[str, str], python: str = sys.executable,
                 as_user: Sequence[str] = ()):
        self.home = Path(home)
        self.python = python
        self.as_user = list(as_user)  # a prefix such as setpriv's that runs it as another user
        self.log_path = self.home / "client.log"
        self.env = dict(os.environ)
        self.env.update({
            "HOME": str(self.home),
            "XDG_CONFIG_HOME": str(self.home / "config"),
            "XDG_STATE_HOME": str(self.home / "state"),
            "XDG_DATA_HOME": str(self.home / "data"),
            "XDG_RUNTIME_DIR": str(self.home / "runtime"),
            "TURBO_WHISPER_NOTIFICATIONS": "false",
            "TURBO_WHISPER_SOUNDS": "false",
        })
        self.env.update(env)
        (self.home / "runtime").mkdir(parents=True, exist_ok=True, mode=0o700)
        self.process: subprocess.Popen | None = None
        self._log_offset = 0

    @property
    def spool(self) -> Path:
        return self.home / "state" / "turbo-whisper" / "spool"

    def start(self, *args: str, ready_line: str = "is running") -> ClientProcess:
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [*self.as_user, self.python, "-m", "turbo_whisper", "run", *args], env=self.env,
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            )
        self.wait_log(ready_line, timeout=30)
        return self

    def log(self) -> str:
        """What the client logged since its latest start."""
        with open(self.log_path, "rb") as log:
            log.seek(self._log_offset)
            return log.read().decode("utf-8", errors="replace")

    def wait_log(self, text: str, timeout: float = 30.0) -> None:
        self.wait(lambda: text in self.log(), timeout, f"{text!r} in the client log")

    def wait(self, check: Callable[[], bool], timeout: float, what: str) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if check():
                return
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"the client exited ({self.process.returncode}) while "
                                     f"waiting for {what}:\n{self.log()[-3000:]}")
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}:\n{self.log()[-3000:]}")

    def command(self, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess:
        """Run another `turbo-whisper` command in the same environment.

        Output goes through files, not pipes: a clipboard tool that keeps the selection
        inherits them and would hold a pipe open long after the command has finished.
        """
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            result = subprocess.run([*self.as_user, self.python, "-m", "turbo_whisper", *args],
                                    env=self.env,
                                    stdout=out, stderr=err, timeout=timeout, check=False)
            out.seek(0)
            err.seek(0)
            return subprocess.CompletedProcess(result.args, result.returncode,
                                               out.read().decode(), err.read().decode())

    def status(self) -> dict:
        result = self.command("status", "--json")
        return json.loads(result.stdout)

    def terminate(self, timeout: float = 15.0) -> int:
        """SIGTERM, as at logout; returns the exit code."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            stop_process(self.process)


def press(display: str, keys: str) -> None:
    """Press a key combination on the X display, as a person would."""
    subprocess.run(["xdotool", "key", "--clearmodifiers", keys], env={**os.environ, "DISPLAY": display},
                   check=True, timeout=10)


def clipboard_with(display: str, word: str, run: ClientProcess, timeout: float = 60.0) -> str:
    """Wait until the clipboard holds `word` (any case) and return its text."""
    found = {}

    def check() -> bool:
        found["text"] = read_clipboard(display).decode("utf-8", errors="replace")
        return word in found["text"].lower()

    run.wait(check, timeout, f"{word!r} in the clipboard")
    return found["text"]


def read_clipboard(display: str) -> bytes:
    result = subprocess.run(["xclip", "-o", "-selection", "clipboard"],
                            env={**os.environ, "DISPLAY": display}, capture_output=True,
                            timeout=10, check=False)
    return result.stdout if result.returncode == 0 else b""


class Clients:
    """Makes ClientProcess objects sharing a base environment, and stops them all at the end."""

    def __init__(self, root: Path, base_env: Mapping[str, str]):
        self.root = Path(root)
        self.base_env = dict(base_env)
        self.made: list[ClientProcess] = []

    def __call__(self, server_url: str, home: Path | None = None, **env: str) -> ClientProcess:
        """A client (not yet started); the `home` of an earlier one gives the same spool."""
        variables = {**self.base_env, "TURBO_WHISPER_SERVER_URL": server_url, **env}
        process = ClientProcess(home or self.root / f"client{len(self.made)}", variables)
        self.made.append(process)
        return process

    def stop_all(self) -> None:
        for process in self.made:
            process.stop()
