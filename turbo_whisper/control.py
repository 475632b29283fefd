"""Control from other processes over a Unix socket, and the single-instance lock.

Desktop shortcuts (the only way to a hotkey on Wayland) run `turbo-whisper toggle`, which
sends one JSON line here and prints the answer. This module imports only the standard
library so those commands start at once.

A command either happens or does not, and its asker knows which: the client answers
`{"taken": true}` once it starts on a command, then the result; a command not taken within
a few seconds (or by the asker's `expires`) is withdrawn and never carried out later. The
asker talks only to a folder and socket of the user's own.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import socket
import stat
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from turbo_whisper.errors import AlreadyRunning, NotRunning
from turbo_whisper.paths import check_private, private_dir, runtime_dir

log = logging.getLogger(__name__)

COMMANDS = ("toggle", "start", "stop", "cancel", "status", "retry", "quit")
Handler = Callable[["Request"], dict[str, Any]]

MAX_LINE = 1 << 20
MAX_CLIENTS = 64  # threads at once; silent peers are cut off after READ_SECONDS
READ_SECONDS = 2.0  # for a peer to send its whole command line
TAKE_SECONDS = 3.0  # for the client to take a command; later, it is withdrawn
REPLY_SECONDS = 2.0
ANSWER_SECONDS = 10.0  # the asker's patience until the command is taken (or withdrawn)
ANSWER_MARGIN_SECONDS = 2.0  # the client withdraws this much before the asker gives up
DONE_SECONDS = 120.0  # the asker's patience once the command is being carried out


def socket_path() -> Path:
    return runtime_dir() / "control.sock"


def lock_path() -> Path:
    return runtime_dir() / "instance.lock"


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


@dataclass(frozen=True)
class Request:
    """One command from the socket. Not taken by the deadline, it is withdrawn."""

    command: dict[str, Any]
    deadline: float  # time.monotonic()
    taken: Callable[[], None]  # tells the asker the command is being carried out


def _read_line(connection: socket.socket, deadline: float, limit: int = MAX_LINE) -> bytes:
    """One line from a peer that gets until the deadline for all of it, however it trickles."""
    data = b""
    while b"\n" not in data and len(data) < limit:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("the command was not sent in time")
        connection.settimeout(remaining)
        chunk = connection.recv(4096)
        if not chunk:
            break
        data += chunk
    return data.split(b"\n", 1)[0]


def _command(line: bytes) -> dict[str, Any]:
    try:
        command = json.loads(line)
    except RecursionError:
        raise ValueError("the JSON is nested too deep") from None
    if not isinstance(command, dict):
        raise ValueError("a JSON object such as {\"cmd\": \"status\"} is expected")
    return command


def _take_by(command: dict[str, Any], read_at: float) -> float:
    """When a command not yet taken is withdrawn: soon, and before its asker gives up."""
    deadline = read_at + TAKE_SECONDS
    expires = command.get("expires")
    if isinstance(expires, (int, float)) and not isinstance(expires, bool):
        deadline = min(deadline, time.monotonic() + (float(expires) - time.time()))
    return deadline


class ControlServer:
    """Answers one JSON command per connection on a 0600 socket, for the same user only.

    Each connection has its own thread and deadline, so a slow or silent peer holds up
    nobody else; past MAX_CLIENTS at once, a peer is told the client is busy.
    """

    def __init__(self, handler: Handler, path: Path | None = None):
        self.path = path or socket_path()
        self._handler = handler
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._slots = threading.BoundedSemaphore(MAX_CLIENTS)

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
        sock.listen(64)
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
            if not self._slots.acquire(blocking=False):
                with connection:
                    _reply(connection, {"ok": False, "error": "the client is busy with other "
                                        "commands; nothing was done. Try again."})
                continue
            threading.Thread(target=self._answer_and_close, args=(connection,),
                             name="control-client", daemon=True).start()

    def _answer_and_close(self, connection: socket.socket) -> None:
        try:
            with connection:
                self._answer(connection)
        finally:
            self._slots.release()

    def _answer(self, connection: socket.socket) -> None:
        try:
            line = _read_line(connection, time.monotonic() + READ_SECONDS)  # then: no broken pipe
            if _peer_uid(connection) != os.getuid():
                reply: dict[str, Any] = {"ok": False, "error": "permission denied"}
            else:
                command = _command(line)
                reply = self._handler(Request(command, _take_by(command, time.monotonic()),
                                              lambda: _reply(connection, {"taken": True})))
        except (OSError, ValueError) as exc:
            reply = {"ok": False, "error": f"bad request: {exc}"}
        except Exception as exc:  # a command must never take the control thread down
            log.exception("Control command failed")
            reply = {"ok": False, "error": str(exc)}
        _reply(connection, reply)


def _reply(connection: socket.socket, reply: dict[str, Any]) -> None:
    with contextlib.suppress(OSError):
        connection.settimeout(REPLY_SECONDS)
        connection.sendall(json.dumps(reply, ensure_ascii=False).encode() + b"\n")


def check_socket(path: Path) -> None:
    """Before talking to a socket: its folder and the socket must be the user's own, or the
    answer could come from another user. NotRunning when there is nothing to talk to."""
    if not check_private(path.parent):
        raise NotRunning(_NOT_RUNNING)
    try:
        info = path.lstat()
    except FileNotFoundError:
        raise NotRunning(_NOT_RUNNING) from None
    if not stat.S_ISSOCK(info.st_mode) or info.st_uid != os.getuid():
        raise NotRunning(f"The control socket {path} belongs to another user or is not a "
                         "socket; Turbo Whisper will not talk to it. Remove it.")


_NOT_RUNNING = ("Turbo Whisper is not running. Start it with `turbo-whisper run` "
                "(or scripts/launch-turbo-whisper.sh).")


def send(command: str, timeout: float = ANSWER_SECONDS, **fields: Any) -> dict[str, Any]:
    """Send one command to the running client and return its answer.

    The client either takes the command in time and says so, then answers once it is done,
    or withdraws it: a command never happens after this has said it did not."""
    path = socket_path()
    check_socket(path)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(str(path))
        except (FileNotFoundError, ConnectionRefusedError, NotADirectoryError):
            raise NotRunning(_NOT_RUNNING) from None
        except PermissionError:
            raise NotRunning(f"The control socket {path} belongs to another user.") from None
        except (TimeoutError, BlockingIOError):
            raise NotRunning("The running client takes no more connections now (too many are "
                             "waiting); nothing was sent. Try again in a moment.") from None
        expires = time.time() + timeout - ANSWER_MARGIN_SECONDS
        reader = sock.makefile("rb")
        try:
            sock.sendall(json.dumps({"cmd": command, "expires": expires, **fields}).encode()
                         + b"\n")
            answer = _answer(reader)
            if answer.get("taken"):
                sock.settimeout(DONE_SECONDS)
                answer = _answer(reader, taken=True)
        except (BrokenPipeError, ConnectionResetError):
            answer = {}
        except TimeoutError:
            raise NotRunning("The running client did not answer in time; the command was "
                             "withdrawn and did not happen.") from None
    if not answer:
        raise NotRunning("The running client closed the connection without answering.")
    return answer


def _answer(reader: Any, taken: bool = False) -> dict[str, Any]:
    """One answer line; {} at end of stream. After "taken", a timeout says it is under way."""
    try:
        data = reader.readline(MAX_LINE)
    except TimeoutError:
        if not taken:
            raise
        raise NotRunning("The running client took the command and has not finished it yet; "
                         "`turbo-whisper status` shows what it is doing.") from None
    if not data:
        return {}
    try:
        answer = json.loads(data)
    except (ValueError, RecursionError):
        answer = None
    if not isinstance(answer, dict):
        raise NotRunning("The control socket answered something that is not Turbo Whisper's "
                         "answer.")
    return answer
