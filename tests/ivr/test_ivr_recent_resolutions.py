"""The Redis index of recent self-service resolutions in front of SQL (real Redis, SQLite and PostgreSQL):
repeat callers recognised across controllers, a Redis that lost its data, a Redis that is down."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import redis.asyncio as aioredis

from ivr.recent_resolutions import NOT_FOUND, RecentResolutions
from ivr.runtime import Outcome, SelfService
from ivr.store import QueuedRecorder, SqlIvrStore
from switchboard import db
from switchboard.clock import ManualClock, SystemClock

from .test_ivr_store_sql import FLOW

WINDOW = timedelta(hours=24)
T0 = datetime(2026, 2, 2, 12, 0, tzinfo=UTC)
A = "+15550001111"


class CountingStore(SqlIvrStore):
    """SQL, counting the repeat lookups that reach it."""

    sql_lookups = 0

    async def last_resolved(self, script, caller):
        self.sql_lookups += 1
        return await super().last_resolved(script, caller)


def index(redis: aioredis.Redis, store: SqlIvrStore, clock) -> RecentResolutions:
    return RecentResolutions(redis, "t", store, window=WINDOW, clock=clock)


async def test_a_repeat_caller_is_recognised_through_another_controller_before_sql_has_the_record(
    kit, db_engine, redis_client, tmp_path
):
    store = CountingStore(db.session_factory(db_engine))
    clock = ManualClock(T0)
    flows = kit.flows(tmp_path / "f", main=FLOW)
    await index(redis_client, store, clock).load()
    # two controllers on one Redis and one database; A's records are still in its queue (writer not running)
    queued = QueuedRecorder(store)
    controller_a = kit.runner(clock, recorder=queued, selfservice=SelfService(
        queued, repeat_window=WINDOW, recent=index(redis_client, store, clock)))  # fmt: skip
    controller_b = kit.runner(clock, selfservice=SelfService(
        store, repeat_window=WINDOW, recent=index(redis_client, store, clock)))  # fmt: skip

    first = await controller_a.run(kit.channel(kit.Press("1"), kit.Press("1"), callerid=A), flows, "main")
    assert first.outcome == Outcome.RESOLVED
    await clock.advance(2 * 3600)
    again = await controller_b.run(kit.channel(kit.Press("1"), callerid="+1 555 000 1111"), flows, "main")
    assert again.outcome == Outcome.QUEUED
    assert kit.queue.requests[-1].priority == 5
    assert not any(s.kind == "script-step" for s in again.steps)
    assert store.sql_lookups == 0  # the index answered both lookups

    # a first-time caller is answered by the index too: no SQL read on the call path
    first_timer = kit.channel(kit.Press("1"), kit.Press("1"), callerid="+15550002222")
    other = await controller_b.run(first_timer, flows, "main")
    assert other.outcome == Outcome.RESOLVED and store.sql_lookups == 0


async def test_a_redis_that_lost_its_data_sends_lookups_to_sql_until_reloaded(db_engine, redis_client):
    store = CountingStore(db.session_factory(db_engine))
    clock = ManualClock(T0)
    recent = index(redis_client, store, clock)
    await store.script_started("router-restart", "c1", A, T0)
    await store.script_resolved("router-restart", "c1", T0 + timedelta(minutes=3))
    await store.script_started("router-restart", "c0", "+15550009999", T0 - timedelta(hours=30))
    await store.script_resolved("router-restart", "c0", T0 - timedelta(hours=29))  # outside the window
    await clock.advance(3600)
    policy = SelfService(store, repeat_window=WINDOW, recent=recent)

    assert await recent.last("router-restart", A) is None  # never loaded: "ask SQL"
    assert await policy.is_repeat("router-restart", A, clock.now(), "x1")
    assert store.sql_lookups == 1

    assert await recent.load() == 1  # only the window's resolutions
    assert await recent.last("router-restart", A) == T0 + timedelta(minutes=3)
    assert await recent.last("router-restart", "+15550009999") == NOT_FOUND
    assert await policy.is_repeat("router-restart", A, clock.now(), "x2")
    assert store.sql_lookups == 1

    await redis_client.flushdb()  # Redis restarted empty
    assert await policy.is_repeat("router-restart", A, clock.now(), "x3")
    assert store.sql_lookups == 2
    # a resolution noted after the restart is newer than SQL's: a reload keeps it
    await recent.remember("router-restart", A, clock.now())
    await recent.load()
    assert await recent.last("router-restart", A) == clock.now()


async def test_the_index_reloads_itself_when_its_marker_is_gone(db_engine, redis_client):
    store = SqlIvrStore(db.session_factory(db_engine))
    now = datetime.now(UTC)
    await store.script_started("router-restart", "c1", A, now - timedelta(minutes=5))
    await store.script_resolved("router-restart", "c1", now - timedelta(minutes=4))
    recent = RecentResolutions(redis_client, "t", store, window=WINDOW, clock=SystemClock(), check_every=0.05)
    job = asyncio.create_task(recent.run())
    try:
        async with asyncio.timeout(5):
            await loaded_again(recent)
            await redis_client.flushdb()
            await loaded_again(recent)
    finally:
        job.cancel()
        await asyncio.gather(job, return_exceptions=True)


async def loaded_again(recent: RecentResolutions) -> None:
    while not isinstance(await recent.last("router-restart", A), datetime):  # noqa: ASYNC110 - the job's work
        await asyncio.sleep(0.02)


async def test_redis_down_or_a_garbled_entry_falls_back_to_sql_and_the_call_goes_on(
    kit, db_engine, redis_client, tmp_path, unused_tcp_port
):
    store = CountingStore(db.session_factory(db_engine))
    clock = ManualClock(T0)
    flows = kit.flows(tmp_path / "f", main=FLOW)
    down = aioredis.Redis(host="127.0.0.1", port=unused_tcp_port, socket_connect_timeout=0.2)
    try:
        runner = kit.runner(clock, recorder=store, selfservice=SelfService(
            store, repeat_window=WINDOW, recent=index(down, store, clock)))  # fmt: skip
        first = await runner.run(kit.channel(kit.Press("1"), kit.Press("1"), callerid=A), flows, "main")
        again = await runner.run(kit.channel(kit.Press("1"), callerid=A), flows, "main")
    finally:
        await down.aclose()
    assert (first.outcome, again.outcome) == (Outcome.RESOLVED, Outcome.QUEUED)  # SQL still knew
    assert store.sql_lookups == 2

    recent = index(redis_client, store, clock)
    await recent.load()
    await redis_client.hset(recent.key(A), "router-restart", "not a time")
    assert await SelfService(store, repeat_window=WINDOW, recent=recent).is_repeat(
        "router-restart", A, clock.now(), "x"
    )
    assert store.sql_lookups == 3
