"""Start and stop the real services tests use: the loopback server, Xvfb, PulseAudio, speech.

Every service is a subprocess that is stopped through its own process id (terminate, wait,
kill); nothing here looks processes up by name.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import select
import shutil
import socket
import subprocess
import sys
import time
import wave
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

SERVER_SCRIPT = Path(__file__).with_name("whisper_server.py")
LOOPBACK = "127.0.0.1"


class ServiceError(RuntimeError):
    """A service did not start or answer as expected."""


def free_port() -> int:
    """A TCP port nothing listens on right now (bind to port 0, read it, release it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        return probe.getsockname()[1]


def port_accepts(port: int, host: str = LOOPBACK) -> bool:
    """Whether a TCP connection to the port succeeds now."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def stop_process(process: subprocess.Popen, timeout: float = 5.0) -> None:
    """Stop one process by its pid: SIGTERM, wait, then SIGKILL."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout)


def wait_until(check: Callable[[], bool], timeout: float, what: str,
               process: subprocess.Popen | None = None, interval: float = 0.05) -> None:
    """Poll `check` until it is true; fail early if `process` exits meanwhile."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if process is not None and process.poll() is not None:
            raise ServiceError(f"{what}: the process exited with {process.returncode}")
        time.sleep(interval)
    raise ServiceError(f"{what}: not ready within {timeout:g}s")


def tail(path: Path, lines: int = 30) -> str:
    """The last lines of a log file, for error messages."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# --------------------------------------------------------------------------- loopback server


class ServerHandle:
    """One running whisper_server.py process."""

    def __init__(self, process: subprocess.Popen, dialect: str, port: int | None,
                 port_file: Path, log_path: Path) -> None:
        self.process = process
        self.dialect = dialect
        self._port = port
        self.port_file = port_file
        self.log_path = log_path

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def port(self) -> int:
        if self._port is None:
            self._port = self._read_port_file()
        if self._port is None:
            raise ServiceError(f"the {self.dialect} server has not reported its port yet")
        return self._port

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def alive(self) -> bool:
        return self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = 60.0) -> ServerHandle:
        """Wait until the port accepts connections."""
        try:
            wait_until(self._accepting, timeout, f"{self.dialect} server", self.process)
        except ServiceError as exc:
            raise ServiceError(f"{exc}\n--- server log ---\n{tail(self.log_path)}") from None
        return self

    def stop(self) -> None:
        stop_process(self.process)

    def fault(self, kind: str, count: int = 1, one_recording: bool = False) -> None:
        """Make the next `count` transcription requests misbehave (see whisper_server.py);
        `one_recording`: only those of the first recording it strikes."""
        import httpx

        reply = httpx.post(f"{self.url}/__test__/fault",
                           json={"kind": kind, "count": count, "one_recording": one_recording})
        reply.raise_for_status()

    def clear_faults(self) -> None:
        """Switch every armed fault off."""
        import httpx

        httpx.delete(f"{self.url}/__test__/fault").raise_for_status()

    def stats(self) -> dict:
        """What the server has seen: transcriptions, request paths, faults, models."""
        import httpx

        reply = httpx.get(f"{self.url}/__test__/stats")
        reply.raise_for_status()
        return reply.json()

    def _read_port_file(self) -> int | None:
        try:
            return int(self.port_file.read_text())
        except (OSError, ValueError):
            return None

    def _accepting(self) -> bool:
        port = self._port if self._port is not None else self._read_port_file()
        if port is None:
            return False
        self._port = port
        return port_accepts(port)


