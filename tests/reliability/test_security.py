"""Nobody else gets in: private files, a control socket for its owner only, a secret API key.

The compose file's loopback-only port is checked in tests/docker/test_stack.py
(test_both_variants_validate_and_publish_on_loopback_only) and not repeated here.
"""

from __future__ import annotations

import logging
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from reliability_kit import dictate, file_mode, kept
from support.client import clipboard_with

import turbo_whisper

pytestmark = pytest.mark.integration

KEY = "tw-secret-7f3a9c2e51d84b06"
NOBODY = 65534
NOWHERE = "http://127.0.0.1:9"
PHRASE = "please send the report by friday"


# --------------------------------------------------------------------------- private files


def test_every_file_the_client_keeps_is_private(xvfb, pulse, speech, servers, client):
    server = servers()
    run = client(server.url, TURBO_WHISPER_HISTORY="true").start()
    run.wait_log("Ready:", timeout=30)
    dictate(run, pulse, speech(PHRASE))
    clipboard_with(xvfb, "report", run)
    server.fault("status:413")  # the next recording is held in the spool
    dictate(run, pulse, speech("good morning everyone"))
    run.wait_log("until `turbo-whisper retry`", timeout=30)

    runtime = run.home / "runtime" / "turbo-whisper"
    assert stat.S_ISSOCK(os.stat(runtime / "control.sock").st_mode)
    assert file_mode(runtime) == 0o700
    assert file_mode(runtime / "control.sock") == 0o600
    assert file_mode(runtime / "instance.lock") == 0o600
    (held,) = kept(run)
    assert file_mode(held) == 0o600 and file_mode(held.parent) == 0o700
    history = run.home / "data" / "turbo-whisper" / "history.jsonl"
    assert "report" in history.read_text(encoding="utf-8").lower()
    assert file_mode(history) == 0o600 and file_mode(history.parent) == 0o700

    opened = [f"{oct(file_mode(path))} {path}"
              for top in ("state", "data", "config", "runtime")
              for path in (run.home / top).rglob("*")
              if not path.is_dir() and path.stat().st_mode & 0o077]
    assert opened == []
    assert run.terminate() == 0


# --------------------------------------------------------------------------- other users


def nobody_python(home: Path) -> tuple[list[str], dict[str, str]]:
    """A command prefix and environment that run the product's CLI as user `nobody`.

    The package is copied to a folder `nobody` can read; the commands used here need only
    the standard library (with engine "local", `status` without a client skips the HTTP
    check, whose library nobody may not be able to read)."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("running a command as another user needs root and setpriv")
    library = home / "lib"
    shutil.copytree(Path(turbo_whisper.__file__).parent, library / "turbo_whisper",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for path in [library, *library.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    prefix = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(library), "HOME": "/nonexistent",
           "XDG_CONFIG_HOME": "/nonexistent/config", "XDG_STATE_HOME": "/nonexistent/state",
           "XDG_RUNTIME_DIR": str(home / "runtime"), "TURBO_WHISPER_ENGINE": "local",
           "TURBO_WHISPER_SERVER_URL": NOWHERE, "PYTHONDONTWRITEBYTECODE": "1"}
    for python in (sys.executable, "/usr/bin/python3"):
        probe = subprocess.run([*prefix, python, "-c", "import turbo_whisper.cli"], env=env,
                               cwd="/", capture_output=True, timeout=30, check=False)
        if probe.returncode == 0:
            return [*prefix, python, "-m", "turbo_whisper"], env
    pytest.skip("no Python interpreter that user nobody may run was found")


def run_as_nobody(command: tuple[list[str], dict[str, str]], *args: str
                  ) -> subprocess.CompletedProcess:
    prefix, env = command
    return subprocess.run([*prefix, *args], env=env, cwd="/", capture_output=True, text=True,
                          timeout=30, check=False)


def assert_refused(result: subprocess.CompletedProcess, words: str) -> None:
    assert result.returncode != 0, result
    assert "Traceback" not in result.stderr, result.stderr
    assert words in result.stderr + result.stdout, result
    assert "Recording" not in result.stdout and "is running" not in result.stdout


def test_another_user_cannot_drive_the_client(headless_client, shared_home):
    run = headless_client(shared_home, NOWHERE).start()
    runtime = shared_home / "runtime" / "turbo-whisper"
    assert file_mode(shared_home / "runtime") == 0o755  # only the client's own folder protects
    assert file_mode(runtime) == 0o700
    assert file_mode(runtime / "control.sock") == 0o600
    assert file_mode(runtime / "instance.lock") == 0o600
    nobody = nobody_python(shared_home)
    for command in ("toggle", "start", "stop", "cancel"):
        assert_refused(run_as_nobody(nobody, command), "belongs to another user")
    status = run_as_nobody(nobody, "status")
    assert_refused(status, "belongs to another user")
    assert run.status()["state"] == "idle"
    assert "Recording." not in run.log()


def open_up(shared_home: Path) -> None:
    """Loosen the client's folder and socket, as a careless umask or chmod would."""
    runtime = shared_home / "runtime" / "turbo-whisper"
    runtime.chmod(0o755)
    (runtime / "control.sock").chmod(0o666)


