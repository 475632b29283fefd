import io
import wave

import numpy as np
import pytest
import soundfile

from turbo_whisper.audio import decode_wav, encode_flac, encode_wav, loudest_dbfs


def test_wav_is_16_bit_mono_at_the_given_rate():
    samples = (np.sin(np.linspace(0, 200, 16000)) * 10000).astype(np.int16)
    wav = encode_wav(samples, 16000)
    with wave.open(io.BytesIO(wav)) as reader:
        assert (reader.getnchannels(), reader.getsampwidth(), reader.getframerate()) == (1, 2, 16000)
        assert reader.getnframes() == 16000
    back, rate = decode_wav(wav)
    assert rate == 16000 and np.array_equal(back, samples)


def test_device_rate_is_kept_in_a_valid_wav():
    samples = np.arange(-500, 500, dtype=np.int16)
    back, rate = decode_wav(encode_wav(samples, 44100))
    assert rate == 44100 and np.array_equal(back, samples)


def test_stereo_wav_is_mixed_to_mono():
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(2)
        writer.setsampwidth(2)
        writer.setframerate(8000)
        writer.writeframes(np.array([100, 300, -100, -300], dtype="<i2").tobytes())
    samples, rate = decode_wav(buffer.getvalue())
    assert rate == 8000 and samples.tolist() == [200, -200]


@pytest.mark.parametrize("data", [b"", b"RIFF", b"not audio at all", b"ID3\x03\x00" + bytes(100)])
def test_not_a_wav_is_a_value_error(data):
    with pytest.raises(ValueError):
        decode_wav(data)


def test_levels():
    assert loudest_dbfs(np.zeros(16000, dtype=np.int16), 16000) == -120.0
    full = np.full(16000, 32767, dtype=np.int16)
    assert loudest_dbfs(full, 16000) == pytest.approx(0.0, abs=0.01)
    quiet = np.zeros(16000, dtype=np.int16)
    quiet[8000:9600] = 3277  # 100 ms at -20 dBFS in one second of silence
    assert loudest_dbfs(quiet, 16000) == pytest.approx(-20.0, abs=0.1)
    assert loudest_dbfs(np.zeros(0, dtype=np.int16), 16000) == -120.0


def test_idle_audio_keeps_only_the_preroll():
    from turbo_whisper.audio import Recorder

    block = np.ones((320, 1), dtype=np.int16)
    without = Recorder(preroll_ms=0)
    for _ in range(5):
        without._callback(block, 320, None, None)  # a block after stop must not break it
    with_preroll = Recorder(preroll_ms=100)
    with_preroll._preroll_frames = 1600
    for _ in range(20):
        with_preroll._callback(block, 320, None, None)
    kept = sum(len(b) for b in with_preroll._idle_blocks)
    assert 1600 <= kept < 1600 + 320


class FakeSoundDevice:
    """Stands in for sounddevice: one input device that refuses 16 kHz."""

    class PortAudioError(Exception):
        pass

    def __init__(self, refuses_16k):
        self.refuses_16k = refuses_16k

    def query_devices(self, device=None, kind=None):
        if device not in (None, "usb mic"):
            raise ValueError(f"No input device matching {device!r}")
        info = {"name": "usb mic", "max_input_channels": 1, "default_samplerate": 48000.0}
        return info if kind else [info]

    def check_input_settings(self, device, samplerate, channels, dtype):
        if self.refuses_16k and samplerate == 16000:
            raise self.PortAudioError("Invalid sample rate")


def test_a_device_that_refuses_16k_records_at_its_own_rate(monkeypatch):
    import sys

    from turbo_whisper.audio import resolve_device

    monkeypatch.setitem(sys.modules, "sounddevice", FakeSoundDevice(refuses_16k=True))
    assert resolve_device("usb mic") == ("usb mic", 48000)
    monkeypatch.setitem(sys.modules, "sounddevice", FakeSoundDevice(refuses_16k=False))
    assert resolve_device(None) == (None, 16000)


def test_an_unknown_device_is_named_with_the_ones_there_are(monkeypatch):
    import sys

    from turbo_whisper.audio import resolve_device
    from turbo_whisper.errors import DeviceError

    monkeypatch.setitem(sys.modules, "sounddevice", FakeSoundDevice(refuses_16k=False))
    with pytest.raises(DeviceError, match=r"'nosuchmic'.*0: usb mic"):
        resolve_device("nosuchmic")


def test_flac_gives_back_every_sample_in_fewer_bytes():
    rng = np.random.default_rng(7)
    voice = np.sin(np.arange(16000 * 2) / 9) * 6000 + rng.normal(0, 200, 16000 * 2)
    samples = voice.astype(np.int16)
    flac = encode_flac(samples, 16000)
    back, rate = soundfile.read(io.BytesIO(flac), dtype="int16")
    assert rate == 16000
    assert np.array_equal(back, samples)
    assert len(flac) < 0.8 * len(encode_wav(samples, 16000))


def test_the_sound_setup_changes_when_a_server_or_an_alsa_device_comes(monkeypatch, tmp_path):
    import socket

    from turbo_whisper.audio import sound_setup

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "runtime"))
    monkeypatch.setenv("PULSE_SERVER", f"unix:{tmp_path / 'native'}")
    before = sound_setup()
    assert sound_setup() == before  # nothing changed: nothing to read again
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(tmp_path / "native"))
        with_server = sound_setup()
        assert with_server != before
        (tmp_path / ".asoundrc").write_text("pcm.usb { type hw card 1 }\n")
        assert sound_setup() != with_server
