"""The IVR's queued SQL writer: call records and self-service runs written in batches, off the call path."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from ivr.runtime.record import CallStart, IvrPath
from ivr.runtime.selfservice import Deflection
from switchboard.call_path import gate

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScriptStarted:
    """A caller entered a self-service script."""

    script: str
    call_id: str
    caller: str | None
    at: datetime


@dataclass(frozen=True)
class ScriptResolved:
    """The caller said the script's fix worked."""

    script: str
    call_id: str
    at: datetime


IvrRecord = CallStart | IvrPath | ScriptStarted | ScriptResolved


class IvrWriter(Protocol):
    """Where the queue writes (``ivr.store.SqlIvrStore``) and what it reads through."""

    async def write(self, records: Sequence[IvrRecord]) -> None: ...

    async def last_resolved(self, script: str, caller: str) -> datetime | None: ...

    async def deflection(self, script: str) -> Deflection: ...


class QueuedRecorder:
    """The IVR's writer: a CallRecordSink and SelfServiceStore that never makes a caller wait for the
    database. Writes go through a bounded queue drained by ``run()`` (run it in the application's
    TaskGroup) in batches of up to ``batch`` records, one transaction each (a small batch keeps each
    write's Python work short: it runs on the event loop). When the queue is full a write is awaited
    directly (back-pressure) rather than dropped; a failed batch is retried, then written record by record
    so that one bad record cannot take the others with it, and a database outage is waited out. Reads go
    to SQL, plus what this process still holds in its queue (a caller back within seconds of a "resolved"
    is still a repeat caller).
    Cancelling ``run()`` flushes what is queued first (within ``flush_timeout``)."""

    def __init__(
        self, inner: IvrWriter, *, maxsize: int = 10_000, attempts: int = 3, retry_delay: float = 0.5,
        batch: int = 100, flush_timeout: float = 5.0, outage_patience: float = 60.0, linger: float = 0.05,
    ) -> None:  # fmt: skip
        self.inner = inner
        self._queue: asyncio.Queue[IvrRecord] = asyncio.Queue(maxsize)
        self.attempts = attempts
        self.retry_delay = retry_delay
        self.batch = batch
        self.flush_timeout = flush_timeout
        self.outage_patience = outage_patience
        self.linger = linger
        # not yet written: the caller of each started script run, and resolutions by (script, caller)
        self._callers: dict[tuple[str, str], str | None] = {}
        self._resolved: dict[tuple[str, str], datetime] = {}
        self._scripts: dict[str, list[str]] = {}  # call id -> scripts it started (to forget them)

    # ---- CallRecordSink ----------------------------------------------------------------------------------
    async def call_started(self, start: CallStart) -> None:
        await self._put(start)

    async def call_finished(self, path: IvrPath) -> None:
        await self._put(path)

    # ---- SelfServiceStore --------------------------------------------------------------------------------
    async def script_started(self, script: str, call_id: str, caller: str | None, at: datetime) -> None:
        self._callers[(script, call_id)] = caller
        self._scripts.setdefault(call_id, []).append(script)
        await self._put(ScriptStarted(script, call_id, caller, at))

    async def script_resolved(self, script: str, call_id: str, at: datetime) -> None:
        caller = self._callers.get((script, call_id))
        if caller is not None:
            self._resolved[(script, caller)] = at
        await self._put(ScriptResolved(script, call_id, at))

    async def last_resolved(self, script: str, caller: str) -> datetime | None:
        stored = await self.inner.last_resolved(script, caller)
        pending = self._resolved.get((script, caller))
        if pending is None or (stored is not None and stored >= pending):
            return stored
        return pending

    async def deflection(self, script: str) -> Deflection:
        """Counts from SQL (records still queued are not in them yet)."""
        return await self.inner.deflection(script)

    # ---- the queue ---------------------------------------------------------------------------------------
    async def _put(self, item: IvrRecord) -> None:
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            await self._write([item])

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    async def run(self) -> None:
        """Write queued records forever (cancel to stop: what is queued is flushed first)."""
        taken: IvrRecord | None = None  # off the queue, not yet written
        try:
            while True:
                taken = await self._queue.get()
                if self._queue.qsize() < self.batch - 1:
                    # Let a batch gather: a transaction costs several hops to the database driver's thread
                    # and back, whatever its size, and nobody waits for these records.
                    await asyncio.sleep(self.linger)
                await gate.quiet()  # the ACD's reactions first (switchboard/call_path.py)
                first, taken = taken, None
                await self._drain_batch([first])
        except asyncio.CancelledError:
            await self._flush_on_cancel(taken)
            raise

    async def _drain_batch(self, items: list[IvrRecord]) -> None:
        queue = self._queue
        while len(items) < self.batch and not queue.empty():
            items.append(queue.get_nowait())
        try:
            await self._write(items)
        finally:
            for _ in items:
                queue.task_done()

    async def _flush_on_cancel(self, taken: IvrRecord | None = None) -> None:
        if self._queue.empty() and taken is None:
            return
        left = self._queue.qsize() + (taken is not None)
        try:
            async with asyncio.timeout(self.flush_timeout):
                if taken is not None:
                    await self._drain_batch([taken])
                while not self._queue.empty():
                    await self._drain_batch([self._queue.get_nowait()])
            log.info("ivr records flushed on shutdown count=%d", left)
        except (TimeoutError, asyncio.CancelledError):
            log.error("ivr records lost on shutdown count=%d", self._queue.qsize())

    async def drain(self) -> None:
        """Wait until every queued record is written (needs ``run()`` running)."""
        await self._queue.join()

    async def _write(self, items: list[IvrRecord]) -> None:
        """Write a batch; retry it; then find the bad records one by one. A batch of which nothing at all goes
        in means the database is down: it is retried (with back-off) for up to ``outage_patience`` seconds."""
        delay = self.retry_delay
        give_up = asyncio.get_running_loop().time() + self.outage_patience
        attempt = 0
        while True:
            attempt += 1
            try:
                await self.inner.write(items)
                self._forget(items)
                return
            except Exception as exc:
                error = exc
            if attempt >= self.attempts:
                if len(items) == 1:
                    self._lost(items, error)
                    return
                items = await self._one_by_one(items)
                if not items:
                    return
            if asyncio.get_running_loop().time() >= give_up:
                self._lost(items, error)
                return
            log.warning("ivr record write failed, retrying count=%d attempt=%d error=%s",
                        len(items), attempt, error)  # fmt: skip
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)

    async def _one_by_one(self, items: list[IvrRecord]) -> list[IvrRecord]:
        """Write each record alone; the bad ones are logged and dropped. Returns the records still to write
        when none went in (the database, not a record, is the problem)."""
        failed = await self._each(items)
        if len(failed) == len(items):
            return items
        # the database works now: a record that failed earlier may have hit the end of an outage
        for item, exc in await self._each([item for item, _ in failed]):
            self._lost([item], exc)
        return []

    async def _each(self, items: list[IvrRecord]) -> list[tuple[IvrRecord, Exception]]:
        failed: list[tuple[IvrRecord, Exception]] = []
        for item in items:
            try:
                await self.inner.write([item])
                self._forget([item])
            except Exception as exc:
                failed.append((item, exc))
        return failed

    def _lost(self, items: list[IvrRecord], error: Exception) -> None:
        for item in items:
            log.error("ivr record lost call_id=%s record=%s error=%s", _call_id(item), type(item).__name__,
                      error)  # fmt: skip
        self._forget(items)

    def _forget(self, items: list[IvrRecord]) -> None:
        """Written (or given up): SQL answers for these from now on."""
        for item in items:
            if isinstance(item, ScriptResolved):
                caller = self._callers.pop((item.script, item.call_id), None)
                if caller is not None and self._resolved.get((item.script, caller)) == item.at:
                    del self._resolved[(item.script, caller)]
            elif isinstance(item, IvrPath):
                # the call is over and written: its unresolved script runs need no caller any more
                for script in self._scripts.pop(item.call_id, ()):
                    self._callers.pop((script, item.call_id), None)


def _call_id(record: IvrRecord) -> str:
    return record.call_id
