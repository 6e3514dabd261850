"""Read model of the pages: one call joined across IVR, ACD, recordings and surveys; today's IVR figures.

Read-only SQL over the owning domains' tables (each domain still owns its writes). SQLAlchemy errors become
``PagesDataError`` here, so a page shows a clear message instead of a 500 with a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from acd.tables import QueueCallRow
from ivr.store import CallRow, IvrStepRow, ScriptRunRow
from recordings.tables import RecordingRow, SegmentRow
from surveys.tables import ReplyRow, SurveyRow

MAX_STEPS = 200
MAX_SEGMENTS = 2000
MAX_PREVIOUS = 10


class PagesDataError(Exception):
    """The database could not answer a page's question."""


@dataclass(frozen=True)
class Step:
    """One IVR step: node, what the caller pressed or said (and how sure the recogniser was), the result."""

    node: str
    kind: str
    input: str | None
    recognised: str | None
    confidence: float | None
    result: str | None
    started_at: datetime


@dataclass(frozen=True)
class Segment:
    start_s: float
    end_s: float
    speaker: str
    text: str


@dataclass(frozen=True)
class PastCall:
    call_id: str
    enqueued_at: datetime
    queue: str
    outcome: str
    agent_id: str | None
    rating: int | None


@dataclass
class CallView:
    """Everything known about one call (any part may be missing: IVR-only, queue-only, unrecorded...)."""

    call_id: str
    caller_number: str = ""
    caller_name: str = ""
    region: str | None = None
    flow: str | None = None
    ivr_outcome: str | None = None
    ivr_started_at: datetime | None = None
    steps: list[Step] = field(default_factory=list)
    queue: str | None = None
    skill: str | None = None
    priority: int = 0
    vip: bool = False
    reason: str = ""
    agent_id: str | None = None
    enqueued_at: datetime | None = None
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    wait_seconds: float | None = None
    queue_outcome: str | None = None
    explanation: dict[str, Any] | None = None
    recording_id: str | None = None
    recording_state: str | None = None
    segments: list[Segment] = field(default_factory=list)
    survey_state: str | None = None
    survey_rating: int | None = None
    survey_comments: list[str] = field(default_factory=list)

    @property
    def found(self) -> bool:
        return self.flow is not None or self.queue is not None or self.recording_id is not None

    @property
    def said(self) -> list[Step]:
        """The steps where the caller spoke (recognised text) or pressed keys."""
        return [s for s in self.steps if s.recognised or s.input]


class PageQueries:
    """The SQL the pages need, on the controller's session factory."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def call(self, call_id: str) -> CallView:
        """The joined view of ``call_id`` (``found`` is False when no domain knows it)."""
        try:
            async with self.sessions() as session:
                return await self._call(session, call_id)
        except SQLAlchemyError as exc:
            raise PagesDataError(f"database read failed: {exc.__class__.__name__}") from exc

    async def _call(self, session: AsyncSession, call_id: str) -> CallView:
        view = CallView(call_id)
        ivr = await session.get(CallRow, call_id)
        if ivr is not None:
            view.caller_number, view.caller_name = ivr.caller_number, ivr.caller_name
            view.region, view.flow, view.ivr_outcome = ivr.region, ivr.flow, ivr.outcome
            view.ivr_started_at = ivr.started_at
            rows = (
                await session.scalars(
                    select(IvrStepRow).where(IvrStepRow.call_id == call_id).order_by(IvrStepRow.seq)
                    .limit(MAX_STEPS)
                )
            ).all()  # fmt: skip
            view.steps = [
                Step(r.node, r.kind, r.input, r.recognised, r.confidence, r.result, r.started_at)
                for r in rows
            ]
        queued = await session.get(QueueCallRow, call_id)
        if queued is not None:
            view.caller_number = view.caller_number or queued.caller_number
            view.region = view.region or queued.region
            view.queue, view.skill, view.priority = queued.queue, queued.skill, queued.priority
            view.vip, view.reason, view.agent_id = queued.vip, queued.reason, queued.agent_id
            view.enqueued_at, view.answered_at = queued.enqueued_at, queued.answered_at
            view.ended_at, view.wait_seconds = queued.ended_at, queued.wait_seconds
            view.queue_outcome, view.explanation = queued.outcome, queued.explanation
        recording = (
            await session.scalars(
                select(RecordingRow).where(RecordingRow.call_id == call_id)
                .order_by(RecordingRow.started_at.desc()).limit(1)
            )
        ).first()  # fmt: skip
        if recording is not None:
            view.recording_id, view.recording_state = recording.id, recording.state
            view.agent_id = view.agent_id or recording.agent_id
            view.caller_name = view.caller_name or recording.caller_name
            view.caller_number = view.caller_number or recording.caller_number
            segments = (
                await session.scalars(
                    select(SegmentRow).where(SegmentRow.recording_id == recording.id)
                    .order_by(SegmentRow.seq).limit(MAX_SEGMENTS)
                )
            ).all()  # fmt: skip
            view.segments = [Segment(s.start_s, s.end_s, s.speaker, s.text) for s in segments]
        survey = (await session.scalars(select(SurveyRow).where(SurveyRow.call_id == call_id))).first()
        if survey is not None:
            view.survey_state, view.survey_rating = survey.state, survey.rating
            replies = (await session.scalars(select(ReplyRow).where(ReplyRow.survey_id == survey.id))).all()
            view.survey_comments = [r.comment for r in replies if r.comment]
        return view

    async def previous_calls(self, number: str, before_call: str) -> list[PastCall]:
        """The caller's last queued calls (newest first) with their survey ratings; none for no number."""
        if not number:
            return []
        q = QueueCallRow
        query = (
            select(q.call_id, q.enqueued_at, q.queue, q.outcome, q.agent_id, SurveyRow.rating)
            .outerjoin(SurveyRow, SurveyRow.call_id == q.call_id)
            .where(q.caller_number == number, q.call_id != before_call)
            .order_by(q.enqueued_at.desc())
            .limit(MAX_PREVIOUS)
        )
        try:
            async with self.sessions() as session:
                rows = (await session.execute(query)).all()
        except SQLAlchemyError as exc:
            raise PagesDataError(f"database read failed: {exc.__class__.__name__}") from exc
        return [PastCall(*row) for row in rows]

    async def ivr_today(self, since: datetime) -> tuple[int, int, int]:
        """(calls in the IVR now, self-service runs started since ``since``, of which resolved)."""
        try:
            async with self.sessions() as session:
                in_ivr = await session.scalar(
                    select(func.count()).select_from(CallRow)
                    .where(CallRow.ended_at.is_(None), CallRow.started_at >= since)
                )  # fmt: skip
                started, resolved = (
                    await session.execute(
                        select(func.count(ScriptRunRow.id), func.count(ScriptRunRow.resolved_at))
                        .where(ScriptRunRow.started_at >= since)
                    )
                ).one()  # fmt: skip
        except SQLAlchemyError as exc:
            raise PagesDataError(f"database read failed: {exc.__class__.__name__}") from exc
        return int(in_ivr or 0), int(started or 0), int(resolved or 0)
