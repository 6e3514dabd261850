"""The ACD's SQL record written off the call path: a bounded queue and one writer, in order.

Routing never waits for the database: the reactions (a hang-up freeing an agent, a Redirect) only queue
their record here. One writer drains the queue in order, so one controller's writes for a call arrive in
the order they happened (the repository's conditional updates absorb the interleaving with other
controllers). When the writer is not running (unit tests, tools) records are written at once; when the
queue is full, the caller writes inline rather than drop the record.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from acd.errors import StoreError
from acd.repository import AcdRepository
from switchboard.call_path import gate

log = logging.getLogger(__name__)

FLUSH_ON_STOP_SECONDS = 2.0
BATCH = 100  # records per transaction at most


class RecordWriter:
    """Queues ``AcdRepository`` method calls and applies them in order from one task."""

    def __init__(self, repository: AcdRepository, *, maxsize: int = 10_000) -> None:
        self.repository = repository
        self._queue: asyncio.Queue[tuple[str, tuple[Any, ...]]] = asyncio.Queue(maxsize)
        self._running = False
        self.written = 0  # bumped after each write: readers caching records can tell theirs are stale

    async def record(self, method: str, *args: Any) -> None:
        """Queue one write (or do it now when no writer runs or the queue is full)."""
        if self._running:
            try:
                self._queue.put_nowait((method, args))
                return
            except asyncio.QueueFull:
                log.warning("acd record queue full; writing inline method=%s", method)
        await self._write(method, args)

    async def run(self) -> None:
        """Drain the queue until cancelled (whatever is queued goes in one transaction); on cancel, try
        briefly to write what is left."""
        self._running = True
        taken: list[tuple[str, tuple[Any, ...]]] = []  # off the queue, not yet written
        try:
            while True:
                taken = [await self._queue.get()]
                await gate.quiet()  # after the reaction that queued it (switchboard/call_path.py)
                batch, taken = taken, []
                while not self._queue.empty() and len(batch) < BATCH:
                    batch.append(self._queue.get_nowait())
                await self._write_batch(batch)
        finally:
            self._running = False
            await self._flush(taken)

    async def _write_batch(self, batch: list[tuple[str, tuple[Any, ...]]]) -> None:
        if len(batch) == 1:
            await self._write(*batch[0])
            return
        try:
            async with self.repository.batch():
                for method, args in batch:
                    await getattr(self.repository, method)(*args)
            self.written += 1
        except StoreError as exc:
            # One bad write must not lose the others: write them one by one.
            log.warning("acd record batch failed error=%s; writing %d records one by one", exc, len(batch))
            for method, args in batch:
                await self._write(method, args)

    async def _flush(self, taken: list[tuple[str, tuple[Any, ...]]]) -> None:
        pending = list(taken)
        while not self._queue.empty():
            pending.append(self._queue.get_nowait())
        if not pending:
            return
        try:
            async with asyncio.timeout(FLUSH_ON_STOP_SECONDS):
                for method, args in pending:
                    await self._write(method, args)
        except (TimeoutError, asyncio.CancelledError):
            log.error("acd records not written at shutdown count=%d", len(pending))

    async def _write(self, method: str, args: tuple[Any, ...]) -> None:
        """A database outage is logged, never allowed to drop a caller."""
        try:
            await getattr(self.repository, method)(*args)
            self.written += 1
        except StoreError as exc:
            log.error(
                "acd record %s failed call_id=%s error=%s", method, getattr(args[0], "call_id", args[0]), exc
            )
