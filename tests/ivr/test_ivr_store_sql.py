"""The IVR record in SQL (SQLite and PostgreSQL): calls, path steps, self-service deflection, repeat callers,
and the Alembic migration matching the tables."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.ext.asyncio import AsyncEngine

from ivr.runtime import Outcome, SelfService
from ivr.store import QueuedRecorder, SqlIvrStore
from switchboard import db
from switchboard.clock import ManualClock
from switchboard.orm import Base
from switchboard.tables import import_all_tables

FLOW = """\
start: menu
prompts:
  menu: "Press 1 to restart your router, 2 for an agent."
  step: "Unplug it and plug it back."
  check: "Did that fix it? Press 1 for yes, 2 for no."
  bye: "Glad that helped."
nodes:
  menu:
    kind: menu
    prompt: menu
    options:
      - {dtmf: 1, say: restart, next: fix}
      - {dtmf: 2, next: agent}
  fix:
    kind: script
    script: router-restart
    steps: [{prompt: step, check: check}]
    resolved: bye
    unresolved: agent
    repeat_priority_bump: 5
  bye: {kind: hangup, prompt: bye, outcome: resolved}
  agent: {kind: queue, queue: support}
"""


def store_for(engine: AsyncEngine) -> SqlIvrStore:
    return SqlIvrStore(db.session_factory(engine))


async def test_a_call_and_its_path_are_recorded(kit, db_engine, tmp_path):
    store = store_for(db_engine)
    flows = kit.flows(tmp_path / "f", main=FLOW)
    clock = ManualClock(datetime(2026, 2, 2, 12, 0, tzinfo=UTC))
    runner = kit.runner(clock, recorder=store, speech=kit.speech())
    ch = kit.channel(
        kit.Speak("restart please", 0.77),
        kit.Press("2"),
        callerid="+442071234567",
        calleridname="Zoë \x00\u202e Ünïcødé " + "x" * 300,
    )
    path = await runner.run(ch, flows, "main")
    assert path.outcome == Outcome.QUEUED
    row = await store.call(ch.call_id)
    assert row is not None
    assert (row.outcome, row.queue, row.flow, row.uniqueid) == ("queued", "support", "main", "1795395982.2")
    assert row.caller_number == "+442071234567"
    assert row.caller_name.startswith("Zoë \u202e Ünïcødé") and 120 < len(row.caller_name) <= 128
    assert row.started_at == datetime(2026, 2, 2, 12, 0, tzinfo=UTC) and row.ended_at is not None
    steps = await store.steps(ch.call_id)
    assert [(s.seq, s.node, s.kind) for s in steps] == [
        (1, "menu", "menu"),
        (2, "fix#1", "script-step"),
        (3, "agent", "queue"),
    ]
    assert (steps[0].input, steps[0].recognised, steps[0].confidence) == ("speech", "restart", 0.77)
    assert steps[1].input == "dtmf:2" and steps[0].started_at.tzinfo is not None


async def test_finish_without_a_recorded_start_still_writes_the_call(kit, db_engine, clock, tmp_path):
    store = store_for(db_engine)
    flows = kit.flows(tmp_path / "f", main=FLOW)

    class StartLost(SqlIvrStore):
        async def call_started(self, start):
            raise ConnectionError("database restarting")

    runner = kit.runner(clock, recorder=StartLost(store.sessions))
    ch = kit.channel(kit.Press("2"))
    await runner.run(ch, flows, "main")
    row = await store.call(ch.call_id)
    assert row is not None and row.outcome == "queued"


async def test_deflection_counts_and_the_repeat_caller_policy_in_sql(kit, db_engine, tmp_path):
    store = store_for(db_engine)
    flows = kit.flows(tmp_path / "f", main=FLOW)
    clock = ManualClock(datetime(2026, 2, 2, 12, 0, tzinfo=UTC))
    runner = kit.runner(
        clock, recorder=store, selfservice=SelfService(store, repeat_window=timedelta(hours=24))
    )

    # caller A: fixed by the script (resolved); caller B: not fixed (queued)
    a = await runner.run(kit.channel(kit.Press("1"), kit.Press("1"), callerid="+15550001111"), flows, "main")
    b = await runner.run(kit.channel(kit.Press("1"), kit.Press("2"), callerid="+15550002222"), flows, "main")
    assert (a.outcome, b.outcome) == (Outcome.RESOLVED, Outcome.QUEUED)
    d = await store.deflection("router-restart")
    assert (d.started, d.resolved, d.rate) == (2, 1, 0.5)

    # A calls back 3 hours later: the fix did not hold -> the script is skipped, priority bumped
    await clock.advance(3 * 3600)
    ch = kit.channel(kit.Press("1"), callerid="+1 555 000 1111")
    again = await runner.run(ch, flows, "main")
    assert again.outcome == Outcome.QUEUED
    assert kit.queue.requests[-1].priority == 5
    assert not any(s.kind == "script-step" for s in again.steps)
    assert (await store.deflection("router-restart")).started == 2  # a skip is not a new start

    # a day later the window has passed: the script is offered again
    await clock.advance(24 * 3600)
    later = await runner.run(
        kit.channel(kit.Press("1"), kit.Press("1"), callerid="+15550001111"), flows, "main"
    )
    assert later.outcome == Outcome.RESOLVED
    assert [(x.script, x.started, x.resolved) for x in await store.deflections()] == [
        ("router-restart", 3, 2)
    ]


async def test_anonymous_callers_are_counted_but_never_treated_as_repeats(kit, db_engine, tmp_path):
    store = store_for(db_engine)
    flows = kit.flows(tmp_path / "f", main=FLOW)
    clock = ManualClock(datetime(2026, 2, 2, 12, 0, tzinfo=UTC))
    runner = kit.runner(clock, selfservice=SelfService(store, repeat_window=timedelta(hours=24)))
    for _ in range(2):
        path = await runner.run(
            kit.channel(kit.Press("1"), kit.Press("1"), callerid="anonymous"), flows, "main"
        )
        assert path.outcome == Outcome.RESOLVED
    assert (await store.deflection("router-restart")).resolved == 2


async def test_queued_recorder_never_blocks_the_call_and_writes_in_order(kit, db_engine, clock, tmp_path):
    store = store_for(db_engine)
    recorder = QueuedRecorder(store)
    flows = kit.flows(tmp_path / "f", main=FLOW)
    writer = asyncio.create_task(recorder.run())
    try:
        runner = kit.runner(clock, recorder=recorder)
        channels = [kit.channel(kit.Press("2")) for _ in range(5)]
        for ch in channels:
            await runner.run(ch, flows, "main")
        await asyncio.wait_for(recorder.drain(), 10)
    finally:
        writer.cancel()
        await asyncio.gather(writer, return_exceptions=True)
    for ch in channels:
        row = await store.call(ch.call_id)
        assert row is not None and row.outcome == "queued"


async def test_migration_matches_the_ivr_tables(fresh_database_url):
    import_all_tables()
    await db.upgrade(fresh_database_url)
    engine = db.create_engine(fresh_database_url)
    try:
        async with engine.connect() as conn:
            diffs = await conn.run_sync(
                lambda c: compare_metadata(
                    MigrationContext.configure(c, opts={"compare_type": True}), Base.metadata
                )
            )
    finally:
        await engine.dispose()
    ours = {"calls", "ivr_steps", "ivr_script_runs"}

    def table_of(diff) -> str | None:
        item = diff[0] if isinstance(diff, list) else diff
        for part in item[1:]:
            name = getattr(part, "name", None)
            table = getattr(part, "table", None)
            if table is not None and getattr(table, "name", None) in ours:
                return table.name
            if name in ours:
                return name
            if isinstance(part, str) and part in ours:
                return part
        return None

    assert [d for d in diffs if table_of(d) is not None] == []