def test_the_client_checks_who_calls_even_when_its_socket_is_opened_up(headless_client,
                                                                        shared_home):
    run = headless_client(shared_home, NOWHERE).start()
    nobody = nobody_python(shared_home)
    open_up(shared_home)
    for command in ("toggle", "start", "toggle", "start"):
        result = run_as_nobody(nobody, command)
        assert result.returncode != 0, result
        assert "Recording" not in result.stdout
    assert run.status()["state"] == "idle"
    assert "Recording." not in run.log()


def test_a_refused_command_is_one_line_without_a_traceback(headless_client, shared_home):
    headless_client(shared_home, NOWHERE).start()
    nobody = nobody_python(shared_home)
    open_up(shared_home)
    for command in ("toggle", "start", "stop", "status"):
        assert_refused(run_as_nobody(nobody, command), "permission denied")


def test_a_runtime_folder_planted_by_another_user_is_refused(tmp_path):
    """With no XDG_RUNTIME_DIR the folder is /tmp/turbo-whisper-UID, a name anybody can take
    first; the client must not put its socket and lock in a folder it does not own."""
    from turbo_whisper.control import InstanceLock

    planted = tmp_path / "turbo-whisper"
    planted.mkdir(mode=0o700)
    os.chown(planted, NOBODY, NOBODY)
    lock = InstanceLock(planted / "instance.lock")
    try:
        with pytest.raises(Exception, match="turbo-whisper"):
            lock.acquire()
    finally:
        lock.release()


# --------------------------------------------------------------------------- transcripts


def test_transcripts_are_not_logged_at_the_default_level(servers, speech, dictation):
    server = servers()
    dictation.start(server.url, [speech(PHRASE)])
    dictation.wait_log("Ready:")
    dictation.dictate()
    (text,) = dictation.wait_delivered(1)
    assert "report" in text.lower()
    shown = dictation.log(logging.INFO).lower()
    assert "report" not in shown and "friday" not in shown, shown


def test_transcripts_are_logged_at_the_debug_level_only_when_asked(servers, speech, dictation):
    server = servers()
    dictation.start(server.url, [speech(PHRASE)])
    dictation.wait_log("Ready:")
    dictation.dictate()
    dictation.wait_delivered(1)
    # Logged just after the delivery, from the same worker: wait for it, do not race it.
    line = dictation.wait_log("Transcript:", timeout=10)
    assert line.startswith("DEBUG:") and "report" in line.lower(), line


# --------------------------------------------------------------------------- the API key


def ps_lines() -> list[str]:
    """Every process's id and command line, as any user sees them with `ps`."""
    listing = subprocess.run(["ps", "-eww", "-o", "pid=,args="], capture_output=True,
                             text=True, check=True).stdout
    return [line.strip() for line in listing.splitlines()]


