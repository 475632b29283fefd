#!/usr/bin/env python3
"""Turbo Whisper benchmarks: what the client costs on top of the server, how fast it reacts,
what it weighs at rest. Prints a Markdown table and writes benchmarks/results/*.json.

    python3 benchmarks/run.py             # the full run (about 20 minutes on 2 cores)
    python3 benchmarks/run.py --quick     # fewer repetitions, 15 s idle, 30 dictations
    python3 benchmarks/run.py --rows 1,3  # only some rows
    python3 benchmarks/run.py --commit HEAD   # measure the client as committed

Everything is real: the loopback faster-whisper server (tiny.en on the CPU), Xvfb with the
hotkey pressed through XTest, a PulseAudio null sink as microphone fed with espeak-ng speech,
the X clipboard through xclip. Redirect the output to a file rather than into `tee`: the
clipboard tool keeps a pipe open until the screen closes.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import rig  # noqa: E402
from rig import median, percentile, summary  # noqa: E402


@dataclass
class Plan:
    """How many repetitions each row makes."""

    overhead_pairs: dict[float, int]
    key_trials: int
    stop_trials: int
    idle_seconds: float
    dictations: int
    startup_runs: int
    command_runs: int
    cold_trials: int
    upload_pairs: dict[float, int]
    long_trials: int


FULL = Plan({2: 21, 10: 11, 60: 5}, 40, 15, 60.0, 300, 10, 40, 5, {10: 7, 60: 3}, 3)
QUICK = Plan({2: 5, 10: 3, 60: 1}, 12, 5, 15.0, 30, 4, 10, 2, {10: 2, 60: 1}, 1)


@dataclass
class Row:
    number: str
    measure: str
    result: str
    target: str = ""
    met: bool | None = None


@dataclass
class Run:
    plan: Plan
    services: rig.Services
    work: Path
    rows: list[Row] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    _warm: Any = None

    def warm_server(self) -> Any:
        if self._warm is None:
            self._warm = self.services.server()
        return self._warm

    def add(self, *row: Any, **kwargs: Any) -> None:
        self.rows.append(Row(*row, **kwargs))
        print(format_row(self.rows[-1]), flush=True)


def ms(seconds: float) -> str:
    if math.isnan(seconds):
        return "n/a"
    return f"{seconds * 1000:.1f} ms" if abs(seconds) < 0.1 else f"{seconds * 1000:.0f} ms"


# --------------------------------------------------------------------------- 1. overhead


def row_overhead(run: Run) -> None:
    """The client's warm transcription call against curl, same WAV, same server, interleaved."""
    from turbo_whisper.config import Settings
    from turbo_whisper.server import ServerClient

    server = run.warm_server()
    client = ServerClient(Settings(server_url=server.url))
    client.wait_until_ready()
    results: dict[float, dict[str, Any]] = {}
    for seconds, pairs in run.plan.overhead_pairs.items():
        path = run.services.clip(seconds)
        wav = path.read_bytes()
        client_call(client, wav, seconds)  # warm both paths once
        curl_call(server.url, client.model, path)
        samples: list[dict[str, float]] = []
        for index in range(pairs):
            turns = ("client", "curl") if index % 2 == 0 else ("curl", "client")
            sample: dict[str, float] = {}
            for who in turns:
                seen = len(rig.server_times(server))
                if who == "client":
                    sample["client"], sample["fresh"] = client_call(client, wav, seconds)
                else:
                    sample["curl"], sample["curl_wall"] = curl_call(server.url, client.model, path)
                sample[f"{who}_beyond_server"] = (sample[who]
                                                  - rig.next_server_time(server, seen))
            samples.append(sample)
        ratios = [s["client"] / s["curl"] for s in samples]
        results[seconds] = {
            "client_s": summary([s["client"] for s in samples]),
            "curl_s": summary([s["curl"] for s in samples]),
            "curl_wall_s": summary([s["curl_wall"] for s in samples]),
            "ratio": summary(ratios),
            "ratio_to_curl_wall": summary([s["client"] / s["curl_wall"] for s in samples]),
            "client_beyond_server_s": summary([s["client_beyond_server"] for s in samples]),
            "curl_beyond_server_s": summary([s["curl_beyond_server"] for s in samples]),
            "fresh_connections": int(sum(s["fresh"] for s in samples)), "pairs": pairs,
        }
        r = results[seconds]
        # The transcription's own time varies by several percent from call to call; the time
        # each side spends beyond the server's does not, so this ratio shows the overhead alone.
        server_s = median([s["client"] - s["client_beyond_server"] for s in samples])
        r["ratio_beyond_server"] = ((server_s + r["client_beyond_server_s"]["median"])
                                    / (server_s + r["curl_beyond_server_s"]["median"]))
        run.add("1", f"client transcribe / curl, {seconds:g} s speech",
                f"median ratio {r['ratio']['median']:.3f}, without the server's noise "
                f"{r['ratio_beyond_server']:.3f} (client {r['client_s']['median']:.3f} s, "
                f"curl {r['curl_s']['median']:.3f} s; beyond the server's own time: client "
                f"{ms(r['client_beyond_server_s']['median'])}, curl "
                f"{ms(r['curl_beyond_server_s']['median'])}; {r['fresh_connections']}/{pairs} "
                "client calls opened a connection)", "<= 1.00", r["ratio"]["median"] <= 1.0)
    client.close()
    run.data["overhead"] = results