class ServerLauncher:
    """Starts whisper_server.py processes and stops them all at the end."""

    def __init__(self, work_dir: Path, model_dir: Path | None = None) -> None:
        self.work_dir = Path(work_dir)
        self.model_dir = model_dir
        self.handles: list[ServerHandle] = []

    def start(
        self,
        dialect: str = "fedirz",
        *,
        start_delay: float = 0.0,
        download_delay: float = 0.0,
        load_delay: float = 0.0,
        api_key: str | None = None,
        installed: Sequence[str] = (),
        default_model: str | None = None,
        ttl: float | None = None,
        keepalive_timeout: float | None = None,
        extra_args: Sequence[str] = (),
        wait: bool | None = None,
        timeout: float = 60.0,
    ) -> ServerHandle:
        """Start a server; wait for its port unless `wait` is false (default: no start delay).

        With a start delay, or when not waiting, the port is chosen here so that the caller
        knows where to connect while the server is still refusing connections.
        """
        if wait is None:  # whisper.cpp refuses connections while it loads its model
            wait = start_delay <= 0 and not (dialect == "whispercpp" and download_delay > 0)
        number = len(self.handles)
        log_path = self.work_dir / f"server-{number}-{dialect}.log"
        port_file = self.work_dir / f"server-{number}.port"
        port = free_port() if (start_delay > 0 or not wait) else 0
        command = [
            sys.executable, str(SERVER_SCRIPT), "--dialect", dialect, "--host", LOOPBACK,
            "--port", str(port), "--port-file", str(port_file),
            "--start-delay", str(start_delay), "--download-delay", str(download_delay),
            "--load-delay", str(load_delay),
        ]
        command += _optional_args(
            ("--model-dir", self.model_dir), ("--api-key", api_key),
            ("--default-model", default_model), ("--ttl", ttl),
            ("--keepalive-timeout", keepalive_timeout),
        )
        for model_id in installed:
            command += ["--installed", model_id]
        command += list(extra_args)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        handle = launch_server(command, dialect, port or None, port_file, log_path)
        self.handles.append(handle)
        if wait:
            handle.wait_ready(timeout)
        return handle

    def stop_all(self) -> None:
        for handle in reversed(self.handles):
            handle.stop()


def launch_server(command: list[str], name: str, port: int | None, port_file: Path,
                  log_path: Path, env: dict[str, str] | None = None) -> ServerHandle:
    """Start one server process with its output in `log_path`."""
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log_file,
                                   stderr=subprocess.STDOUT, env=env)
    return ServerHandle(process, name, port, port_file, log_path)


def _optional_args(*pairs: tuple[str, object]) -> list[str]:
    args: list[str] = []
    for flag, value in pairs:
        if value is not None:
            args += [flag, str(value)]
    return args


# --------------------------------------------------------------------------- Xvfb


class Xvfb:
    """A virtual X display on a free display number."""

    def __init__(self, work_dir: Path, first_display: int = 90) -> None:
        self.work_dir = Path(work_dir)
        self.first_display = first_display
        self.process: subprocess.Popen | None = None
        self.display = ""

    def start(self, attempts: int = 5) -> str:
        """Start Xvfb and return its DISPLAY string, e.g. ':91'."""
        number = self.first_display
        for _ in range(attempts):
            number = _free_display_number(number)
            if self._try_display(number):
                return self.display
            number += 1
        raise ServiceError(f"Xvfb did not start; log:\n{tail(self.work_dir / 'xvfb.log')}")

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)

    def _try_display(self, number: int) -> bool:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        with open(self.work_dir / "xvfb.log", "ab") as log_file:
            process = subprocess.Popen(
                ["Xvfb", f":{number}", "-screen", "0", "1024x768x24", "-nolisten", "tcp"],
                stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
            )
        display = f":{number}"
        try:
            wait_until(lambda: _display_answers(display), 10.0, "Xvfb", process, interval=0.1)
        except ServiceError:
            stop_process(process)
            return False  # another server took the number first; try the next one
        self.process, self.display = process, display
        return True


def _free_display_number(start: int) -> int:
    number = start
    while (Path(f"/tmp/.X11-unix/X{number}").exists()
           or Path(f"/tmp/.X{number}-lock").exists()):
        number += 1
    return number


def _display_answers(display: str) -> bool:
    number = display.lstrip(":")
    if not Path(f"/tmp/.X11-unix/X{number}").exists():
        return False
    if shutil.which("xdpyinfo") is None:
        return True
    result = subprocess.run(["xdpyinfo", "-display", display], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, check=False)
    return result.returncode == 0


# --------------------------------------------------------------------------- PulseAudio


