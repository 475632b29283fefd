"""Control from other processes over a Unix socket, and the single-instance lock.

Desktop shortcuts (the only way to a hotkey on Wayland) run `turbo-whisper toggle`, which
sends one JSON line here and prints the answer. This module imports only the standard
library so those commands start at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import socket
import struct
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from turbo_whisper.errors import NotRunning, TurboWhisperError
from turbo_whisper.paths import private_dir, runtime_dir

log = logging.getLogger(__name__)

COMMANDS = ("toggle", "start", "stop", "cancel", "status", "retry", "quit")
Handler = Callable[[dict[str, Any]], dict[str, Any]]


def socket_path() -> Path:
    return runtime_dir() / "control.sock"


def lock_path() -> Path:
    return runtime_dir() / "instance.lock"


class AlreadyRunning(TurboWhisperError):
    """Another client holds the single-instance lock."""


class InstanceLock:
    """An flock on a file in the runtime dir; the kernel drops it when the process dies."""

    def __init__(self, path: Path | None = None):
        self.path = path or lock_path()
        self._fd: int | None = None

    def acquire(self) -> None:
        private_dir(self.path.parent)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            _lock_soon(fd)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise AlreadyRunning(
                f"Turbo Whisper is already running (process {holder}); "
                "`turbo-whisper status` shows what it is doing."
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _lock_soon(fd: int, attempts: int = 5) -> None:
    """flock the file, giving a running_pid() look (a brief shared lock) time to pass."""
    for _ in range(attempts - 1):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            time.sleep(0.05)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def running_pid(path: Path | None = None) -> int | None:
    """The process holding the instance lock, or None when no client runs.

    The lock, not a pid file, is the truth: the kernel drops it when the holder dies, so a
    stale file or a reused pid never looks like a running client.
    """
    path = path or lock_path()
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip()
            return int(holder) if holder.isdigit() else 0
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _peer_uid(connection: socket.socket) -> int:
    creds = connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return struct.unpack("3i", creds)[1]


class ControlServer:
    """Answers one JSON command per connection on a 0600 socket, for the same user only."""

    def __init__(self, handler: Handler, path: Path | None = None):
        self.path = path or socket_path()
        self._handler = handler
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Bind the socket. Call only while holding the instance lock: a leftover is removed."""
        private_dir(self.path.parent)
        self.path.unlink(missing_ok=True)  # left by a crashed client; we hold the lock
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_umask = os.umask(0o177)
        try:
            sock.bind(str(self.path))
        finally:
            os.umask(old_umask)
        os.chmod(self.path, 0o600)
        sock.listen(8)
        self._sock = sock
        self._thread = threading.Thread(target=self._serve, name="control", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
            self.path.unlink(missing_ok=True)

    def _serve(self) -> None:
        while self._sock is not None:
            try:
                connection, _ = self._sock.accept()
            except OSError:
                return
            with connection:
                self._answer(connection)

    def _answer(self, connection: socket.socket) -> None:
        connection.settimeout(2.0)
        try:
            line = connection.makefile("rb").readline(65536)  # read first: no broken pipe
            if _peer_uid(connection) != os.getuid():
                reply: dict[str, Any] = {"ok": False, "error": "permission denied"}
            else:
                reply = self._handler(json.loads(line))
        except (OSError, ValueError) as exc:
            reply = {"ok": False, "error": f"bad request: {exc}"}
        except Exception as exc:  # a command must never take the control thread down
            log.exception("Control command failed")
            reply = {"ok": False, "error": str(exc)}
        with contextlib.suppress(OSError):
            connection.sendall(json.dumps(reply, ensure_ascii=False).encode() + b"\n")


def send(command: str, timeout: float = 5.0, **fields: Any) -> dict[str, Any]:
    """Send one command to the running client and return its answer."""
    path = socket_path()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(str(path))
        except (FileNotFoundError, ConnectionRefusedError):
            raise NotRunning(
                "Turbo Whisper is not running. Start it with `turbo-whisper run` "
                "(or scripts/launch-turbo-whisper.sh)."
            ) from None
        except PermissionError:
            raise NotRunning(f"The control socket {path} belongs to another user.") from None
        try:
            sock.sendall(json.dumps({"cmd": command, **fields}).encode() + b"\n")
            data = sock.makefile("rb").readline()
        except (BrokenPipeError, ConnectionResetError):
            data = b""
        except TimeoutError:
            raise NotRunning("The running client did not answer in time.") from None
    if not data:
        raise NotRunning("The running client closed the connection without answering.")
    answer: dict[str, Any] = json.loads(data)
    return answer
