"""Recording from the microphone, WAV encoding, and level measures."""

from __future__ import annotations

import io
import logging
import os
import threading
import time
import wave
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from turbo_whisper.errors import DeviceError

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
# The first audio block comes one period of the sound device after the stream starts, and
# PortAudio sizes that period from the block size and the latency asked for. With 20 ms blocks,
# or with sounddevice's default "high" latency, it came 35-45 ms after the start through ALSA's
# pulse plugin; with 10 ms blocks and 30 ms of latency, about 17 ms. Nothing is lost under load:
# behind that plugin the sound server queues what the callback has not taken yet.
BLOCK_SECONDS = 0.01
INPUT_LATENCY_SECONDS = 0.03


@dataclass(frozen=True)
class Recording:
    samples: np.ndarray  # mono int16
    samplerate: int
    started_at: float  # wall-clock time of the key press
    cut_short: bool = False  # stopped by the length cap or a vanished device

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.samplerate


def encode_wav(samples: np.ndarray, samplerate: int) -> bytes:
    """16-bit mono PCM WAV bytes for the samples."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(samplerate)
        writer.writeframes(np.asarray(samples, dtype="<i2").tobytes())
    return buffer.getvalue()


def decode_wav(wav_bytes: bytes) -> tuple[np.ndarray, int]:
    """Mono int16 samples and the rate of a PCM WAV; ValueError if it is not one."""
    try:
        with wave.open(io.BytesIO(wav_bytes), "rb") as reader:
            width, channels = reader.getsampwidth(), reader.getnchannels()
            rate, frames = reader.getframerate(), reader.readframes(reader.getnframes())
    except (wave.Error, EOFError) as exc:
        raise ValueError(f"not a PCM WAV file ({exc or 'the file ends too early'})") from None
    if width != 2:
        raise ValueError(f"{8 * width}-bit samples; 16-bit PCM is expected")
    if rate <= 0 or channels <= 0:
        raise ValueError(f"a damaged header ({rate} Hz, {channels} channel(s))")
    samples = np.frombuffer(frames, dtype="<i2")
    if channels > 1:
        samples = samples[: len(samples) - len(samples) % channels]
        samples = samples.reshape(-1, channels).mean(axis=1).astype(np.int16)
    return samples, rate


def flac_problem() -> str | None:
    """Why FLAC cannot be encoded here (soundfile or its libsndfile missing), or None."""
    try:
        import soundfile  # noqa: F401
    except (ImportError, OSError) as exc:  # OSError: the package is there, libsndfile is not
        return f"the soundfile package cannot be loaded ({exc})"
    return None


def encode_flac(samples: np.ndarray, samplerate: int) -> bytes:
    """FLAC bytes (needs the optional soundfile package: see flac_problem)."""
    import soundfile

    buffer = io.BytesIO()
    soundfile.write(buffer, np.asarray(samples, dtype=np.int16), samplerate, format="FLAC")
    return buffer.getvalue()


def loudest_dbfs(samples: np.ndarray, samplerate: int, window_seconds: float = 0.1) -> float:
    """Level in dBFS of the loudest window: near -inf for digital silence, 0 at full scale."""
    window = max(1, int(samplerate * window_seconds))
    usable = len(samples) - len(samples) % window
    if usable == 0:
        usable, window = len(samples), max(1, len(samples))
    if usable == 0:
        return -120.0
    frames = samples[:usable].astype(np.float64).reshape(-1, window) / 32768.0
    rms = float(np.sqrt((frames**2).mean(axis=1)).max())
    return max(-120.0, 20 * np.log10(rms)) if rms > 0 else -120.0


def input_device_names() -> list[str]:
    sd = _sounddevice()
    return [
        f"{index}: {device['name']}"
        for index, device in enumerate(sd.query_devices())
        if device["max_input_channels"] > 0
    ]


def resolve_device(device: str | int | None) -> tuple[str | int | None, int]:
    """The device to open and the sample rate to record at; DeviceError in words if none."""
    sd = _sounddevice()
    try:
        info = sd.query_devices(device, "input")
    except (ValueError, sd.PortAudioError) as exc:
        names = input_device_names()
        listed = "; ".join(names) if names else "none found"
        wanted = "the default input device" if device is None else f"input device {device!r}"
        raise DeviceError(
            f"Cannot use {wanted} ({exc}). Input devices: {listed}. "
            "Set 'device' to one of these names or numbers."
        ) from None
    try:
        sd.check_input_settings(device, samplerate=SAMPLE_RATE, channels=1, dtype="int16")
        return device, SAMPLE_RATE
    except (ValueError, sd.PortAudioError):
        rate = int(info["default_samplerate"])
        log.info("Input device %r refuses 16 kHz; recording at its own %d Hz.", info["name"], rate)
        return device, rate


# What the sound devices looked like when PortAudio last read its list (None: not yet read).
_listed_with: tuple[object, ...] | None = None


def _sounddevice() -> Any:
    """The sounddevice module; PortAudio reads the device list when it is first imported."""
    global _listed_with
    if _listed_with is None:
        _listed_with = sound_setup()
    import sounddevice

    return sounddevice


def sound_setup() -> tuple[object, ...]:
    """A cheap fingerprint of what PortAudio's device list is made from: the sound cards
    (/dev/snd), the sockets of a PulseAudio or PipeWire server, and ALSA's configuration
    files. A few stat calls, so it can be looked at before every recording."""
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    server = os.environ.get("PULSE_SERVER", "")
    places = [
        server.removeprefix("unix:") if server.startswith(("unix:", "/")) else "",
        os.path.join(runtime, "pulse", "native") if runtime else "",
        os.path.join(runtime, os.environ.get("PIPEWIRE_REMOTE", "pipewire-0")) if runtime else "",
        "/etc/asound.conf",
        os.path.expanduser("~/.asoundrc"),
        os.path.join(os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config"),
                     "alsa", "asoundrc"),
    ]
    seen: list[object] = []
    for place in places:
        try:
            info = os.stat(place) if place else None
        except OSError:
            info = None
        # A server that starts again gets a new socket, an edited file a new time.
        seen.append(None if info is None else (info.st_ino, info.st_mtime_ns))
    try:
        seen.append(tuple(sorted(os.listdir("/dev/snd"))))
    except OSError:
        seen.append(None)
    return tuple(seen)


def devices_changed() -> bool:
    """Whether sound cards, a sound server or ALSA's configuration came or went since
    PortAudio read its device list."""
    return _listed_with is not None and sound_setup() != _listed_with


def reread_devices() -> bool:
    """Make PortAudio read the device list again; whether it did.

    PortAudio reads the list once, when it starts: a sound server that came up after the
    client (a login race with autostart) stays "none found", and a microphone plugged in later
    is not there. Re-initialising closes every stream, so the recorder calls this only from
    the thread that owns it with its own stream closed, and a sound cue still playing is
    waited for first.
    """
    global _listed_with
    sd = _sounddevice()
    _listed_with = sound_setup()  # before reading: a change while it reads is seen next time
    try:
        sd.wait()  # a cue of sd.play(); a no-op when nothing plays
        if sd._initialized:  # a failed earlier attempt may have left it terminated
            sd._terminate()
        sd._initialize()
    except (sd.PortAudioError, AttributeError) as exc:
        log.warning("The input devices could not be read again (%s).", exc)
        return False
    return True


class Recorder:
    """Records mono 16-bit audio from an input device between start() and stop().

    The audio callback only copies blocks; all other work happens elsewhere. With a
    pre-roll, the microphone stays open while idle and the last `preroll_ms` of audio are
    kept, so a first syllable spoken with the key press is not cut off.
    """

    def __init__(self, device: str | int | None = None, max_seconds: float = 600.0,
                 on_limit: Callable[[str], None] | None = None, preroll_ms: int = 0):
        self._device = device
        self._max_seconds = max_seconds
        self.on_limit = on_limit or (lambda reason: None)  # the app sets it once it exists
        self._preroll_ms = preroll_ms
        self._blocks: list[np.ndarray] = []
        self._read_index = 0  # blocks already handed out by read_new()
        self._idle_blocks: deque[np.ndarray] = deque()
        self._idle_frames = 0
        self._preroll_frames = 0
        self._frames = 0
        self._max_frames = 0
        self._stream: Any = None
        self._checked: tuple[str | int | None, int] | None = None  # device and rate that opened
        self._capturing = False
        self._rate = SAMPLE_RATE
        self._started_at = 0.0
        self._cut_short = False
        self._lock = threading.Lock()
        self.first_block_at: float | None = None  # monotonic time of the first audio block

    @property
    def recording(self) -> bool:
        return self._capturing

    @property
    def samplerate(self) -> int:
        return self._rate

    def check(self) -> None:
        """Fail now, in words, when the configured device cannot be used."""
        resolve_device(self._device)

    def open_idle(self) -> None:
        """With a pre-roll, open the microphone now and keep the last moments while idle."""
        if self._preroll_ms and self._stream is None:
            self._open()

    def _open(self) -> None:
        if devices_changed():  # only here: the stream is closed and this thread owns PortAudio
            log.info("The sound devices changed; reading them again.")
            self._checked = None
            reread_devices()
        try:
            self._open_stream()
        except DeviceError:
            self._checked = None
            if self._stream is not None or not reread_devices():
                raise
            log.info("Input devices were read again; trying the microphone once more.")
            self._open_stream()

    def _open_stream(self) -> None:
        sd = _sounddevice()
        # Looking the device up opens it once more: done again only after a failure or a
        # change of devices, it costs no time at the key press.
        device, self._rate = self._checked or resolve_device(self._device)
        self._preroll_frames = int(self._rate * self._preroll_ms / 1000)
        self._idle_blocks.clear()
        self._idle_frames = 0
        try:
            stream = sd.InputStream(
                device=device, samplerate=self._rate, channels=1, dtype="int16",
                blocksize=int(self._rate * BLOCK_SECONDS), latency=INPUT_LATENCY_SECONDS,
                callback=self._callback,
                finished_callback=self._finished,
            )
            stream.start()
        except sd.PortAudioError as exc:
            raise DeviceError(f"The microphone could not be opened: {exc}.") from exc
        self._stream = stream
        self._checked = (device, self._rate)

    def start(self) -> None:
        if self._stream is None or not self._stream.active or devices_changed():
            # A stream that died while idle (device unplugged) is reopened, and one opened
            # before the devices changed, since the list it was chosen from is out of date.
            self._close()
            self._open()
        with self._lock:
            self._blocks = list(self._idle_blocks)
            self._read_index = 0
            self._frames = sum(len(b) for b in self._blocks)
            self._idle_blocks.clear()
            self._idle_frames = 0
            self._cut_short = False
            self._max_frames = int(self._max_seconds * self._rate) + self._frames
            self.first_block_at = None
            self._started_at = time.time()
            self._capturing = True

    def read_new(self) -> np.ndarray:
        """The audio recorded since the previous call (or since start), without stopping."""
        with self._lock:
            blocks = self._blocks[self._read_index:]
            self._read_index = len(self._blocks)
        return np.concatenate(blocks) if blocks else np.zeros(0, dtype=np.int16)

    def blocks_since(self, index: int) -> tuple[list[np.ndarray], int]:
        """The blocks of this recording from block `index` on, and the index after them
        (for the journal, which keeps its own place apart from read_new)."""
        with self._lock:
            return self._blocks[index:], max(index, len(self._blocks))

    def level_db(self) -> float | None:
        """How loud the latest audio block is while recording, in dBFS; None when idle."""
        with self._lock:
            block = self._blocks[-1] if self._capturing and self._blocks else None
        return None if block is None else loudest_dbfs(block, self._rate)

    def _callback(self, indata: Any, frames: int, time_info: Any, status: Any) -> None:
        block = indata[:, 0].copy()
        with self._lock:
            if not self._capturing:
                self._keep_idle(block)
                return
            if self.first_block_at is None:
                self.first_block_at = time.monotonic()
            self._blocks.append(block)
            self._frames += frames
            reached = self._frames >= self._max_frames and not self._cut_short
            self._cut_short = self._cut_short or reached
        if reached:
            self.on_limit("limit")

    def _keep_idle(self, block: np.ndarray) -> None:
        self._idle_blocks.append(block)
        self._idle_frames += len(block)
        while self._idle_blocks and \
                self._idle_frames - len(self._idle_blocks[0]) >= self._preroll_frames:
            self._idle_frames -= len(self._idle_blocks.popleft())

    def _finished(self) -> None:
        # Runs when the stream ends by itself, e.g. when the device vanishes.
        with self._lock:
            vanished = self._capturing and not self._cut_short
            self._cut_short = self._cut_short or vanished
        if vanished:
            self.on_limit("device")

    def _close(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                # abort, not stop: stop() waits for a block (~15 ms) that is no longer kept,
                # and that wait would sit on the path from the key press to the text.
                stream.abort()
                stream.close()
            except Exception as exc:  # a vanished device fails here; the audio is kept
                log.warning("The microphone did not close cleanly (%s); the audio is kept.", exc)

    def stop(self) -> Recording:
        """Stop capturing and return everything recorded so far."""
        with self._lock:
            self._capturing = False
            blocks, self._blocks = self._blocks, []
        if not self._preroll_ms or self._stream is None or not self._stream.active:
            self._close()  # without a pre-roll the microphone is closed while idle
        samples = np.concatenate(blocks) if blocks else np.zeros(0, dtype=np.int16)
        samples = samples[: self._max_frames] if self._max_frames else samples
        return Recording(samples, self._rate, self._started_at, self._cut_short)

    def close(self) -> None:
        """Close the microphone for good (at shutdown)."""
        self._close()
