import stat

import numpy as np

from turbo_whisper import history
from turbo_whisper.doctor import FAIL, OK, WARN, Row, render
from turbo_whisper.feedback import CUE_RATE, CUES, cue_samples


def test_cues_are_short_quiet_and_do_not_click():
    for name in CUES:
        samples = cue_samples(name)
        assert samples.dtype == np.float32
        assert 0.05 < len(samples) / CUE_RATE < 0.5
        assert np.abs(samples).max() <= 0.2 + 1e-6
        assert abs(samples[0]) < 0.01 and abs(samples[-1]) < 0.01


def test_history_appends_privately_and_reads_the_latest(tmp_path):
    path = tmp_path / "data" / "history.jsonl"
    for number in range(5):
        history.append(f"dictée {number} 🎤", 1.5 * number, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    latest = history.latest(2, path)
    assert [entry["text"] for entry in latest] == ["dictée 3 🎤", "dictée 4 🎤"]
    assert latest[-1]["seconds"] == 6.0


def test_history_skips_damaged_lines(tmp_path):
    path = tmp_path / "history.jsonl"
    path.write_text('{"text": "a"}\nnot json\n{"text": "b"}\n')
    assert [e["text"] for e in history.latest(10, path)] == ["a", "b"]
    assert history.latest(3, tmp_path / "none.jsonl") == []


def test_doctor_verdict_names_what_blocks_dictation():
    rows = [Row("server", FAIL, "down"), Row("docker", WARN, "none"), Row("clipboard", OK, "fine")]
    text = render(rows)
    assert "Dictation is blocked by: server." in text
    assert render([Row("clipboard", OK, "fine")]).endswith("Everything dictation needs is in place.")


def test_notifications_go_through_notify_send_and_are_quiet_without_it(tmp_path, monkeypatch):
    import time

    from turbo_whisper.feedback import Feedback

    seen = tmp_path / "seen.txt"
    fake = tmp_path / "notify-send"
    fake.write_text(f'#!/bin/sh\nprintf "%s|" "$@" >> {seen}\necho >> {seen}\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    Feedback(notifications=True).tell("error", "Server at X is not answering.")
    Feedback(notifications=False).tell("info", "not shown")
    deadline = time.monotonic() + 5
    while not seen.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.1)
    lines = seen.read_text().splitlines()
    assert len(lines) == 1
    assert "critical" in lines[0] and "Server at X is not answering." in lines[0]
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    Feedback(notifications=True).tell("info", "no notification service here")  # no error


def test_doctor_warns_when_flac_upload_cannot_work(monkeypatch):
    import turbo_whisper.audio as audio
    from turbo_whisper.config import Settings
    from turbo_whisper.doctor import OK, WARN, check_config

    assert check_config(Settings(upload_format="flac")).verdict == OK  # soundfile is there
    monkeypatch.setattr(audio, "flac_problem", lambda: "no module named 'soundfile'")
    row = check_config(Settings(upload_format="flac"))
    assert row.verdict == WARN and "WAV is sent" in row.detail
    assert check_config(Settings()).verdict == OK


def test_doctor_calls_a_large_model_on_the_local_stack_too_large_for_a_cpu():
    from turbo_whisper.config import CPU_MODEL, DEFAULT_MODEL, Settings
    from turbo_whisper.doctor import cpu_model_too_large

    assert cpu_model_too_large(Settings(model=DEFAULT_MODEL))
    assert not cpu_model_too_large(Settings(model=CPU_MODEL))
    assert not cpu_model_too_large(Settings(model=DEFAULT_MODEL, server_url="http://gpu-box:8000"))
    assert not cpu_model_too_large(Settings(model=DEFAULT_MODEL, engine="local"))