def client_call(client: Any, wav: bytes, seconds: float) -> tuple[float, bool]:
    """Seconds for one transcription, and whether it had to open a new connection."""
    before = client.connections_opened
    started = time.perf_counter()
    text = client.transcribe(wav, duration_s=seconds)
    took = time.perf_counter() - started
    if not text.strip():
        raise RuntimeError("the client got an empty transcript")
    return took, client.connections_opened > before


def curl_call(url: str, model: str, path: Path) -> tuple[float, float]:
    """curl's own total time and the wall time with its start-up, for the same upload."""
    started = time.perf_counter()
    result = subprocess.run(
        ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{time_total}",
         "-F", f"file=@{path}", "-F", f"model={model}", f"{url}/v1/audio/transcriptions"],
        capture_output=True, text=True, check=True)
    wall = time.perf_counter() - started
    code, total = result.stdout.split()
    if code != "200":
        raise RuntimeError(f"curl got HTTP {code}")
    return float(total), wall


# --------------------------------------------------------------------------- 2, 3, 8: the hotkey


def rows_hotkey(run: Run, wanted: set[str]) -> None:
    """Key press to first audio, stop to clipboard, and long dictations, through the hotkey."""
    server = run.warm_server()
    keyboard = rig.Keyboard(run.services.xvfb.display)
    try:
        if wanted & {"2", "3"}:
            with hotkey_client(run, server, keyboard) as client:
                if "2" in wanted:
                    row_first_audio(run, client, keyboard)
                if "3" in wanted:
                    row_stop_to_clipboard(run, client, keyboard, server)
        if "2" in wanted:
            with hotkey_client(run, server, keyboard, preroll_ms=300) as client:
                row_first_audio(run, client, keyboard,
                                "with preroll_ms = 300 (mic open while idle)")
        if "8" in wanted:
            row_long_dictations(run, keyboard, server)
    finally:
        keyboard.close()


@contextlib.contextmanager
def hotkey_client(run: Run, server: Any, keyboard: rig.Keyboard,
                  **settings: Any) -> Iterator[rig.InProcessClient]:
    """The client's parts in this process, listening to the hotkey, ready to dictate."""
    folder = run.work / f"in-process-{len(list(run.work.glob('in-process-*')))}"
    client = rig.InProcessClient(server.url, folder, **settings).start()
    try:
        client.wait_ready()
        time.sleep(0.5)
        yield client
    finally:
        client.stop(keyboard)


def row_first_audio(run: Run, client: rig.InProcessClient, keyboard: rig.Keyboard,
                    variant: str = "default settings") -> None:
    trials: list[dict[str, float]] = []
    for _ in range(run.plan.key_trials):
        client.marks.clear()
        client.recorder.first_block_at = None  # idle now; start() sets it again
        pressed = keyboard.press()
        rig.wait_for(lambda: client.recorder.first_block_at is not None, 5, "the first block")
        marks = client.marks
        trials.append({
            "first_block": client.recorder.first_block_at - pressed,
            "hotkey_seen": marks.last("hotkey") - pressed,
            "open_began": marks.last("start:begin") - pressed,
            "open_returned": marks.last("start:end") - pressed,
        })
        # Random pauses: the sound server delivers audio on its own clock, and presses at a
        # fixed rhythm would see the same phase of that clock every time.
        time.sleep(random.uniform(0.2, 0.4))
        keyboard.press()
        client.wait_recording(False)
        time.sleep(random.uniform(0.2, 0.4))
    first = [t["first_block"] for t in trials]
    run.data.setdefault("first_audio", {})[variant] = {
        key: summary([t[key] for t in trials]) for key in trials[0]}
    default = variant == "default settings"
    run.add("2", f"key press -> first audio block, {variant}",
            f"median {ms(median(first))}, p95 {ms(percentile(first, 0.95))}, first press after "
            f"start {ms(first[0])} (stream open returns at "
            f"{ms(median([t['open_returned'] for t in trials]))}, hotkey seen at "
            f"{ms(median([t['hotkey_seen'] for t in trials]))})",
            "p95 <= 50 ms" if default else "",
            percentile(first, 0.95) <= 0.050 if default else None)


