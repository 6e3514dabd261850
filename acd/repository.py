"""SQL adapter of the ACD: the routing configuration and the queued-call records.

Edits go through ``AcdConfig`` (validated as a whole: every reference resolves) and are written in one
transaction, so the database never holds a half-valid configuration. SQLAlchemy errors become
``StoreError`` here.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from acd.errors import StoreError
from acd.model import (
    Absence,
    AcdConfig,
    Agent,
    AgentSkill,
    CallStatus,
    Queue,
    RelaxationStep,
    RoutingExplanation,
    VipEntry,
    WaitingCall,
)
from acd.tables import (
    AbsenceRow,
    AgentRow,
    AgentSkillRow,
    AgentSubstituteRow,
    QueueCallRow,
    QueueRow,
    RegionRow,
    RelaxationStepRow,
    SkillRow,
    VipRow,
)

log = logging.getLogger(__name__)


class AcdRepository:
    """Configuration and call records in SQL."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self._batch: ContextVar[AsyncSession | None] = ContextVar(f"acd_batch_{id(self)}", default=None)

    @asynccontextmanager
    async def _tx(self, what: str) -> AsyncIterator[AsyncSession]:
        current = self._batch.get()
        if current is not None:  # inside batch(): one transaction for several records
            yield current
            return
        try:
            async with self._sessions() as session, session.begin():
                yield session
        except SQLAlchemyError as exc:
            raise StoreError(f"database {what} failed: {exc.__class__.__name__}: {exc}") from exc

    @asynccontextmanager
    async def batch(self) -> AsyncIterator[None]:
        """Run several record writes in one transaction (the record writer's batches)."""
        try:
            async with self._sessions() as session, session.begin():
                token = self._batch.set(session)
                try:
                    yield
                finally:
                    self._batch.reset(token)
        except SQLAlchemyError as exc:
            raise StoreError(f"database batch failed: {exc.__class__.__name__}: {exc}") from exc

    # ---- configuration ----

    async def load_config(self) -> AcdConfig:
        async with self._tx("load config") as s:
            skills = frozenset((await s.scalars(select(SkillRow.name))).all())
            regions = frozenset((await s.scalars(select(RegionRow.name))).all())
            skill_rows = (await s.scalars(select(AgentSkillRow))).all()
            sub_rows = (
                await s.scalars(select(AgentSubstituteRow).order_by(AgentSubstituteRow.position))
            ).all()
            agents: dict[str, Agent] = {}
            for row in (await s.scalars(select(AgentRow))).all():
                agents[row.id] = Agent(
                    id=row.id,
                    name=row.name,
                    endpoint=row.endpoint,
                    timezone=row.timezone,
                    skills=tuple(
                        AgentSkill(r.skill, r.proficiency) for r in skill_rows if r.agent_id == row.id
                    ),
                    regions=frozenset(row.regions or ()),
                    languages=frozenset(row.languages or ()),
                    substitutes=tuple(r.substitute_id for r in sub_rows if r.agent_id == row.id),
                )
            step_rows = (
                await s.scalars(select(RelaxationStepRow).order_by(RelaxationStepRow.position))
            ).all()
            queues: dict[str, Queue] = {}
            for q in (await s.scalars(select(QueueRow))).all():
                queues[q.name] = Queue(
                    name=q.name,
                    skill=q.skill,
                    service_level_percent=q.service_level_percent,
                    service_level_seconds=q.service_level_seconds,
                    wrap_up_seconds=q.wrap_up_seconds,
                    ring_timeout_seconds=q.ring_timeout_seconds,
                    max_attempts=q.max_attempts,
                    strategy=q.strategy,  # type: ignore[arg-type]
                    min_proficiency=q.min_proficiency,
                    announce_every_seconds=q.announce_every_seconds,
                    steps=tuple(
                        RelaxationStep(r.after_seconds, r.action, r.value)  # type: ignore[arg-type]
                        for r in step_rows
                        if r.queue == q.name
                    ),
                )
            absences = tuple(
                Absence(r.id, r.agent_id, r.kind, r.starts_at, r.ends_at, r.note)  # type: ignore[arg-type]
                for r in (await s.scalars(select(AbsenceRow))).all()
            )
            vips = {
                r.number: VipEntry(r.number, r.name, r.priority_boost, r.agent_id)
                for r in (await s.scalars(select(VipRow))).all()
            }
        return AcdConfig(agents, queues, skills, regions, absences, vips)

    async def save_config(self, config: AcdConfig) -> None:
        """Replace the stored configuration with ``config`` (already validated), in one transaction."""
        skills = set(config.skills) | {s.skill for a in config.agents.values() for s in a.skills}
        skills |= {q.skill for q in config.queues.values()}
        regions = set(config.regions) | {r for a in config.agents.values() for r in a.regions}
        async with self._tx("save config") as s:
            for table in (
                VipRow,
                AbsenceRow,
                RelaxationStepRow,
                QueueRow,
                AgentSubstituteRow,
                AgentSkillRow,
                AgentRow,
                SkillRow,
                RegionRow,
            ):
                await s.execute(delete(table))
            await s.flush()
            s.add_all(SkillRow(name=n) for n in sorted(skills))
            s.add_all(RegionRow(name=n) for n in sorted(regions))
            await s.flush()
            for a in config.agents.values():
                s.add(
                    AgentRow(
                        id=a.id,
                        name=a.name,
                        endpoint=a.endpoint,
                        timezone=a.timezone,
                        regions=sorted(a.regions),
                        languages=sorted(a.languages),
                    )
                )
            await s.flush()
            for a in config.agents.values():
                s.add_all(
                    AgentSkillRow(agent_id=a.id, skill=k.skill, proficiency=k.proficiency) for k in a.skills
                )
                s.add_all(
                    AgentSubstituteRow(agent_id=a.id, position=i, substitute_id=sub)
                    for i, sub in enumerate(a.substitutes)
                )
            for q in config.queues.values():
                s.add(
                    QueueRow(
                        name=q.name,
                        skill=q.skill,
                        service_level_percent=q.service_level_percent,
                        service_level_seconds=q.service_level_seconds,
                        wrap_up_seconds=q.wrap_up_seconds,
                        ring_timeout_seconds=q.ring_timeout_seconds,
                        max_attempts=q.max_attempts,
                        strategy=q.strategy.value,
                        min_proficiency=q.min_proficiency,
                        announce_every_seconds=q.announce_every_seconds,
                    )
                )
            await s.flush()
            for q in config.queues.values():
                s.add_all(
                    RelaxationStepRow(
                        queue=q.name,
                        position=i,
                        after_seconds=st.after_seconds,
                        action=st.action.value,
                        value=st.value,
                    )
                    for i, st in enumerate(q.steps)
                )
            s.add_all(
                AbsenceRow(
                    id=x.id,
                    agent_id=x.agent_id,
                    kind=x.kind.value,
                    starts_at=x.starts_at,
                    ends_at=x.ends_at,
                    note=x.note,
                )
                for x in config.absences
            )
            s.add_all(
                VipRow(number=v.number, name=v.name, priority_boost=v.priority_boost, agent_id=v.agent_id)
                for v in config.vips.values()
            )

    async def edit_config(self, change: Callable[[AcdConfig], AcdConfig]) -> AcdConfig:
        """Load, apply ``change`` (which validates by building a new AcdConfig), save; returns the result."""
        current = await self.load_config()
        new = change(current)
        await self.save_config(new)
        return new

    # ---- queued-call records ----

    async def call_enqueued(self, call: WaitingCall) -> None:
        async with self._tx("record enqueue") as s:
            existing = await s.get(QueueCallRow, call.call_id)
            if existing is not None:
                return
            s.add(
                QueueCallRow(
                    call_id=call.call_id,
                    queue=call.queue,
                    skill=call.skill,
                    channel=call.channel,
                    uniqueid=call.uniqueid,
                    caller_number=call.caller_number,
                    priority=call.priority,
                    region=call.region,
                    language=call.language,
                    vip=call.vip,
                    reason=call.reason,
                    enqueued_at=call.enqueued_at,
                    attempts=call.attempts,
                    outcome="waiting",
                    callback=call.callback,
                    callback_number=call.callback_number,
                )
            )

    async def _update(self, call_id: str, what: str, *only_if: Any, **values: Any) -> None:
        """Update one record; writes of a call's life arrive from several tasks (and controllers) in any
        order, so each is conditional: nothing changes a call once it ended, and an answered call never
        goes back to ringing or waiting."""
        async with self._tx(what) as s:
            await s.execute(
                update(QueueCallRow)
                .where(QueueCallRow.call_id == call_id, QueueCallRow.ended_at.is_(None), *only_if)
                .values(**values)
                # No loaded objects to keep in step (short sessions): skip the ORM's in-Python evaluation
                # of the criteria, which cost more CPU on the event loop than the UPDATE itself.
                .execution_options(synchronize_session=False)
            )

    async def call_assigned(self, call: WaitingCall, agent_id: str, explanation: RoutingExplanation) -> None:
        await self._update(
            call.call_id,
            "record assignment",
            QueueCallRow.answered_at.is_(None),
            QueueCallRow.attempts <= call.attempts,
            agent_id=agent_id,
            attempts=call.attempts,
            explanation=explanation.to_dict(),
            outcome="ringing",
            queue=call.queue,
        )

    async def call_requeued(self, call: WaitingCall, note: str) -> None:
        await self._update(
            call.call_id,
            "record requeue",
            QueueCallRow.answered_at.is_(None),
            outcome="waiting",
            attempts=call.attempts,
            queue=call.queue,
            callback=call.callback,
            callback_number=call.callback_number,
            notes=note,
        )

    async def call_answered(self, call_id: str, at: datetime, agent_id: str | None) -> None:
        await self._update(call_id, "record answer", answered_at=at, outcome="connected", agent_id=agent_id)

    async def call_ended(self, call: WaitingCall, outcome: str, at: datetime) -> None:
        values: dict[str, Any] = {"outcome": outcome, "ended_at": at, "attempts": call.attempts}
        if outcome == "completed":
            values["wait_seconds"] = (call.answered_at or at).timestamp() - call.enqueued_at.timestamp()
        else:
            values["abandoned_at"] = at
            values["wait_seconds"] = call.waited(at)
        await self._update(call.call_id, "record end", **values)

    async def get_call(self, call_id: str) -> QueueCallRow | None:
        async with self._tx("read call") as s:
            return await s.get(QueueCallRow, call_id)

    async def open_calls(self) -> list[WaitingCall]:
        """Calls with no end recorded (recovery rebuilds waiting entries from these)."""
        async with self._tx("read open calls") as s:
            rows = (await s.scalars(select(QueueCallRow).where(QueueCallRow.ended_at.is_(None)))).all()
        return _open_calls(rows)

    async def open_call_for(self, uniqueid: str) -> WaitingCall | None:
        """The open call of one caller channel (an indexed read: adoption runs once per unknown caller)."""
        if not uniqueid:
            return None
        async with self._tx("read open call") as s:
            rows = (
                await s.scalars(
                    select(QueueCallRow).where(
                        QueueCallRow.uniqueid == uniqueid, QueueCallRow.ended_at.is_(None)
                    )
                )
            ).all()
        calls = _open_calls(rows)
        return calls[0] if calls else None


