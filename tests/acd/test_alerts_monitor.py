"""The alert job (acd/alerts_io.py) on a real Redis (and SQL for the service level), webhook on loopback."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from acd.alert_webhook import AlertWebhook
from acd.alerts import AlertRules
from acd.alerts_io import AlertBoard, AlertMonitor
from acd.metrics_io import AcdMetrics
from acd.ports import ChannelHungUp
from acd.service import AcdService
from acd.tables import QueueCallRow
from switchboard.clock import ManualClock, SystemClock
from switchboard.settings import AcdSettings
from tests.acd.alert_receiver import Receiver
from tests.acd.conftest import request

RULES = AlertRules(wait_threshold_seconds=120, service_level_min_calls=5)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    started = Receiver().start()
    try:
        yield started
    finally:
        started.stop()


def monitor(service: AcdService, clock: ManualClock, url: str | None, sessions: Any = None) -> AlertMonitor:
    metrics = AcdMetrics(service, sessions, clock)
    hook = AlertWebhook(url, clock, retries=0) if url else None
    board = AlertBoard(service.store.redis, service.store.keys.base + "alerts")
    return AlertMonitor(metrics, board, RULES, clock, webhook=hook)


@contextlib.asynccontextmanager
async def sending(mon: AlertMonitor) -> AsyncIterator[None]:
    assert mon.webhook is not None
    task = asyncio.create_task(mon.webhook.run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def until(predicate: Any, seconds: float = 5.0) -> None:
    for _ in range(int(seconds / 0.02)):
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met in time")


async def test_a_long_wait_raises_one_alert_posted_once_and_cleared_once(
    service: AcdService, clock: ManualClock, receiver: Receiver
) -> None:
    mon = monitor(service, clock, receiver.url)
    other_controller = monitor(service, clock, receiver.url)  # same Redis, its own webhook queue
    caller = request("w1", queue="sales", skill="sales", region="us")
    await service.enqueue(caller)
    async with sending(mon), sending(other_controller):
        assert (await mon.check_once()).raised == ()
        await clock.advance(130)
        first = await mon.check_once()
        assert [a.id for a in first.raised] == ["long_wait:sales"]
        again = await other_controller.check_once()
        assert again.raised == ()  # already active in Redis: the other controller announces nothing
        await mon.check_once()
        await until(lambda: len(receiver.received) >= 1)
        [shown] = await other_controller.active()
        assert shown.id == "long_wait:sales" and "longest 2 min 10 s" in shown.message
        # The caller hangs up: the queue is calm again, the alert clears (once, whoever sees it first).
        await service.handle(ChannelHungUp(caller.channel, caller.uniqueid, 16, "Normal Clearing"))
        await other_controller.check_once()
        await mon.check_once()
        await until(lambda: len(receiver.received) >= 2)
        await asyncio.sleep(0.2)
    assert [r.json()["event"] for r in receiver.received] == ["alert.raised", "alert.cleared"]
    assert await mon.active() == []


async def test_two_controllers_racing_on_the_same_breach_announce_it_once(
    service: AcdService, clock: ManualClock, receiver: Receiver
) -> None:
    monitors = [monitor(service, clock, receiver.url) for _ in range(4)]
    await service.enqueue(request("w2", queue="billing", skill="billing"))
    await clock.advance(500)
    results = await asyncio.gather(*(m.check_once() for m in monitors))
    assert all([a.id for a in r.active] == ["long_wait:billing"] for r in results)  # all see the breach...
    async with contextlib.AsyncExitStack() as stack:
        for m in monitors:
            await stack.enter_async_context(sending(m))
        await until(lambda: len(receiver.received) >= 1)
        await asyncio.sleep(0.3)
    assert len(receiver.received) == 1  # ...but only the controller whose HSETNX won posts it


async def test_an_unreadable_alert_entry_is_skipped(service: AcdService, clock: ManualClock) -> None:
    mon = monitor(service, clock, None)
    await service.store.redis.hset(mon.board.key, "long_wait:x", b"{not json")
    assert await mon.active() == []


async def test_service_level_below_target_raises_from_the_sql_record(
    db_engine: AsyncEngine, redis_client: Any, clock: ManualClock, acd_config: Any, fake_asterisk: Any
) -> None:
    from acd.store import AcdStore
    from switchboard.db import session_factory

    sessions = session_factory(db_engine)
    store = AcdStore(redis_client, "sbtest-sl", origin="c1")
    service = AcdService(store, fake_asterisk, clock, AcdSettings(key_prefix="sbtest-sl"), listen=False)
    await service.load(acd_config)
    start = clock.now() - timedelta(hours=1)
    async with sessions() as session, session.begin():
        for n in range(6):
            at = start + timedelta(minutes=n)
            late = n < 4  # 2 of 6 answered within billing's 20 s: 33% against 80%
            session.add(
                QueueCallRow(
                    call_id=f"sl{n}",
                    queue="billing",
                    skill="billing",
                    enqueued_at=at,
                    answered_at=at + timedelta(seconds=60 if late else 5),
                    ended_at=at + timedelta(minutes=3),
                    outcome="completed",
                    agent_id="a1",
                )
            )
    mon = monitor(service, clock, None, sessions)
    result = await mon.check_once()
    assert [a.id for a in result.raised] == ["service_level:billing"]
    assert "33%" in result.raised[0].message and "80%" in result.raised[0].message
    assert [a.id for a in await mon.active()] == ["service_level:billing"]


async def test_the_job_raises_and_clears_on_its_own_as_callers_come_and_go(
    redis_client: Any, acd_config: Any, fake_asterisk: Any, receiver: Receiver
) -> None:
    from acd.store import AcdStore

    clock = SystemClock()
    store = AcdStore(redis_client, "sbtest-run", origin="c1")
    settings = AcdSettings(
        key_prefix="sbtest-run", alerts_wait_threshold_seconds=0.5, alerts_check_seconds=0.2,
        alerts_webhook_url=receiver.url, alerts_webhook_secret="k",
    )  # fmt: skip
    service = AcdService(store, fake_asterisk, clock, settings, listen=False)
    await service.load(acd_config)
    mon = AlertMonitor.from_settings(AcdMetrics(service, None, clock), settings, clock)
    assert set(mon.jobs()) == {"acd-alerts", "acd-alerts-webhook"}
    caller = request("job1", queue="billing", skill="billing")
    tasks = [asyncio.create_task(job()) for job in mon.jobs().values()]
    try:
        await service.enqueue(caller)
        await until(lambda: len(receiver.received) >= 1)
        assert [a.id for a in await mon.active()] == ["long_wait:billing"]
        await service.handle(ChannelHungUp(caller.channel, caller.uniqueid, 16, "Normal Clearing"))
        await until(lambda: len(receiver.received) >= 2)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    assert [r.json()["event"] for r in receiver.received] == ["alert.raised", "alert.cleared"]
    assert all(r.headers["x-switchboard-signature"].startswith("sha256=") for r in receiver.received)
    assert await mon.active() == []


def test_without_a_webhook_url_only_the_evaluation_job_runs(service: AcdService, clock: ManualClock) -> None:
    mon = AlertMonitor.from_settings(AcdMetrics(service, None, clock), AcdSettings(), clock)
    assert mon.webhook is None and set(mon.jobs()) == {"acd-alerts"}
    assert mon.rules.wait_threshold_seconds == 120 and mon.rules.service_level_min_calls == 10
