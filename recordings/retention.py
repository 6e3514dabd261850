"""Retention: how long recordings are kept (days per queue, else a default; legal hold exempts), and the
sweep that deletes expired files.

A recording's ``delete_after`` is fixed when the call ends, from the policy in force then. The sweep first
marks the row deleted in one conditional UPDATE that re-checks the legal hold (so a hold placed a moment
earlier always wins), then removes the files; a file that cannot be removed is noted on the row and retried
by the next sweep. The row, its metadata and the audit log stay as the record that the recording existed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from recordings.model import Recording
from recordings.paths import PathMapper
from recordings.store import RecordingStore
from switchboard.clock import Clock

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetentionPolicy:
    """Days to keep a recording after its call ended: per queue, else the default; 0 keeps forever."""

    default_days: int
    by_queue: Mapping[str, int] = field(default_factory=dict)

    def days_for(self, queue: str | None) -> int:
        """Retention in days for a queue (the default for calls without one)."""
        if queue is not None and queue in self.by_queue:
            return self.by_queue[queue]
        return self.default_days

    def delete_after(self, queue: str | None, ended_at: datetime) -> datetime | None:
        """When a recording of ``queue`` that ended at ``ended_at`` may be deleted (None: never)."""
        days = self.days_for(queue)
        return None if days <= 0 else ended_at + timedelta(days=days)

    def table(self, ended_at: datetime) -> dict[str | None, datetime | None]:
        """delete_after for every configured queue (key None: any other queue)."""
        out: dict[str | None, datetime | None] = {q: self.delete_after(q, ended_at) for q in self.by_queue}
        out[None] = self.delete_after(None, ended_at)
        return out


@dataclass(frozen=True)
class SweepResult:
    """What one sweep did."""

    deleted: int
    files_removed: int
    files_left: int


class RetentionSweeper:
    """Deletes expired recordings' files in batches, off the event loop."""

    def __init__(self, store: RecordingStore, mapper: PathMapper, clock: Clock, *, batch: int = 200) -> None:
        self.store = store
        self.mapper = mapper
        self.clock = clock
        self.batch = batch
        self.sweeps = 0  # completed sweeps (health checks, tests)

    async def sweep(self) -> SweepResult:
        """Delete everything that has expired now (and retry files left behind before); returns counts."""
        now = self.clock.now()
        deleted = removed = left = 0
        for rec in await self.store.deleted_with_leftovers(self.batch):
            r, failures = await asyncio.to_thread(self._remove_files, rec)
            removed += r
            left += len(failures)
            await self._note(rec, failures)
        while True:
            expired = await self.store.expired(now, self.batch)
            progressed = False
            for rec in expired:
                if not await self.store.mark_deleted(rec.id, now):
                    continue  # put on legal hold (or taken by a worker) since it was listed
                progressed = True
                deleted += 1
                r, failures = await asyncio.to_thread(self._remove_files, rec)
                removed += r
                left += len(failures)
                await self._note(rec, failures)
                log.info(
                    "recording deleted by retention recording_id=%s call_id=%s files_removed=%d",
                    rec.id,
                    rec.call_id,
                    r,
                )
            if len(expired) < self.batch or not progressed:
                break
        return SweepResult(deleted, removed, left)

    def _remove_files(self, rec: Recording) -> tuple[int, list[str]]:
        removed = 0
        failures: list[str] = []
        for text in (rec.local_path, *(leg.local_path for leg in rec.legs)):
            if not text:
                continue
            path = Path(text)
            if not self.mapper.contains(path):
                log.warning("retention left a file outside the recordings directory recording_id=%s", rec.id)
                continue
            try:
                path.unlink()
                removed += 1
            except FileNotFoundError:
                pass
            except OSError as exc:
                failures.append(f"{path.name}: {exc.strerror or exc}")
        return removed, failures

    async def _note(self, rec: Recording, failures: list[str]) -> None:
        problem = ("file could not be deleted, will retry: " + "; ".join(failures)) if failures else None
        if problem:
            log.warning("retention could not delete a file recording_id=%s problem=%s", rec.id, problem)
        if problem or rec.problem:
            await self.store.set_problem(rec.id, problem)

    async def run(self, interval: float) -> None:
        """Sweep every ``interval`` seconds until cancelled; a failed sweep is logged and retried."""
        while True:
            try:
                result = await self.sweep()
                self.sweeps += 1
                if result.deleted or result.files_left:
                    log.info(
                        "retention sweep deleted=%d files_removed=%d files_left=%d",
                        result.deleted,
                        result.files_removed,
                        result.files_left,
                    )
            except Exception:
                log.exception("retention sweep failed; will retry in %.0f s", interval)
            await self.clock.sleep(interval)
