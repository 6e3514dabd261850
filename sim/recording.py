"""MixMonitor: what a channel heard and played while recorded, written as an 8 kHz WAV when it stops."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sim.channels import Channel
from sim.media import mix_timeline, write_wav

if TYPE_CHECKING:
    from sim.pbx import Pbx

log = logging.getLogger(__name__)


@dataclass
class MixMonitorJob:
    """One MixMonitor() on a channel; ``bridged_only`` is the ``b`` option."""

    path: str
    bridged_only: bool
    started_at: float


def start_mixmonitor(pbx: Pbx, ch: Channel, path: str, options: str) -> None:
    """Begin recording ``ch``: MIXMONITOR_FILENAME, then MixMonitorStart."""
    job = MixMonitorJob(path=path, bridged_only="b" in options, started_at=pbx.now())
    ch.mixmonitors.append(job)
    pbx.set_var(ch, "MIXMONITOR_FILENAME", path)
    pbx.emit("MixMonitorStart", "call,all", ch.std_fields())


def stop_mixmonitors(pbx: Pbx, ch: Channel, *, emit_stop: bool) -> None:
    """Finish every MixMonitor on ``ch`` and write its file (MixMonitorStop only for StopMixMonitor)."""
    jobs = list(ch.mixmonitors)
    ch.mixmonitors.clear()
    now = pbx.now()
    for job in jobs:
        if not isinstance(job, MixMonitorJob):
            continue
        if job.bridged_only and not any(i[0] >= job.started_at or len(i) == 1 or i[1] > job.started_at
                                        for i in ch.bridge_intervals):
            continue  # "b" and never bridged: like app_mixmonitor, no file is created
        pcm = _render(ch, job, now)
        target = pbx.host_path(job.path)
        try:
            write_wav(target, pcm)
        except OSError as exc:
            log.warning("mixmonitor write failed channel=%s path=%s error=%s", ch.name, target, exc)
    if jobs and emit_stop:
        pbx.emit("MixMonitorStop", "call,all", ch.std_fields())


def _render(ch: Channel, job: MixMonitorJob, now: float) -> bytes:
    segments = [s for s in (*ch.heard, *ch.sent) if s.end > job.started_at and s.start < now]
    if not job.bridged_only:
        return mix_timeline(segments, job.started_at, now)
    parts = []
    for interval in ch.bridge_intervals:
        start = max(interval[0], job.started_at)
        end = interval[1] if len(interval) > 1 else now
        if end > start:
            parts.append(mix_timeline(segments, start, end))
    return b"".join(parts)