class PulseAudio:
    """A private PulseAudio with a virtual microphone `vmic` that hears the sink `vspk`.

    What is played to `vspk` (paplay -d vspk) is what a program recording from `vmic` hears.
    With `env` merged into a child's environment, python-sounddevice (PortAudio through
    ALSA's pulse plugin) lists the input devices `pulse` and `default`; both record from
    vmic, the server's default source, so the default device needs no configuration.
    """

    SINK = "vspk"
    MIC = "vmic"

    def __init__(self, work_dir: Path) -> None:
        self.root = Path(work_dir)
        self.runtime_dir = self.root / "runtime"
        self.state_dir = self.root / "state"
        self.home_dir = self.root / "home"
        self.socket_path = self.runtime_dir / "native"
        self.daemon: subprocess.Popen | None = None
        self.keeper: subprocess.Popen | None = None

    @property
    def env(self) -> dict[str, str]:
        """Variables to merge into a child process's environment to use this server."""
        variables = {
            "PULSE_SERVER": f"unix:{self.socket_path}",
            "PULSE_RUNTIME_PATH": str(self.runtime_dir),
            "PULSE_STATE_PATH": str(self.state_dir),
        }
        cookie = self.home_dir / ".config" / "pulse" / "cookie"
        if cookie.exists():
            variables["PULSE_COOKIE"] = str(cookie)
        return variables

    def start(self) -> None:
        for folder in (self.runtime_dir, self.state_dir, self.home_dir):
            folder.mkdir(parents=True, exist_ok=True)
        self.runtime_dir.chmod(0o700)
        script = self.root / "default.pa"
        script.write_text(self._script())
        # As root, pulseaudio warns that it is "not intended to be run as root" and runs;
        # --system is not needed. Its own HOME keeps it away from the real user's files.
        daemon_env = {key: value for key, value in os.environ.items()
                      if not key.startswith("PULSE_")
                      and key not in ("DISPLAY", "DBUS_SESSION_BUS_ADDRESS")}
        daemon_env.update(HOME=str(self.home_dir),
                          XDG_CONFIG_HOME=str(self.home_dir / ".config"),
                          XDG_RUNTIME_DIR=str(self.runtime_dir),
                          PULSE_RUNTIME_PATH=str(self.runtime_dir),
                          PULSE_STATE_PATH=str(self.state_dir))
        with open(self.root / "pulseaudio.log", "wb") as log_file:
            self.daemon = subprocess.Popen(
                ["pulseaudio", "-n", "-F", str(script), "--daemonize=no",
                 "--exit-idle-time=-1", "--use-pid-file=no", "--log-target=stderr"],
                stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
                env=daemon_env,
            )
        try:
            wait_until(self._answers, 15.0, "PulseAudio", self.daemon, interval=0.1)
        except ServiceError as exc:
            raise ServiceError(f"{exc}\n{tail(self.root / 'pulseaudio.log')}") from None
        self._start_keeper()
        self._wait_for_prompt_audio()

    def stop(self) -> None:
        for process in (self.keeper, self.daemon):
            if process is not None:
                stop_process(process)

    def pactl(self, *args: str) -> str:
        """Run pactl against this server and return its output."""
        result = subprocess.run(["pactl", *args], env=self.child_env(), capture_output=True,
                                text=True, timeout=10, check=False)
        if result.returncode != 0:
            raise ServiceError(f"pactl {' '.join(args)}: {result.stderr.strip()}")
        return result.stdout

    def child_env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """`base` (default: this process's environment) with this server's variables."""
        merged = dict(os.environ if base is None else base)
        merged.update(self.env)
        return merged

    def play(self, wav_path: Path, sink: str | None = None) -> None:
        """Play a WAV file into the virtual microphone (or another sink of this server) and
        return when it has finished."""
        subprocess.run(["paplay", "-d", sink or self.SINK, str(wav_path)], env=self.child_env(),
                       check=True, timeout=120)

    def play_async(self, wav_path: Path) -> subprocess.Popen:
        """Start playing a WAV file into the virtual microphone; the caller waits on it."""
        return subprocess.Popen(["paplay", "-d", self.SINK, str(wav_path)],
                                env=self.child_env(), stdin=subprocess.DEVNULL)

    def sources(self) -> list[str]:
        """Names of the sources the server has now."""
        lines = self.pactl("list", "short", "sources").splitlines()
        return [line.split("\t")[1] for line in lines if "\t" in line]

    def unload_mic(self) -> None:
        """Remove the virtual microphone, as when a USB headset is unplugged.

        Seen with PulseAudio 16: a stream recording from vmic is not ended but moved to the
        remaining source (vspk.monitor), so a sounddevice stream goes on without an error.
        """
        for line in self.pactl("list", "short", "modules").splitlines():
            fields = line.split("\t")
            if len(fields) >= 3 and fields[1] == "module-remap-source" and \
                    f"source_name={self.MIC}" in fields[2]:
                self.pactl("unload-module", fields[0])

    def load_mic(self) -> None:
        """Bring the virtual microphone back and make it the default source again."""
        if self.MIC not in self.sources():
            self.pactl("load-module", "module-remap-source",
                       f"master={self.SINK}.monitor", f"source_name={self.MIC}")
        self.pactl("set-default-source", self.MIC)

    @contextlib.contextmanager
    def stalled_mic(self, name: str = "stalledmic") -> Iterator[str]:
        """A second microphone, suspended as `pactl suspend-source NAME 1` leaves it: a
        program can open it, and no audio arrives. Yields its name (for PULSE_SOURCE)."""
        module = self.pactl("load-module", "module-remap-source",
                            f"master={self.SINK}.monitor", f"source_name={name}").strip()
        try:
            self.pactl("suspend-source", name, "1")
            yield name
        finally:
            self.pactl("unload-module", module)

    def _script(self) -> str:
        return "\n".join([
            f"load-module module-native-protocol-unix auth-anonymous=1 "
            f"socket={self.socket_path}",
            f"load-module module-null-sink sink_name={self.SINK} rate=16000 channels=1",
            f"load-module module-remap-source master={self.SINK}.monitor "
            f"source_name={self.MIC}",
            f"set-default-sink {self.SINK}",
            f"set-default-source {self.MIC}",
            "",
        ])

    def _answers(self) -> bool:
        if not self.socket_path.exists():
            return False
        try:
            return f"Default Source: {self.MIC}" in self.pactl("info")
        except (ServiceError, subprocess.TimeoutExpired):
            return False

    def _wait_for_prompt_audio(self, timeout: float = 15.0) -> None:
        """Return once a new recording from the microphone gets its first audio at once.

        Right after start-up the monitor still delivers one ~2 s block before the keeper's
        low latency takes hold; a test starting then would measure the rig, not the program.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._first_audio_delay() < 0.3:
                return
        raise ServiceError(f"the virtual microphone stayed slow to deliver for {timeout:g}s")

    def _first_audio_delay(self) -> float:
        probe = subprocess.Popen(
            ["parec", f"--device={self.MIC}", "--latency-msec=20", "--raw"],
            env=self.child_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        started = time.monotonic()
        assert probe.stdout is not None  # stdout=PIPE
        try:
            ready, _, _ = select.select([probe.stdout], [], [], 5.0)
            return time.monotonic() - started if ready else float("inf")
        finally:
            stop_process(probe)
            probe.stdout.close()

    def _start_keeper(self) -> None:
        # With no reader, a null sink's monitor delivers in ~2 s blocks, so a new recording's
        # first audio would arrive late; one low-latency reader for the session prevents it.
        self.keeper = subprocess.Popen(
            ["parec", f"--device={self.SINK}.monitor", "--latency-msec=20", "--raw"],
            env=self.child_env(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )


# --------------------------------------------------------------------------- speech


class SpeechMaker:
    """Spoken phrases as 16 kHz mono 16-bit WAV files, made by espeak-ng and sox, cached."""

    def __init__(self, cache_dir: Path) -> None:
        self.cache_dir = Path(cache_dir)
        self.cache_dir.mkdir(parents=True, exist_ok=True)

    def __call__(self, text: str, *, words_per_minute: int = 150) -> Path:
        """The WAV file of `text` spoken by espeak-ng."""
        target = self.cache_dir / f"{_slug(text)}-{words_per_minute}.wav"
        if target.exists():
            return target
        raw = target.with_suffix(".raw.wav")
        subprocess.run(["espeak-ng", "-s", str(words_per_minute), "-w", str(raw), text],
                       check=True, capture_output=True, timeout=60)
        partial = target.with_suffix(".part.wav")
        subprocess.run(["sox", str(raw), "-r", "16000", "-c", "1", "-b", "16", str(partial)],
                       check=True, capture_output=True, timeout=60)
        partial.replace(target)
        raw.unlink()
        return target

    def silence(self, seconds: float) -> Path:
        """A WAV file of digital silence, 16 kHz mono 16-bit."""
        target = self.cache_dir / f"silence-{seconds:g}s.wav"
        if not target.exists():
            write_wav(target, b"\0\0" * int(round(seconds * 16000)))
        return target


def write_wav(path: Path, pcm16: bytes, rate: int = 16000) -> None:
    """Write mono 16-bit PCM samples as a WAV file."""
    with contextlib.closing(wave.open(str(path), "wb")) as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(pcm16)


def _slug(text: str) -> str:
    words = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40]
    digest = hashlib.sha1(text.encode("utf-8")).hexdigest()[:8]
    return f"{words}-{digest}"
