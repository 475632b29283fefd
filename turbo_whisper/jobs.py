"""Recordings on their way to a transcript: the Job, and the kept recordings read back."""

from __future__ import annotations

from dataclasses import dataclass

from turbo_whisper.audio import decode_wav, loudest_dbfs
from turbo_whisper.spool import SpoolEntry


@dataclass(eq=False)
class Job:
    wav: bytes
    seconds: float
    loudest_dbfs: float
    entry: SpoolEntry | None  # None only when the spool could not be written
    group: str | None = None  # parts of one long dictation share a group
    last: bool = True  # the part that completes its dictation (always true without a group)
    skip: bool = False  # a silent closing part: nothing to send, only to deliver the rest
    wordless: bool = False  # came back without words once already in this run
    waited: bool = False  # waited for the server, a retry or a restart: delivered with others


def jobs_from_entries(entries: list[SpoolEntry]
                      ) -> tuple[list[Job], list[tuple[SpoolEntry, Exception]]]:
    """Jobs for kept recordings, and those that cannot be read; the last kept part of each
    long dictation completes it."""
    loaded = []
    unreadable: list[tuple[SpoolEntry, Exception]] = []
    for entry in entries:
        try:
            wav = entry.read()
            loaded.append((entry, wav, *decode_wav(wav)))
        except (OSError, ValueError) as exc:
            unreadable.append((entry, exc))
    jobs = []
    for position, (entry, wav, samples, rate) in enumerate(loaded):
        following = loaded[position + 1][0] if position + 1 < len(loaded) else None
        last = entry.group is None or following is None or following.group != entry.group
        jobs.append(Job(wav, len(samples) / rate, loudest_dbfs(samples, rate), entry,
                        entry.group, last))
    return jobs, unreadable