def dictate(run: Run, client: rig.InProcessClient, keyboard: rig.Keyboard, server: Any,
            wav: Path) -> dict[str, Any]:
    """One dictation through the hotkey: start, speak the clip, stop; times after the stop."""
    before = len(rig.server_times(server))
    keyboard.press()
    client.wait_recording(True)
    run.services.pulse.play(wav)
    time.sleep(0.3)
    client.marks.clear()
    stopped = keyboard.press()
    delivered, transcript = client.next_transcript(timeout=600)
    time.sleep(0.2)  # the server logs a request just after answering it
    served = rig.server_times(server)[before:]
    marks = client.marks
    return {
        "wait": delivered - stopped,
        "server": served[-1],  # the request that completed the dictation
        "overhead": delivered - stopped - served[-1],
        "requests": float(len(served)),
        "hotkey_seen": marks.last("hotkey") - stopped,
        "mic_close_began": marks.last("stop:begin") - stopped,
        "mic_closed": marks.last("stop:end") - stopped,
        "spool_begin": marks.last("put:begin") - stopped,
        "spool_end": marks.last("put:end") - stopped,
        "request_begin": marks.last("transcribe:begin") - stopped,
        "request_end": marks.last("transcribe:end") - stopped,
        "clipboard": delivered - marks.last("transcribe:end"),
        "client_http_minus_server": (marks.last("transcribe:end") - marks.last("transcribe:begin")
                                     - served[-1]),
        "transcript": transcript,
    }


def numbers_of(trials: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {key: summary([t[key] for t in trials]) for key in trials[0]
            if isinstance(trials[0][key], float)}


def row_stop_to_clipboard(run: Run, client: rig.InProcessClient, keyboard: rig.Keyboard,
                          server: Any) -> None:
    phrase = run.services.phrase()
    trials = [dictate(run, client, keyboard, server, phrase) for _ in range(run.plan.stop_trials)]
    numbers = numbers_of(trials)
    run.data["stop_to_clipboard"] = {"summary": numbers,
                                     "transcripts": [t["transcript"] for t in trials]}
    overhead = numbers["overhead"]["median"]
    parts = (f"mic closed {ms(numbers['mic_closed']['median'])}, spooled "
             f"{ms(numbers['spool_end']['median'])}, request sent "
             f"{ms(numbers['request_begin']['median'])}, HTTP beyond server "
             f"{ms(numbers['client_http_minus_server']['median'])}, clipboard "
             f"{ms(numbers['clipboard']['median'])}")
    run.add("3", "stop -> text in clipboard, minus server time",
            f"median {ms(overhead)} (total {ms(numbers['wait']['median'])}, server "
            f"{ms(numbers['server']['median'])}; after the key press: {parts})", "<= 30 ms",
            overhead <= 0.030)


def row_long_dictations(run: Run, keyboard: rig.Keyboard, server: Any) -> None:
    """Wait after stop for 10 s and 60 s of speech, with splitting at pauses off and on."""
    results: dict[str, Any] = {}
    for split in (False, True):
        label = "split at pauses" if split else "whole clip at stop"
        with hotkey_client(run, server, keyboard, split_at_pauses=split) as client:
            for seconds in (10, 60):
                trials = [dictate(run, client, keyboard, server, run.services.clip(seconds))
                          for _ in range(run.plan.long_trials)]
                errors = [word_error_rate(run.services.script(seconds), t["transcript"])
                          for t in trials]
                r = results[f"{label}, {seconds} s"] = {
                    **numbers_of(trials), "wer": summary(errors),
                    "transcripts": [t["transcript"] for t in trials]}
                run.add("8", f"wait after stop, {seconds} s of speech, {label}",
                        f"median {r['wait']['median']:.2f} s ({r['requests']['median']:.0f} "
                        f"request(s); the last one {r['server']['median']:.2f} s on the server); "
                        f"WER {r['wer']['median']:.1%}")
        ratio = (results[f"{label}, 60 s"]["wait"]["median"]
                 / results[f"{label}, 10 s"]["wait"]["median"])
        results[f"{label}, ratio"] = ratio
        run.add("8", f"wait after stop, 60 s / 10 s, {label}", f"{ratio:.2f}x", "<= 1.5x",
                ratio <= 1.5)
    run.data["long_dictations"] = results


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Word-level edit distance over the reference's length, ignoring case and punctuation."""
    said, heard = words_of(reference), words_of(hypothesis)
    previous = list(range(len(heard) + 1))
    for i, word in enumerate(said, start=1):
        current = [i]
        for j, other in enumerate(heard, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1,
                               previous[j - 1] + (word != other)))
        previous = current
    return previous[-1] / max(1, len(said))


