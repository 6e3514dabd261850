"""SQL record of the IVR: calls with their outcome, the steps of each call's path, and self-service runs.

This module is the IVR's SQL adapter (the only one importing SQLAlchemy). Everything written is bounded and
storable: caller-controlled text is kept as received but capped, without NUL (PostgreSQL refuses it) and as
valid UTF-8.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from sqlalchemy import Float, ForeignKey, Index, String, UniqueConstraint, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from ivr.runtime.record import CallStart, IvrPath
from ivr.runtime.selfservice import Deflection
from switchboard.orm import Base

log = logging.getLogger(__name__)


def _fit(text: str | None, limit: int) -> str | None:
    if text is None:
        return None
    return text.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")[:limit]


class CallRow(Base):
    """One call's IVR record: who, which flow, how it ended, and the routing it was given."""

    __tablename__ = "calls"

    call_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    uniqueid: Mapped[str] = mapped_column(String(64), index=True)
    channel: Mapped[str] = mapped_column(String(128))
    caller_number: Mapped[str] = mapped_column(String(64), index=True)
    caller_name: Mapped[str] = mapped_column(String(128))
    flow: Mapped[str] = mapped_column(String(64))
    flow_version: Mapped[str] = mapped_column(String(32), default="")
    started_at: Mapped[datetime] = mapped_column(index=True)
    ended_at: Mapped[datetime | None] = mapped_column(nullable=True)
    outcome: Mapped[str | None] = mapped_column(String(16), nullable=True, index=True)
    outcome_detail: Mapped[str] = mapped_column(String(256), default="")
    region: Mapped[str | None] = mapped_column(String(64), nullable=True)
    priority: Mapped[int] = mapped_column(default=0)
    skill: Mapped[str | None] = mapped_column(String(64), nullable=True)
    queue: Mapped[str | None] = mapped_column(String(64), nullable=True)
    language: Mapped[str | None] = mapped_column(String(16), nullable=True)
    vip: Mapped[bool] = mapped_column(default=False)
    resolved_by: Mapped[str | None] = mapped_column(String(64), nullable=True)


