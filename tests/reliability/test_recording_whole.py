"""A recording keeps every sample on a busy machine: the recorder's short blocks and small
input latency must not cost audio when its callback is kept waiting."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from support.services import stop_process, write_wav

pytestmark = pytest.mark.integration

# The recorder in its own process, with a thread that holds the interpreter lock for about
# 0.1-0.2 s at a time, as a long computation in another of the client's threads would.
RECORDER = textwrap.dedent("""
    import sys, threading, time
    import numpy as np
    from turbo_whisper.audio import Recorder

    def hog():
        while True:
            sum(range(5_000_000))  # one C call: the lock is not given up until it ends
            time.sleep(0.001)

    recorder = Recorder()
    recorder.check()
    threading.Thread(target=hog, daemon=True).start()
    recorder.start()
    print("recording", flush=True)
    sys.stdin.readline()
    np.save(sys.argv[1], recorder.stop().samples)
""")


def test_a_recording_on_a_busy_machine_has_every_sample(pulse, tmp_path):
    noise = (np.random.default_rng(7).standard_normal(16000 * 4) * 3000).astype(np.int16)
    wav = tmp_path / "noise.wav"
    # Half a second of silence after the noise: what is still on its way from the sound
    # server when the recording stops is silence, not the samples checked.
    write_wav(wav, np.concatenate([noise, np.zeros(8000, dtype=np.int16)]).tobytes())
    out = tmp_path / "recorded.npy"
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(3)]
    recorder = subprocess.Popen([sys.executable, "-c", RECORDER, str(out)],
                                env=pulse.child_env(), stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
    try:
        assert recorder.stdout.readline().strip() == "recording"
        pulse.play(wav)
        recorder.communicate("\n", timeout=30)
        assert recorder.returncode == 0
    finally:
        for process in (*spinners, recorder):
            stop_process(process)
    recorded = np.load(out)
    start = int(np.argmax(np.correlate(recorded.astype(float), noise[:1600].astype(float),
                                       mode="valid")))
    heard = recorded[start:start + len(noise)]
    # The virtual microphone passes samples through unchanged: a lost block shifts the rest.
    assert len(heard) == len(noise)
    assert np.abs(heard.astype(int) - noise).max() <= 2