def words_of(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split()


# --------------------------------------------------------------------------- 6. cold start


def row_cold_start(run: Run) -> None:
    """From the server's port opening to the first queued dictation's text in the clipboard."""
    trials = [cold_trial(run, number) for number in range(run.plan.cold_trials)]
    numbers = {key: summary([t[key] for t in trials]) for key in trials[0]}
    run.data["cold_start"] = numbers
    late = numbers["ready_to_clipboard"]
    run.add("6", "cold start: server ready -> first queued text in clipboard",
            f"median {late['median']:.2f} s, max {late['max']:.2f} s (request sent "
            f"{ms(numbers['ready_to_request']['median'])} after ready, max "
            f"{ms(numbers['ready_to_request']['max'])}; server {ms(numbers['server']['median'])})",
            "<= 1 s (every trial)", late["max"] <= 1.0)


def cold_trial(run: Run, number: int) -> dict[str, float]:
    server = run.services.server(start_delay=6.0, wait=False)
    opened: dict[str, float] = {}
    watcher = threading.Thread(target=watch_port_file, args=(server.port_file, opened),
                               daemon=True)
    watcher.start()
    client = rig.InProcessClient(server.url, run.work / f"cold-{number}", hotkey=False).start()
    try:
        client.app.post("start")
        client.wait_recording(True)
        run.services.pulse.play(run.services.phrase())
        time.sleep(0.3)
        client.app.post("stop")
        if "at" in opened:
            raise RuntimeError("the server was ready before the dictation was queued")
        delivered, _ = client.next_transcript(timeout=120)
        server_s = rig.next_server_time(server, 0)
        return {"ready_to_clipboard": delivered - opened["at"],
                "ready_to_request": client.marks.last("transcribe:begin") - opened["at"],
                "server": server_s}
    finally:
        client.stop()
        server.stop()


def watch_port_file(path: Path, opened: dict[str, float]) -> None:
    """Note when the server writes its port file: it listens from that moment on."""
    while not path.exists():
        time.sleep(0.001)
    opened["at"] = time.monotonic()


# --------------------------------------------------------------------------- 7. upload


def row_upload(run: Run) -> None:
    """Bytes per second of audio and transcription time, WAV against FLAC."""
    from turbo_whisper.audio import decode_wav, encode_flac
    from turbo_whisper.config import Settings
    from turbo_whisper.server import ServerClient

    server = run.warm_server()
    client = ServerClient(Settings(server_url=server.url))
    client.wait_until_ready()
    results: dict[float, dict[str, Any]] = {}
    for seconds, pairs in run.plan.upload_pairs.items():
        wav = run.services.clip(seconds).read_bytes()
        flac = encode_flac(*decode_wav(wav))

        def send_flac(wav: bytes = wav, seconds: float = seconds) -> float:
            started = time.perf_counter()  # the daemon encodes FLAC from the spooled WAV
            client.transcribe(encode_flac(*decode_wav(wav)), duration_s=seconds,
                              filename="audio.flac")
            return time.perf_counter() - started

        def send_wav(wav: bytes = wav, seconds: float = seconds) -> float:
            return client_call(client, wav, seconds)[0]

        send_flac(), send_wav()
        times: dict[str, list[float]] = {"wav": [], "flac": []}
        for index in range(pairs):
            order = (("wav", send_wav), ("flac", send_flac))
            for name, send in (order if index % 2 == 0 else order[::-1]):
                times[name].append(send())
        encode = [timed(lambda wav=wav: encode_flac(*decode_wav(wav))) for _ in range(5)]
        results[seconds] = {
            "wav_bytes_per_s": len(wav) / seconds, "flac_bytes_per_s": len(flac) / seconds,
            "wav_s": summary(times["wav"]), "flac_s": summary(times["flac"]),
            "flac_encode_s": summary(encode),
        }
        r = results[seconds]
        run.add("7", f"upload, {seconds} s speech: WAV vs FLAC",
                f"WAV {r['wav_bytes_per_s'] / 1000:.1f} kB/s, {r['wav_s']['median']:.2f} s; "
                f"FLAC {r['flac_bytes_per_s'] / 1000:.1f} kB/s "
                f"({r['flac_bytes_per_s'] / r['wav_bytes_per_s']:.0%}), {r['flac_s']['median']:.2f} s "
                f"(encode {ms(r['flac_encode_s']['median'])}); at 10 Mbit/s the upload takes "
                f"{len(wav) * 8 / 10e6:.2f} s vs {len(flac) * 8 / 10e6:.2f} s")
    client.close()
    run.data["upload"] = results


def timed(action: Any) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


# --------------------------------------------------------------------------- 4. at rest


def row_at_rest(run: Run) -> None:
    """Idle CPU and memory of `turbo-whisper run`, then memory after many dictations."""
    server = run.warm_server()
    client = user_client(run, run.work / "at-rest", server.url)
    client.start()
    try:
        client.wait_log("Ready:", timeout=60)
        time.sleep(3.0)
        rest = idle_sample(client_pid(client), run.plan.idle_seconds)
        run.add("4", f"idle CPU of `turbo-whisper run` over {run.plan.idle_seconds:g} s",
                f"{rest['cpu_percent']:.3f} % of one core", "<= 0.2 %",
                rest["cpu_percent"] <= 0.2)
        run.add("4", "resident memory at rest", f"{rest['rss_mb']:.1f} MB RSS: "
                f"{rest['rss_anon_mb']:.1f} MB its own, {rest['rss_file_mb']:.1f} MB shared "
                f"library pages; PSS {rest['pss_mb']:.1f} MB ({rest['threads']} threads, "
                f"{rest['fds']} open files)", "<= 60 MB",
                rest["rss_mb"] <= 60)
        growth = many_dictations(run, client)
    finally:
        client.stop()
    run.data["at_rest"] = {"idle": rest, **growth}
    warm, after = growth["warm"], growth["after"]
    same = after["threads"] == warm["threads"] and after["fds"] == warm["fds"]
    grown = after["rss_mb"] - warm["rss_mb"]
    run.add("4", f"after {growth['dictations']} dictations via `turbo-whisper toggle`",
            f"RSS {warm['rss_mb']:.1f} -> {after['rss_mb']:.1f} MB (+{grown:.1f} MB since the "
            f"first {growth['warmup']}, +{after['rss_mb'] - rest['rss_mb']:.1f} MB since rest); "
            f"threads {warm['threads']} -> {after['threads']}, files {warm['fds']} -> "
            f"{after['fds']}; {growth['delivered']} delivered, {growth['held']} kept after "
            "an empty transcript",
            "<= 5 MB, counts unchanged", grown <= 5 and same)


def client_pid(client: rig.ClientProcess) -> int:
    """The process id of a started client."""
    assert client.process is not None, "the client was not started"
    return client.process.pid


def idle_sample(pid: int, seconds: float) -> dict[str, float]:
    before = rig.proc_sample(pid)
    time.sleep(seconds)
    after = rig.proc_sample(pid)
    busy = after["cpu_s"] - before["cpu_s"]
    return {**after, "cpu_s": busy, "cpu_percent": 100 * busy / (after["at"] - before["at"])}


def many_dictations(run: Run, client: rig.ClientProcess) -> dict[str, Any]:
    """Dictations of 0.6 s of speech each, started and stopped by the control command."""
    toggle = [*rig.client_command(), "toggle"]
    speaker = Speaker(run.services, run.services.clip(60))
    speaker.start()
    warmup, snapshots, toggles = min(10, run.plan.dictations), {}, []
    try:
        for number in range(1, run.plan.dictations + 1):
            for pause in (0.6, 0.0):
                toggles.append(timed(lambda: subprocess.run(
                    toggle, env=client.env, check=True, capture_output=True)))
                time.sleep(pause)
            rig.wait_for(lambda: idle(client), 60, "the dictation to be delivered", 0.01)
            if number == warmup:
                time.sleep(1.0)
                snapshots["warm"] = rig.proc_sample(client_pid(client))
    finally:
        speaker.stop()
    time.sleep(2.0)
    snapshots["after"] = rig.proc_sample(client_pid(client))
    status = rig.control(client, "status")
    return {**snapshots, "dictations": run.plan.dictations, "warmup": warmup,
            "delivered": status["delivered"], "held": status.get("held", 0),
            "toggle_s": summary(toggles)}


def idle(client: rig.ClientProcess) -> bool:
    """Nothing recording, queued or being sent (a recording kept after an error counts as done)."""
    status = rig.control(client, "status")
    settled = status["pending"] - status.get("held", 0) == 0
    return status["state"] == "idle" and status["work"] == "idle" and settled


class Speaker:
    """Plays a clip into the virtual microphone over and over until stopped."""

    def __init__(self, services: rig.Services, clip: Path) -> None:
        self._services, self._clip = services, clip
        self._stop = threading.Event()
        self._player: subprocess.Popen | None = None
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._player = self._services.pulse.play_async(self._clip)
            self._player.wait()

    def stop(self) -> None:
        self._stop.set()
        if self._player is not None:
            rig.stop_process(self._player)
        self._thread.join(5)


# --------------------------------------------------------------------------- 5. start-up


def row_startup(run: Run) -> None:
    """`turbo-whisper run` to ready without a server, and the desktop-shortcut commands."""
    nowhere = f"http://127.0.0.1:{rig_free_port()}"
    ready = [run_to_ready(run, nowhere, number) for number in range(run.plan.startup_runs)]
    run.add("5", "`turbo-whisper run` -> ready (no server)",
            f"median {ms(median(ready))}, max {ms(max(ready))}")
    server = run.warm_server()
    client = user_client(run, run.work / "commands", server.url)
    client.start()
    try:
        results: dict[str, Any] = {"run_to_ready_s": summary(ready)}
        results["python_s"] = command_times(run, [client.python, "-c", "pass"], client.env)
        for name in ("status", "toggle"):
            results[name] = command_times(run, [*rig.client_command(), name], client.env)
            run.add("5", f"`turbo-whisper {name}` end to end",
                    f"median {ms(results[name]['median'])}, p95 {ms(results[name]['p95'])} "
                    f"(bare `python -c pass`: {ms(results['python_s']['median'])})",
                    "<= 150 ms", results[name]["median"] <= 0.150)
        results["import_profile"] = import_profile(client)
    finally:
        client.stop()
    run.data["startup"] = results


def user_client(run: Run, home: Path, server_url: str) -> rig.ClientProcess:
    """The client as a user's installation runs it, with only its runtime packages."""
    return rig.ClientProcess(home, {**run.services.client_env(server_url), **rig.runtime_env()},
                             python=str(rig.runtime_python()))


def rig_free_port() -> int:
    from support.services import free_port

    return free_port()


def run_to_ready(run: Run, server_url: str, number: int) -> float:
    home = run.work / f"startup-{number}"
    client = user_client(run, home, server_url)
    started = time.monotonic()
    with open(client.log_path, "ab") as log:
        process = subprocess.Popen([*rig.client_command(), "run"], env=client.env,
                                   stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    try:
        rig.wait_for(lambda: b"is running" in client.log_path.read_bytes(), 30,
                     "the client to be running")
        return time.monotonic() - started
    finally:
        rig.stop_process(process)


def command_times(run: Run, command: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Wall times of a command: hyperfine when installed, else timed here."""
    runs = run.plan.command_runs
    if shutil.which("hyperfine"):
        export = run.work / f"hyperfine-{len(os.listdir(run.work))}.json"
        subprocess.run(["hyperfine", "-N", "--warmup", "4", "--runs", str(runs),
                        "--export-json", str(export), " ".join(command)],
                       env=env, check=True, capture_output=True)
        times = json.loads(export.read_text())["results"][0]["times"]
    else:
        for _ in range(4):
            subprocess.run(command, env=env, check=True, capture_output=True)
        times = [timed(lambda: subprocess.run(command, env=env, check=True, capture_output=True))
                 for _ in range(runs)]
    return {**summary(times), "tool": "hyperfine" if shutil.which("hyperfine") else "timed"}


def import_profile(client: rig.ClientProcess) -> list[tuple[str, float]]:
    """The slowest imports of `turbo-whisper status`, from python -X importtime."""
    result = subprocess.run([client.python, "-X", "importtime", "-m", "turbo_whisper", "status"],
                            env=client.env, capture_output=True, text=True, check=False)
    rows = []
    for line in result.stderr.splitlines():
        if line.startswith("import time:") and "|" in line and "cumulative" not in line:
            _, cumulative, name = line[len("import time:"):].split("|")
            rows.append((name.rstrip(), int(cumulative) / 1e6))
    top = sorted(((n.strip(), s) for n, s in rows if not n.startswith("   ")),
                 key=lambda item: -item[1])
    return top[:12]


# --------------------------------------------------------------------------- output


def format_row(row: Row) -> str:
    verdict = "" if row.met is None else ("met" if row.met else "**missed**")
    return f"| {row.number} | {row.measure} | {row.result} | {row.target} | {verdict} |"


def table(run: Run, info: dict[str, Any], source: dict[str, str]) -> str:
    lines = [f"Machine: {rig.describe(info)}",
             f"Client: {source['tree']} at {source['commit'][:12]}; server: loopback "
             f"faster-whisper {info['versions']['faster_whisper']}, tiny.en int8 on the CPU",
             "", "| # | measure | result | target | |", "|---|---|---|---|---|"]
    lines += [format_row(row) for row in run.rows]
    return "\n".join(lines)


def save(run: Run, info: dict[str, Any], source: dict[str, str], quick: bool) -> Path:
    rig.RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    payload = {"started": stamp, "quick": quick, "machine": info, "client": source,
               "rows": [row.__dict__ for row in run.rows], "data": run.data}
    path = rig.RESULTS / f"run-{stamp}{'-quick' if quick else ''}.json"
    text = json.dumps(payload, indent=2, default=str, ensure_ascii=False)
    path.write_text(text)
    (rig.RESULTS / "latest.json").write_text(text)
    return path


ROWS = ("1", "7", "2", "3", "8", "6", "5", "4")  # the order they run in


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions, shorter idle")
    parser.add_argument("--rows", default=",".join(sorted(ROWS)),
                        help="comma-separated row numbers (default: all)")
    parser.add_argument("--source", metavar="DIR",
                        help="measure the turbo_whisper package inside DIR (e.g. with a patch)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs)")
    parser.add_argument("--commit", metavar="REV",
                        help="measure the client as committed at REV instead of the working tree")
    args = parser.parse_args(argv)
    wanted = set(args.rows.split(","))
    work = Path(tempfile.mkdtemp(prefix="turbo-whisper-bench-"))
    if args.source:
        source = {"commit": "", "tree": f"client package from {args.source}"}
        rig.use_source(Path(args.source).resolve())
    elif args.commit:
        source = rig.export_commit(args.commit, work / "source")
        rig.use_source(work / "source")
    else:
        source = rig.working_tree()
    info = rig.machine()
    print(f"Machine: {rig.describe(info)}\nClient: {source['tree']} at {source['commit'][:12]}\n",
          flush=True)
    services = rig.Services(work).start()
    rig.quiet_logging(work / "client.log")
    run = Run(QUICK if args.quick else FULL, services, work)
    hotkey_rows = wanted & {"2", "3", "8"}
    try:
        for number in ROWS:
            if number not in wanted:
                continue
            try:
                if number in hotkey_rows:
                    rows_hotkey(run, hotkey_rows)
                    hotkey_rows = set()
                elif number in ROW_FUNCTIONS:
                    ROW_FUNCTIONS[number](run)
            except Exception as exc:  # one broken row must not cost the others' numbers
                traceback.print_exc()
                run.add(number, "(failed)", f"{type(exc).__name__}: {exc}")
    finally:
        services.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print()
    print(table(run, info, source))
    print(f"\nJSON: {save(run, info, source, args.quick)}")
    return 0


ROW_FUNCTIONS = {"1": row_overhead, "7": row_upload, "6": row_cold_start, "5": row_startup,
                 "4": row_at_rest}

if __name__ == "__main__":
    sys.exit(main())