def _open_calls(rows: Any) -> list[WaitingCall]:
    """Open records as calls (unreadable rows are logged and skipped)."""
    out = []
    for r in rows:
        try:
            out.append(
                WaitingCall(
                    call_id=r.call_id,
                    queue=r.queue,
                    skill=r.skill,
                    channel=r.channel,
                    uniqueid=r.uniqueid,
                    enqueued_at=r.enqueued_at,
                    caller_number=r.caller_number,
                    priority=r.priority,
                    region=r.region,
                    language=r.language,
                    vip=r.vip,
                    attempts=r.attempts,
                    reason=r.reason,
                    callback=r.callback,
                    callback_number=r.callback_number,
                    status=_OPEN_STATUS.get(r.outcome, CallStatus.WAITING),
                    agent_id=r.agent_id if r.outcome in _OPEN_STATUS else None,
                    answered_at=r.answered_at,
                )
            )
        except ValueError as exc:
            log.warning("skipping unreadable queue call record call_id=%s error=%s", r.call_id, exc)
    return out


_OPEN_STATUS = {"ringing": CallStatus.RINGING, "connected": CallStatus.CONNECTED}


def with_agent(config: AcdConfig, agent: Agent) -> AcdConfig:
    """A new configuration with ``agent`` added or replaced (validated)."""
    return replace(config, agents={**config.agents, agent.id: agent})


def without_agent(config: AcdConfig, agent_id: str) -> AcdConfig:
    agents = {k: v for k, v in config.agents.items() if k != agent_id}
    return replace(config, agents=agents)


def with_queue(config: AcdConfig, queue: Queue) -> AcdConfig:
    return replace(config, queues={**config.queues, queue.name: queue})


def with_absence(config: AcdConfig, absence: Absence) -> AcdConfig:
    return replace(config, absences=(*(a for a in config.absences if a.id != absence.id), absence))


def with_vip(config: AcdConfig, vip: VipEntry) -> AcdConfig:
    return replace(config, vips={**config.vips, vip.number: vip})