def secret_places(run) -> dict[str, str]:
    """Everything a user or another program can read about the running client (the test
    servers, which are given the key on their command line, left out)."""
    status = run.command("status")
    places = {
        "client log": run.log(),
        "status": status.stdout + status.stderr,
        "status --json": run.command("status", "--json").stdout,
        "ps": "\n".join(line for line in ps_lines() if "whisper_server.py" not in line),
        "command line": Path(f"/proc/{run.process.pid}/cmdline").read_bytes().decode(),
    }
    for path in run.home.rglob("*"):
        if path.is_file() and path.name != "client.log":
            places[str(path)] = path.read_bytes().decode("utf-8", errors="replace")
    return places


def test_the_api_key_never_shows(xvfb, pulse, speech, servers, client):
    server = servers(api_key=KEY)
    run = client(server.url, TURBO_WHISPER_API_KEY=KEY, TURBO_WHISPER_LOG_LEVEL="debug").start()
    run.wait_log("Ready:", timeout=30)
    dictate(run, pulse, speech(PHRASE))
    clipboard_with(xvfb, "report", run)
    server.fault("status:401")
    dictate(run, pulse, speech(PHRASE))
    run.wait_log("HTTP 401", timeout=30)
    leaks = [name for name, text in secret_places(run).items() if KEY in text]
    assert leaks == []
    environ = Path(f"/proc/{run.process.pid}/environ")
    assert KEY in environ.read_text(errors="replace")  # where it is: readable by its owner only
    assert file_mode(environ) == 0o400
    assert run.terminate() == 0


def transcribe_with(home: Path, wav: Path, server_url: str, *args: str,
                    **env: str) -> subprocess.CompletedProcess:
    variables = {k: v for k, v in os.environ.items() if not k.startswith("TURBO_WHISPER_")}
    variables.update({"HOME": str(home), "XDG_CONFIG_HOME": str(home / "config"),
                      "XDG_STATE_HOME": str(home / "state"), **env})
    return subprocess.run([sys.executable, "-m", "turbo_whisper", "transcribe", str(wav),
                           "--server-url", server_url, *args], env=variables,
                          capture_output=True, text=True, timeout=60, check=False)


def key_file(home: Path) -> Path:
    path = home / "api-key"
    home.mkdir(parents=True, exist_ok=True)
    path.write_text(KEY + "\n")
    path.chmod(0o600)
    return path


WAYS = {
    "environment": lambda home: ([], {"TURBO_WHISPER_API_KEY": KEY}),
    "file flag": lambda home: (["--api-key-file", str(key_file(home))], {}),
    "file in the environment": lambda home: ([], {"TURBO_WHISPER_API_KEY_FILE":
                                                  str(key_file(home))}),
    "file in the config": lambda home: ([], {"TURBO_WHISPER_CONFIG": str(config_with_key_file(home))}),
}


def config_with_key_file(home: Path) -> Path:
    path = home / "config.toml"
    path.write_text(f'api_key_file = "{key_file(home)}"\n')
    return path


@pytest.fixture(scope="module")
def keyed_server(tmp_path_factory, model_dir):
    from support.services import ServerLauncher

    launcher = ServerLauncher(tmp_path_factory.mktemp("keyed-server"), model_dir)
    yield launcher.start("fedirz", api_key=KEY)
    launcher.stop_all()


@pytest.mark.parametrize("way", WAYS, ids=list(WAYS))
def test_the_api_key_can_be_given_without_a_config_entry(way, keyed_server, speech, tmp_path):
    args, env = WAYS[way](tmp_path / "home")
    result = transcribe_with(tmp_path / "home", speech(PHRASE), keyed_server.url, *args, **env)
    assert result.returncode == 0, result.stderr
    assert "report" in result.stdout.lower()
    assert KEY not in result.stdout + result.stderr


@pytest.mark.parametrize("given", ["wrong-key-0123456789", None], ids=["wrong key", "no key"])
def test_a_refused_key_is_named_as_the_problem_without_showing_it(given, keyed_server, speech,
                                                                  tmp_path):
    env = {"TURBO_WHISPER_API_KEY": given} if given else {}
    result = transcribe_with(tmp_path / "home", speech(PHRASE), keyed_server.url, **env)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "'api_key'" in result.stderr and "401" in result.stderr, result.stderr
    assert KEY not in result.stderr and (given or KEY) not in result.stderr
