"""A disk that fills up or turns read-only never costs a recording, and never a word of truth.

The real `turbo-whisper run` process with its default settings, under Xvfb with the
PulseAudio virtual microphone, its state folder on a real tmpfs that is filled to the last
page or remounted read-only while the client runs; the server is a loopback server that
comes up on a port the client was already waiting on.
"""

from __future__ import annotations

import errno
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from reliability_kit import dictate, set_clipboard
from support.client import ClientProcess, clipboard_with, read_clipboard
from support.services import free_port

pytestmark = pytest.mark.integration

REPORT = "please send the report by friday"


class Disks:
    """Real tmpfs mounts of this test, unmounted at its end."""

    def __init__(self, root: Path):
        self.root = root
        self.mounted: list[Path] = []

    def __call__(self, name: str, size: str = "8m") -> Path:
        mount = self.root / name
        mount.mkdir(parents=True)
        self._mount("-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(mount))
        self.mounted.append(mount)
        return mount

    def read_only(self, mount: Path) -> None:
        self._mount("-o", "remount,ro", str(mount))

    @staticmethod
    def fill(mount: Path) -> None:
        """Write zeros until the file system says it is full."""
        block = bytes(64 * 1024)
        with open(mount / "filler", "wb", buffering=0) as filler:
            try:
                while True:
                    filler.write(block)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
        for size in (4096, 512, 1):  # the last partial page too
            try:
                with open(mount / f"filler-{size}", "wb", buffering=0) as filler:
                    while True:
                        filler.write(bytes(size))
            except OSError:
                pass

    @staticmethod
    def _mount(*args: str) -> None:
        result = subprocess.run(["mount", *args], capture_output=True, text=True, check=False)
        if result.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here (mount {' '.join(args)}): "
                        f"{result.stderr.strip()}")

    def unmount_all(self) -> None:
        for mount in reversed(self.mounted):
            if subprocess.run(["umount", str(mount)], check=False).returncode != 0:
                subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.fixture
def disks(tmp_path: Path) -> Iterator[Disks]:
    """Factory: disks(name, size) mounts a real tmpfs; needs root (the tests run as root)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    made = Disks(tmp_path / "disks")
    yield made
    made.unmount_all()


def audio_in(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.wav"))


def delivered(run: ClientProcess) -> int:
    return int(run.status()["delivered"])


def lines_with(run: ClientProcess, text: str) -> list[str]:
    return [line for line in run.log().splitlines() if text in line]


def down_server_url() -> tuple[int, str]:
    port = free_port()
    return port, f"http://127.0.0.1:{port}"


# --------------------------------------------------------------------------- read-only


def test_a_recording_delivered_onto_a_read_only_disk_is_told_so_and_never_copied_again(
        xvfb, pulse, speech, servers, client, disks):
    state = disks("state")
    spool = state / "turbo-whisper" / "spool"
    port, url = down_server_url()
    run = client(url, XDG_STATE_HOME=str(state)).start()
    dictate(run, pulse, speech(REPORT))
    run.wait(lambda: len(audio_in(spool)) == 1 and not list(spool.glob("*.rec")), 20,
             "the recording in the spool, and its journal closed and gone")
    disks.read_only(state)
    set_clipboard(xvfb, "marker before the server")
    servers.on_port(port)

    assert "friday" in clipboard_with(xvfb, "report", run, timeout=120).lower()
    run.wait_log("could not be removed from", timeout=10)
    told = lines_with(run, "could not be removed from")
    assert len(told) == 1 and "was delivered" in told[0], told
    assert f"{spool} (read-only)" in told[0], told
    assert "could not be sent" not in run.log() and "Traceback" not in run.log()

    set_clipboard(xvfb, "marker after the delivery")
    run.command("retry")
    time.sleep(3.0)
    assert b"marker after" in read_clipboard(xvfb) and delivered(run) == 1, run.log()
    assert run.terminate() == 0

    again = client(url, home=run.home, XDG_STATE_HOME=str(state)).start()
    again.wait_log("already delivered", timeout=20)
    time.sleep(3.0)
    assert b"marker after" in read_clipboard(xvfb) and delivered(again) == 0, again.log()
    assert audio_in(spool) and "Traceback" not in again.log()
    assert again.terminate() == 0


# --------------------------------------------------------------------------- full


def test_a_recording_the_full_spool_disk_refuses_is_kept_in_the_cache_and_sent_once(
        xvfb, pulse, speech, servers, client, disks):
    state = disks("state", size="4m")
    port, url = down_server_url()
    run = client(url, XDG_STATE_HOME=str(state)).start()
    cache_spool = run.home / ".cache" / "turbo-whisper" / "spool"
    Disks.fill(state)
    dictate(run, pulse, speech(REPORT))

    run.wait_log("instead", timeout=20)
    told = lines_with(run, "instead")
    assert "disk full" in told[0] and f"kept in {cache_spool} instead" in told[0], told
    assert len(audio_in(cache_spool)) == 1
    assert run.terminate() == 0
    assert "lost" not in run.log()

    set_clipboard(xvfb, "marker before the server")
    servers.on_port(port)
    again = client(url, home=run.home, XDG_STATE_HOME=str(state)).start()
    assert "friday" in clipboard_with(xvfb, "report", again, timeout=120).lower()
    again.wait(lambda: not audio_in(cache_spool), 10, "the cache's spool to empty")
    time.sleep(1.0)
    assert delivered(again) == 1, again.log()
    assert again.terminate() == 0
    third = client(url, home=run.home, XDG_STATE_HOME=str(state)).start()
    time.sleep(2.0)
    assert delivered(third) == 0
    assert third.terminate() == 0


def test_with_every_folder_full_the_client_never_says_kept_and_says_what_is_lost_at_exit(
        xvfb, pulse, speech, client, disks):
    disk = disks("all", size="4m")
    (disk / "runtime").mkdir(mode=0o700)
    places = {"XDG_STATE_HOME": str(disk / "state"), "XDG_CACHE_HOME": str(disk / "cache"),
              "XDG_RUNTIME_DIR": str(disk / "runtime")}
    _, url = down_server_url()
    run = client(url, **places).start()
    Disks.fill(disk)
    before = len(run.log())
    dictate(run, pulse, speech(REPORT))

    run.wait_log("only in memory", timeout=20)
    told = lines_with(run, "only in memory")
    assert "lost if the client stops" in told[0], told
    for folder in ("state", "cache", "runtime"):
        assert str(disk / folder) in told[0], told
    time.sleep(2.0)
    assert "kept" not in run.log()[before:], run.log()[before:]

    assert run.terminate() == 0
    lost = lines_with(run, "is lost now")
    assert len(lost) == 1 and "ERROR" in lost[0] and "s of audio (1 recording(s)" in lost[0], \
        run.log()[-3000:]
    assert "Traceback" not in run.log()
