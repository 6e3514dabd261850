"""The reports' SQL reader (switchboard/web/reports/queries.py) on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from switchboard.db import session_factory
from switchboard.web.reports.queries import ReportDataError, ReportQueries
from tests.web.reports.seed import SCRIPT_AGENT, seed_records


async def test_reads_one_periods_calls_runs_and_ratings(db_engine: AsyncEngine) -> None:
    sessions = session_factory(db_engine)
    seeded = await seed_records(sessions)
    queries = ReportQueries(sessions)
    start = datetime.combine(seeded.first, time(0), tzinfo=UTC)
    middle, end = start + timedelta(days=1), start + timedelta(days=2)

    calls = await queries.calls(start, end)
    assert len(calls) == 6
    assert all(c.enqueued_at.tzinfo is not None for c in calls)  # aware on SQLite too
    assert {c.agent_id for c in calls} == {
        "a1",
        "a2",
        "a3",
        None,
        SCRIPT_AGENT,
        '=HYPERLINK("http://evil.example")',
    }
    assert len(await queries.calls(start, middle)) == 3  # the end is exclusive: day two is left out
    assert {c.queue for c in await queries.calls(start, end, "sales")} == {"sales"}

    runs = await queries.runs(start, end)
    assert sorted(r.resolved for r in runs) == [False, False, True, True]
    ratings = await queries.ratings(start, end)
    assert sorted(r.rating for r in ratings if r.rating is not None) == [2, 4, 5]  # unanswered left out
    assert len(ratings) == 3
    assert [r.rating for r in await queries.ratings(start, end, "sales")] == [4]


async def test_a_period_with_more_rows_than_allowed_is_refused(db_engine: AsyncEngine) -> None:
    sessions = session_factory(db_engine)
    seeded = await seed_records(sessions)
    start = datetime.combine(seeded.first, time(0), tzinfo=UTC)
    with pytest.raises(ReportDataError, match="more than 5 queued calls"):
        await ReportQueries(sessions, max_rows=5).calls(start, start + timedelta(days=2))
