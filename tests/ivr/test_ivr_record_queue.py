"""The queued IVR writer (ivr.record_queue.QueuedRecorder over ivr.store.SqlIvrStore): batches, bad records,
repeat callers seen before the write lands, and nothing lost when the controller stops."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from ivr.runtime import CallStart, IvrPath, IvrStep, Outcome
from ivr.store import CallRow, IvrStepRow, QueuedRecorder, SqlIvrStore
from switchboard import db

T0 = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)


def start(call_id: str, caller: str = "+12125550100") -> CallStart:
    return CallStart(call_id=call_id, uniqueid=f"u-{call_id}", channel="PJSIP/carrier-1",
                     caller_number=caller, caller_name="Caller", flow="main", flow_version="v1", started=T0,
                     region="americas")


def finish(s: CallStart, outcome: Outcome = Outcome.QUEUED, steps: int = 2) -> IvrPath:
    path_steps = tuple(
        IvrStep(seq=i, flow="main", node=f"n{i}", kind="menu", started=T0, duration_ms=10, input="dtmf:1")
        for i in range(1, steps + 1)
    )
    return IvrPath(start=s, ended=T0 + timedelta(seconds=30), outcome=outcome, detail="d", steps=path_steps,
                   queue="billing", skill="billing", priority=3)


def counting(engine: AsyncEngine) -> list[int]:
    """Counts transactions (commits) on the engine."""
    commits: list[int] = []
    event.listen(engine.sync_engine, "commit", lambda conn: commits.append(1))
    return commits


async def rows(store: SqlIvrStore) -> tuple[int, int]:
    async with store.sessions() as session:
        calls = await session.scalar(select(func.count()).select_from(CallRow))
        steps = await session.scalar(select(func.count()).select_from(IvrStepRow))
    return int(calls or 0), int(steps or 0)


async def test_a_burst_of_calls_is_written_in_few_transactions(db_engine):
    store = SqlIvrStore(db.session_factory(db_engine))
    recorder = QueuedRecorder(store, batch=500)
    commits = counting(db_engine)
    starts = [start(f"c{i}") for i in range(300)]
    for s in starts:
        await recorder.call_started(s)
    for s in starts:
        await recorder.call_finished(finish(s))
    writer = asyncio.create_task(recorder.run())
    try:
        await asyncio.wait_for(recorder.drain(), 20)
    finally:
        writer.cancel()
        await asyncio.gather(writer, return_exceptions=True)
    assert await rows(store) == (300, 600)
    assert len(commits) <= 3  # was one transaction per record: 600
    row = await store.call("c7")
    assert row is not None and (row.outcome, row.queue, row.priority) == ("queued", "billing", 3)
    assert row.started_at == T0 and row.ended_at == T0 + timedelta(seconds=30)


async def test_finish_written_after_its_start_updates_the_row(db_engine):
    store = SqlIvrStore(db.session_factory(db_engine))
    s = start("late")
    await store.call_started(s)
    assert (await store.call("late")).outcome is None  # type: ignore[union-attr]
    await store.write([finish(s, Outcome.RESOLVED, steps=3)])
    row = await store.call("late")
    assert row is not None and row.outcome == "resolved" and row.ended_at is not None
    assert [x.seq for x in await store.steps("late")] == [1, 2, 3]


async def test_one_bad_record_does_not_lose_the_rest_of_its_batch(db_engine, caplog):
    store = SqlIvrStore(db.session_factory(db_engine))
    recorder = QueuedRecorder(store, retry_delay=0.01)
    calls = [start(f"g{i}") for i in range(5)]
    for s in calls:
        await recorder.call_started(s)
    bad = finish(calls[2])
    bad = IvrPath(**{**bad.__dict__, "steps": bad.steps + bad.steps})  # the same step twice: a key clash
    await recorder.call_finished(finish(calls[0]))
    await recorder.call_finished(bad)
    await recorder.call_finished(finish(calls[4]))
    writer = asyncio.create_task(recorder.run())
    try:
        await asyncio.wait_for(recorder.drain(), 20)
    finally:
        writer.cancel()
        await asyncio.gather(writer, return_exceptions=True)
    assert (await rows(store)) == (5, 4)
    assert (await store.call("g0")).outcome == "queued"  # type: ignore[union-attr]
    assert (await store.call("g4")).outcome == "queued"  # type: ignore[union-attr]
    assert (await store.call("g2")).outcome is None  # type: ignore[union-attr]
    assert any("ivr record lost call_id=g2" in r.getMessage() for r in caplog.records)


async def test_repeat_caller_is_recognised_before_the_resolution_is_written(db_engine):
    store = SqlIvrStore(db.session_factory(db_engine))
    recorder = QueuedRecorder(store)  # no writer running: everything stays queued
    await recorder.script_started("router-restart", "c1", "+12125550100", T0)
    await recorder.script_resolved("router-restart", "c1", T0 + timedelta(seconds=90))
    assert await recorder.last_resolved("router-restart", "+12125550100") == T0 + timedelta(seconds=90)
    assert await recorder.last_resolved("router-restart", "+12125550199") is None
    assert await store.last_resolved("router-restart", "+12125550100") is None


async def test_stopping_the_writer_flushes_what_is_queued(db_engine):
    store = SqlIvrStore(db.session_factory(db_engine))
    recorder = QueuedRecorder(store)
    writer = asyncio.create_task(recorder.run())
    await asyncio.sleep(0)
    for i in range(50):
        s = start(f"s{i}")
        await recorder.call_started(s)
        await recorder.call_finished(finish(s))
    writer.cancel()  # the controller shuts down with records still queued
    await asyncio.gather(writer, return_exceptions=True)
    assert await rows(store) == (50, 100)
    assert recorder.pending == 0


async def test_a_record_waiting_behind_a_reaction_is_still_written_when_the_writer_stops(db_engine):
    from switchboard.call_path import gate

    store = SqlIvrStore(db.session_factory(db_engine))
    recorder = QueuedRecorder(store)
    writer = asyncio.create_task(recorder.run())
    await asyncio.sleep(0)
    gate.hold()  # the ACD is reacting: the writer takes the record, then waits for a quiet moment
    try:
        await recorder.call_started(start("held"))
        await asyncio.sleep(0.01)
        assert recorder.pending == 0  # taken off the queue, waiting for the gate
        writer.cancel()  # shutdown arrives while the writer waits
        await asyncio.gather(writer, return_exceptions=True)
    finally:
        gate.release()
    assert await rows(store) == (1, 0)


class DownFor(SqlIvrStore):
    """The database refuses the first ``failures`` writes (restarting), then works."""

    def __init__(self, sessions, failures: int) -> None:
        super().__init__(sessions)
        self.failures = failures

    async def write(self, records):
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionError("database restarting")
        await super().write(records)


async def test_a_database_outage_is_waited_out_without_losing_records(db_engine, caplog):
    store = DownFor(db.session_factory(db_engine), failures=12)
    recorder = QueuedRecorder(store, retry_delay=0.01, attempts=2)
    for i in range(20):
        s = start(f"o{i}")
        await recorder.call_started(s)
        await recorder.call_finished(finish(s))
    writer = asyncio.create_task(recorder.run())
    try:
        await asyncio.wait_for(recorder.drain(), 20)
    finally:
        writer.cancel()
        await asyncio.gather(writer, return_exceptions=True)
    assert await rows(store) == (20, 40)
    assert not any("ivr record lost" in r.getMessage() for r in caplog.records)
