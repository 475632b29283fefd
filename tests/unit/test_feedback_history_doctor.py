import os
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


def test_cues_are_played_by_a_separate_process_from_files_written_once(tmp_path, monkeypatch):
    import time

    from turbo_whisper import feedback
    from turbo_whisper.audio import decode_wav

    played = tmp_path / "played.txt"
    player = tmp_path / "paplay"
    player.write_text(f'#!/bin/sh\necho "$$ $1" >> {played}\n')
    player.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    cues = feedback.Feedback(notifications=False, sounds=True, cue_folder=tmp_path / "cues")
    files = sorted((tmp_path / "cues").iterdir())
    assert len(files) == len(CUES)
    samples, rate = decode_wav(files[0].read_bytes())
    assert rate == CUE_RATE and 0.05 < len(samples) / rate < 0.5
    cues.cue("start")
    cues.cue("done")
    deadline = time.monotonic() + 5
    while len(played.read_text().splitlines() if played.exists() else []) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    pids = {line.split()[0] for line in played.read_text().splitlines()}
    assert str(os.getpid()) not in pids and len(pids) == 2
    assert "cue-start-" in played.read_text() and "cue-done-" in played.read_text()
    again = feedback.Feedback(notifications=False, sounds=True, cue_folder=tmp_path / "cues")
    assert sorted((tmp_path / "cues").iterdir()) == files and again.sounds


def test_a_player_that_keeps_failing_turns_the_cues_off_with_one_line(tmp_path, monkeypatch,
                                                                      caplog):
    import time

    from turbo_whisper import feedback

    player = tmp_path / "paplay"
    caplog.set_level("INFO", logger="turbo_whisper")
    player.write_text("#!/bin/sh\nexit 1\n")
    player.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    cues = feedback.Feedback(notifications=False, sounds=True, cue_folder=tmp_path / "cues")
    deadline = time.monotonic() + 10
    while cues.sounds and time.monotonic() < deadline:  # each cue collects the failed players
        cues.cue("start")
        time.sleep(0.01)
    assert not cues.sounds
    for _ in range(3):  # once off, the cues stay quiet and say nothing more
        cues.cue("start")
    lines = [r.getMessage() for r in caplog.records if "Sound cues are off" in r.getMessage()]
    assert len(lines) == 1 and "paplay" in lines[0]
