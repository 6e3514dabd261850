"""The SQL behind the reports: queued calls, self-service runs and survey ratings of one period.

Read-only, over the owning domains' tables (acd_queue_calls, ivr_script_runs, surveys), only the columns the
report needs, with a row cap so one request can never pull an unbounded table into memory. The same
statements run on SQLite and PostgreSQL; SQLAlchemy errors become ``ReportDataError``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from acd.reports import Rating, ReportCall, SelfServiceRun
from acd.tables import QueueCallRow
from ivr.store import ScriptRunRow
from surveys.tables import SurveyRow

MAX_ROWS = 500_000  # per kind and request: far above a year of a mid-size site's calls


class ReportDataError(Exception):
    """The database could not answer (or the period holds more rows than one report may read)."""


class ReportQueries:
    """Reads one period's records on the controller's session factory."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], *, max_rows: int = MAX_ROWS) -> None:
        self.sessions = sessions
        self.max_rows = max_rows

    async def _rows(self, query: Select[Any], what: str) -> Sequence[Any]:
        try:
            async with self.sessions() as session:
                rows = (await session.execute(query.limit(self.max_rows + 1))).all()
        except SQLAlchemyError as exc:
            raise ReportDataError(f"database read of {what} failed: {exc.__class__.__name__}") from exc
        if len(rows) > self.max_rows:
            raise ReportDataError(f"more than {self.max_rows} {what} in this period; choose fewer days")
        return rows

    async def calls(self, start: datetime, end: datetime, queue: str | None = None) -> list[ReportCall]:
        """Queued calls enqueued in [start, end), of one queue when given."""
        t = QueueCallRow
        query = select(
            t.call_id, t.queue, t.enqueued_at, t.outcome, t.answered_at, t.ended_at, t.abandoned_at,
            t.wait_seconds, t.agent_id,
        ).where(t.enqueued_at >= start, t.enqueued_at < end)  # fmt: skip
        if queue is not None:
            query = query.where(t.queue == queue)
        return [ReportCall(*row) for row in await self._rows(query, "queued calls")]

    async def runs(self, start: datetime, end: datetime) -> list[SelfServiceRun]:
        """Self-service runs started in [start, end)."""
        t = ScriptRunRow
        query = select(t.started_at, t.resolved_at).where(t.started_at >= start, t.started_at < end)
        rows = await self._rows(query, "self-service runs")
        return [SelfServiceRun(started, resolved is not None) for started, resolved in rows]

    async def ratings(self, start: datetime, end: datetime, queue: str | None = None) -> list[Rating]:
        """Rated surveys of calls that ended in [start, end), of one queue when given."""
        t = SurveyRow
        query = select(t.call_ended_at, t.queue, t.agent_id, t.rating).where(
            t.call_ended_at >= start, t.call_ended_at < end, t.rating.is_not(None)
        )
        if queue is not None:
            query = query.where(t.queue == queue)
        return [Rating(*row) for row in await self._rows(query, "survey ratings")]
