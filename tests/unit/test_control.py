"""control.py: the instance lock tells whether a client runs and which, across processes."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from turbo_whisper.control import InstanceLock, running_pid
from turbo_whisper.errors import AlreadyRunning

HOLDER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from turbo_whisper.control import InstanceLock
    InstanceLock(Path(sys.argv[1])).acquire()
    print("held", flush=True)
    time.sleep(60)
""")


def test_no_lock_file_and_a_free_lock_mean_nothing_runs(tmp_path):
    path = tmp_path / "run" / "instance.lock"
    assert running_pid(path) is None
    lock = InstanceLock(path)
    lock.acquire()
    lock.release()
    assert path.exists() and running_pid(path) is None  # a leftover file is not a client


def test_the_holders_pid_is_read_from_the_lock_and_forgotten_when_it_dies(tmp_path):
    path = tmp_path / "run" / "instance.lock"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        assert running_pid(path) == holder.pid
        with pytest.raises(AlreadyRunning, match=f"process {holder.pid}"):
            InstanceLock(path).acquire()
    finally:
        holder.kill()
        holder.wait()
    assert running_pid(path) is None  # the kernel dropped the lock; the file stays
    lock = InstanceLock(Path(path))
    lock.acquire()
    lock.release()
