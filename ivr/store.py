"""SQL record of the IVR: calls with their outcome, the steps of each call's path, and self-service runs.

This module is the IVR's SQL adapter (the only one importing SQLAlchemy). Everything written is bounded and
storable: caller-controlled text is kept as received but capped, without NUL (PostgreSQL refuses it) and as
valid UTF-8.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Float,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    bindparam,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from ivr.record_queue import IvrRecord, QueuedRecorder, ScriptResolved, ScriptStarted
from ivr.runtime.record import CallStart, IvrPath, IvrStep
from ivr.runtime.selfservice import Deflection
from switchboard.orm import Base

log = logging.getLogger(__name__)

__all__ = [
    "CallRow",
    "IvrRecord",
    "IvrStepRow",
    "QueuedRecorder",
    "ScriptResolved",
    "ScriptRunRow",
    "ScriptStarted",
    "SqlIvrStore",
]


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


_CALLS = CallRow.__table__
_STEPS = IvrStepRow.__table__
_RUNS = ScriptRunRow.__table__
_LAST_RESOLVED = select(func.max(_RUNS.c.resolved_at)).where(
    _RUNS.c.script == bindparam("b_script"), _RUNS.c.caller_number == bindparam("b_caller")
)
_FINISH_FIELDS = ("ended_at", "outcome", "outcome_detail", "region", "priority", "skill", "queue", "language",
                  "vip", "resolved_by")  # fmt: skip


class SqlIvrStore:
    """Call records and self-service runs in SQL; implements CallRecordSink and SelfServiceStore.

    Writes go through ``write(records)``: one transaction of Core statements for any number of records, so
    a writer draining a queue pays one commit for a whole batch (a call's start and finish in the same batch
    become one insert).
    """

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions
        engine = sessions.kw.get("bind")
        if not isinstance(engine, AsyncEngine):
            raise TypeError("SqlIvrStore needs a session factory bound to an AsyncEngine")
        self.engine: AsyncEngine = engine

    # ---- CallRecordSink ----------------------------------------------------------------------------------
    async def call_started(self, start: CallStart) -> None:
        await self.write([start])

    async def call_finished(self, path: IvrPath) -> None:
        await self.write([path])

    # ---- SelfServiceStore (writes) -----------------------------------------------------------------------
    async def script_started(self, script: str, call_id: str, caller: str | None, at: datetime) -> None:
        await self.write([ScriptStarted(script, call_id, caller, at)])

    async def script_resolved(self, script: str, call_id: str, at: datetime) -> None:
        await self.write([ScriptResolved(script, call_id, at)])

    # ---- batches -----------------------------------------------------------------------------------------
    async def write(self, records: Sequence[IvrRecord]) -> None:
        """Write ``records`` in order, in one transaction (all or nothing)."""
        starts: dict[str, dict[str, Any]] = {}
        finishes: dict[str, IvrPath] = {}
        steps: list[dict[str, Any]] = []
        runs: list[dict[str, Any]] = []
        resolutions: list[dict[str, Any]] = []
        for record in records:
            if isinstance(record, CallStart):
                starts[record.call_id] = _call_values(record)
            elif isinstance(record, IvrPath):
                finishes[record.call_id] = record
                steps.extend(_step_values(record))
            elif isinstance(record, ScriptStarted):
                runs.append({"script": record.script[:64], "call_id": record.call_id[:64],
                             "caller_number": _fit(record.caller, 32), "started_at": record.at})  # fmt: skip
            else:
                resolutions.append({"b_script": record.script[:64], "b_call_id": record.call_id[:64],
                                    "resolved_at": record.at})  # fmt: skip
        async with self.engine.begin() as conn:
            if finishes:
                known = {cid for cid in finishes if cid in starts}
                rest = [cid for cid in finishes if cid not in starts]
                if rest:
                    found = await conn.scalars(select(_CALLS.c.call_id).where(_CALLS.c.call_id.in_(rest)))
                    existing = set(found)
                    updates = [_finish_values(finishes[cid], prefix="b_") for cid in rest if cid in existing]
                    if updates:
                        await conn.execute(
                            update(_CALLS)
                            .where(_CALLS.c.call_id == bindparam("b_call_id"))
                            .values({f: bindparam(f"b_{f}") for f in _FINISH_FIELDS}),
                            updates,
                        )
                    # the start was never written (the database was down then): write it all now
                    known.update(cid for cid in rest if cid not in existing)
                for cid in known:
                    starts[cid] = {**_call_values(finishes[cid].start), **_finish_values(finishes[cid])}
            if starts:
                await conn.execute(insert(_CALLS), [_complete(v) for v in starts.values()])
            if steps:
                await conn.execute(insert(_STEPS), steps)
            if runs:
                await conn.execute(insert(_RUNS), runs)
            if resolutions:
                await conn.execute(
                    update(_RUNS)
                    .where(_RUNS.c.script == bindparam("b_script"), _RUNS.c.call_id == bindparam("b_call_id"))
                    .values(resolved_at=bindparam("resolved_at")),
                    resolutions,
                )

    # ---- reads -------------------------------------------------------------------------------------------
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

    async def last_resolved(self, script: str, caller: str) -> datetime | None:
        # on the call path (every script entry): a prepared Core statement, no ORM session
        async with self.engine.connect() as conn:
            value = await conn.scalar(_LAST_RESOLVED, {"b_script": script[:64], "b_caller": caller[:32]})
        return _aware(value)

    async def resolved_since(self, since: datetime) -> list[tuple[str, str, datetime]]:
        """(script, caller, resolved at) of the runs resolved at or after ``since`` (loads the Redis index
        of recent resolutions, ``ivr.recent_resolutions``)."""
        query = select(_RUNS.c.script, _RUNS.c.caller_number, _RUNS.c.resolved_at).where(
            _RUNS.c.resolved_at >= since, _RUNS.c.caller_number.is_not(None)
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [(script, caller, at) for script, caller, resolved in rows if (at := _aware(resolved))]

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


def _call_values(start: CallStart) -> dict[str, Any]:
    values = {
        "call_id": start.call_id[:64], "uniqueid": _fit(start.uniqueid, 64) or "",
        "channel": _fit(start.channel, 128) or "", "caller_number": _fit(start.caller_number, 64) or "",
        "caller_name": _fit(start.caller_name, 128) or "", "flow": _fit(start.flow, 64) or "",
        "flow_version": start.flow_version[:32], "started_at": start.started,
        "region": _fit(start.region, 64),
    }  # fmt: skip
    return values


def _finish_values(path: IvrPath, prefix: str = "") -> dict[str, Any]:
    values = {
        "ended_at": path.ended, "outcome": path.outcome.value, "outcome_detail": _fit(path.detail, 256) or "",
        "region": _fit(path.region, 64), "priority": path.priority, "skill": _fit(path.skill, 64),
        "queue": _fit(path.queue, 64), "language": _fit(path.language, 16), "vip": path.vip,
        "resolved_by": _fit(path.resolved_by, 64),
    }  # fmt: skip
    if prefix:
        values = {f"{prefix}{k}": v for k, v in values.items()}
        values[f"{prefix}call_id"] = path.call_id
    return values


def _complete(values: dict[str, Any]) -> dict[str, Any]:
    """Every column of a calls row (executemany needs the same keys in every row)."""
    return {"ended_at": None, "outcome": None, "outcome_detail": "", "priority": 0, "skill": None,
            "queue": None, "language": None, "vip": False, "resolved_by": None, **values}  # fmt: skip


def _step_values(path: IvrPath) -> list[dict[str, Any]]:
    return [_step_row(path.call_id, step) for step in path.steps]


def _step_row(call_id: str, step: IvrStep) -> dict[str, Any]:
    values = {
        "call_id": call_id, "seq": step.seq, "flow": _fit(step.flow, 64), "node": _fit(step.node, 80),
        "kind": _fit(step.kind, 16), "input": _fit(step.input, 128), "recognised": _fit(step.recognised, 512),
        "confidence": step.confidence, "result": _fit(step.result, 128), "started_at": step.started,
        "duration_ms": step.duration_ms,
    }  # fmt: skip
    return values


def _aware(value: datetime | None) -> datetime | None:
    # Core reads skip the ORM's UTC type on some backends: SQLite hands back naive datetimes
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value