class IvrStepRow(Base):
    """One step of a call's IVR path."""

    __tablename__ = "ivr_steps"

    call_id: Mapped[str] = mapped_column(ForeignKey("calls.call_id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(primary_key=True)
    flow: Mapped[str] = mapped_column(String(64))
    node: Mapped[str] = mapped_column(String(80))
    kind: Mapped[str] = mapped_column(String(16))
    input: Mapped[str | None] = mapped_column(String(128), nullable=True)
    recognised: Mapped[str | None] = mapped_column(String(512), nullable=True)
    confidence: Mapped[float | None] = mapped_column(Float, nullable=True)
    result: Mapped[str | None] = mapped_column(String(128), nullable=True)
    started_at: Mapped[datetime]
    duration_ms: Mapped[int]


class ScriptRunRow(Base):
    """One caller's pass through a self-service script (resolved_at set when they said it worked)."""

    __tablename__ = "ivr_script_runs"
    __table_args__ = (
        UniqueConstraint("script", "call_id"),
        Index("ix_ivr_script_runs_caller_script", "caller_number", "script"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    script: Mapped[str] = mapped_column(String(64))
    call_id: Mapped[str] = mapped_column(String(64))
    caller_number: Mapped[str | None] = mapped_column(String(32), nullable=True)
    started_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None] = mapped_column(nullable=True)


class SqlIvrStore:
    """Call records and self-service runs in SQL; implements CallRecordSink and SelfServiceStore."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    # ---- CallRecordSink ----------------------------------------------------------------------------------
    async def call_started(self, start: CallStart) -> None:
        async with self.sessions.begin() as session:
            session.add(_call_row(start))

    async def call_finished(self, path: IvrPath) -> None:
        async with self.sessions.begin() as session:
            row = await session.get(CallRow, path.call_id)
            if row is None:  # the start was not written (database was down then): write it all now
                row = _call_row(path.start)
                session.add(row)
            row.ended_at = path.ended
            row.outcome = path.outcome.value
            row.outcome_detail = _fit(path.detail, 256) or ""
            row.region = _fit(path.region, 64)
            row.priority = path.priority
            row.skill = _fit(path.skill, 64)
            row.queue = _fit(path.queue, 64)
            row.language = _fit(path.language, 16)
            row.vip = path.vip
            row.resolved_by = _fit(path.resolved_by, 64)
            await session.flush()
            for step in path.steps:
                session.add(IvrStepRow(
                    call_id=path.call_id, seq=step.seq, flow=_fit(step.flow, 64), node=_fit(step.node, 80),
                    kind=_fit(step.kind, 16), input=_fit(step.input, 128),
                    recognised=_fit(step.recognised, 512), confidence=step.confidence,
                    result=_fit(step.result, 128), started_at=step.started, duration_ms=step.duration_ms,
                ))  # fmt: skip

    async def steps(self, call_id: str) -> list[IvrStepRow]:
        """A call's IVR path in order (for the call record page and tests)."""
        async with self.sessions() as session:
            result = await session.scalars(
                select(IvrStepRow).where(IvrStepRow.call_id == call_id).order_by(IvrStepRow.seq)
            )
            return list(result)

    async def call(self, call_id: str) -> CallRow | None:
        async with self.sessions() as session:
            return await session.get(CallRow, call_id)

    # ---- SelfServiceStore --------------------------------------------------------------------------------
    async def script_started(self, script: str, call_id: str, caller: str | None, at: datetime) -> None:
        async with self.sessions.begin() as session:
            session.add(
                ScriptRunRow(
                    script=script[:64], call_id=call_id[:64], caller_number=_fit(caller, 32), started_at=at
                )
            )

    async def script_resolved(self, script: str, call_id: str, at: datetime) -> None:
        async with self.sessions.begin() as session:
            await session.execute(
                update(ScriptRunRow)
                .where(ScriptRunRow.script == script, ScriptRunRow.call_id == call_id)
                .values(resolved_at=at)
            )

    async def last_resolved(self, script: str, caller: str) -> datetime | None:
        async with self.sessions() as session:
            return await session.scalar(
                select(func.max(ScriptRunRow.resolved_at)).where(
                    ScriptRunRow.script == script, ScriptRunRow.caller_number == caller
                )
            )

    async def deflection(self, script: str) -> Deflection:
        async with self.sessions() as session:
            started, resolved = (await session.execute(
                select(func.count(ScriptRunRow.id), func.count(ScriptRunRow.resolved_at))
                .where(ScriptRunRow.script == script)
            )).one()  # fmt: skip
        return Deflection(script, int(started), int(resolved))

    async def deflections(self) -> list[Deflection]:
        """Counts for every script, busiest first."""
        async with self.sessions() as session:
            rows = (await session.execute(
                select(ScriptRunRow.script, func.count(ScriptRunRow.id), func.count(ScriptRunRow.resolved_at))
                .group_by(ScriptRunRow.script).order_by(func.count(ScriptRunRow.id).desc())
            )).all()  # fmt: skip
        return [Deflection(script, int(s), int(r)) for script, s, r in rows]


def _call_row(start: CallStart) -> CallRow:
    return CallRow(
        call_id=start.call_id, uniqueid=_fit(start.uniqueid, 64) or "",
        channel=_fit(start.channel, 128) or "",
        caller_number=_fit(start.caller_number, 64) or "", caller_name=_fit(start.caller_name, 128) or "",
        flow=_fit(start.flow, 64) or "", flow_version=start.flow_version[:32], started_at=start.started,
        region=_fit(start.region, 64), outcome_detail="", priority=0, vip=False,
    )  # fmt: skip


class QueuedRecorder:
    """A CallRecordSink that never makes a caller wait for the database: writes go through a bounded queue
    drained by ``run()`` (run it in the application's TaskGroup). When the queue is full the write is
    awaited directly (back-pressure) rather than dropped; failures are logged and retried a few times."""

    def __init__(
        self, inner: SqlIvrStore, *, maxsize: int = 10_000, attempts: int = 3, retry_delay: float = 0.5
    ) -> None:
        self.inner = inner
        self._queue: asyncio.Queue[tuple[str, object]] = asyncio.Queue(maxsize)
        self.attempts = attempts
        self.retry_delay = retry_delay

    async def call_started(self, start: CallStart) -> None:
        await self._put(("call_started", start))

    async def call_finished(self, path: IvrPath) -> None:
        await self._put(("call_finished", path))

    async def _put(self, item: tuple[str, object]) -> None:
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            await self._write(*item)

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    async def run(self) -> None:
        """Write queued records forever (cancel to stop; call ``drain()`` first to flush)."""
        while True:
            method, value = await self._queue.get()
            try:
                await self._write(method, value)
            finally:
                self._queue.task_done()

    async def drain(self) -> None:
        """Wait until every queued record is written (needs ``run()`` running)."""
        await self._queue.join()

    async def _write(self, method: str, value: object) -> None:
        for attempt in range(1, self.attempts + 1):
            try:
                await getattr(self.inner, method)(value)
                return
            except Exception as exc:  # a bad record must not stop the writer for every later call
                call_id = getattr(value, "call_id", "?")
                if attempt == self.attempts:
                    log.error("ivr record lost call_id=%s method=%s error=%s", call_id, method, exc)
                    return
                log.warning(
                    "ivr record write failed, retrying call_id=%s attempt=%d error=%s", call_id, attempt, exc
                )
                await asyncio.sleep(self.retry_delay * attempt)
