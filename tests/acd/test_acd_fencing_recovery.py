"""Attempt fencing, the agent's own hang-up, failed Redirects, ordered records, and Redis loss."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest

from acd.model import AgentState, CallStatus
from acd.ports import BridgeEntered, ChannelHungUp, DialEnded, LiveChannel
from acd.service import AcdService
from acd.store import AcdStore
from switchboard.settings import AcdSettings


async def ring(service, fake_asterisk, make_request, call_id="c1", agent="a1", **kw):
    await service.login(agent)
    req = make_request(call_id, **kw)
    fake_asterisk.add_channel(req.channel, req.uniqueid)
    await service.enqueue(req)
    await service.dispatcher.run_pending()
    return req


async def test_agent_hanging_up_ends_the_call_at_once_and_the_callers_hangup_changes_nothing(
    service, fake_asterisk, make_request
):
    req = await ring(service, fake_asterisk, make_request)
    await service.handle(DialEnded(req.channel, req.uniqueid, "PJSIP/101-0001", "ANSWER", "agent-leg-1"))
    assert (await service.store.agent_status("a1")).state is AgentState.ON_CALL
    await service.handle(ChannelHungUp("PJSIP/101-0001", "agent-leg-1", 16, "Normal Clearing"))
    assert await service.store.get_call("c1") is None
    agent = await service.store.agent_status("a1")
    assert agent.state is AgentState.WRAP_UP and not agent.call_id  # billing has 10 s of wrap-up
    await service.handle(ChannelHungUp(req.channel, req.uniqueid, 16, "Normal Clearing"))
    ended = [e for e in await service.store.events() if e.type == "ended"]
    assert [(e.fields["outcome"], e.fields["cause"]) for e in ended] == [("completed", "agent hung up")]


async def test_agent_leg_hanging_up_before_the_answer_is_left_to_the_dial_result(
    service, fake_asterisk, make_request
):
    await ring(service, fake_asterisk, make_request)
    await service.handle(ChannelHungUp("PJSIP/101-0001", "agent-leg-1", 0))  # not indexed: not connected
    assert (await service.store.get_call("c1")).status is CallStatus.RINGING


async def test_redirect_to_a_renamed_channel_requeues_the_caller_and_keeps_the_agent_ready(
    service, fake_asterisk, make_request
):
    await service.login("a1")
    req = make_request("c1")
    # Asterisk renamed the caller's channel (a masquerade): same uniqueid, new name.
    fake_asterisk.add_channel("PJSIP/carrier-renamed", req.uniqueid)
    await service.enqueue(req)
    await service.dispatcher.run_pending()  # Redirect fails, caller found renamed, requeued, rung again
    call = await service.store.get_call("c1")
    assert (call.status, call.channel, call.attempts) == (CallStatus.RINGING, "PJSIP/carrier-renamed", 2)
    agent = await service.store.agent_status("a1")
    assert agent.state is AgentState.RINGING and agent.reason == ""  # never paused: not the agent's doing
    redirects = fake_asterisk.named("redirect")
    assert [r["channel"] for r in redirects] == [req.channel, "PJSIP/carrier-renamed"]
    assert [r["variables"]["SB_ATTEMPT"] for r in redirects] == ["1", "2"]


async def test_a_ring_started_late_is_checked_against_the_current_attempt(
    service, fake_asterisk, make_request, clock
):
    await service.login("a1")
    req = make_request("c1")
    fake_asterisk.add_channel(req.channel, req.uniqueid)
    await service.enqueue(req)
    captured = []

    async def hold_back(assignment):  # the connect task is delayed (a busy loop)...
        captured.append(assignment)

    real, service.on_assigned = service.on_assigned, hold_back
    await service.dispatcher.run_pending()
    service.on_assigned = real
    (assignment,) = captured
    # ...meanwhile the ring guard (or another controller) took the call back.
    await service.store.requeue(assignment.call, "a1", clock.now(), None, pause_reason=None, kind="test")
    await clock.advance(1)
    await service.on_assigned(assignment)
    assert fake_asterisk.named("redirect") == []


@pytest.fixture
async def repository(tmp_path: Path):
    from acd.repository import AcdRepository
    from switchboard.db import create_engine, session_factory, upgrade

    url = f"sqlite+aiosqlite:///{tmp_path / 'acd.db'}"
    await upgrade(url, "acd@head")
    engine = create_engine(url)
    try:
        yield AcdRepository(session_factory(engine))
    finally:
        await engine.dispose()


async def test_late_record_writes_never_reopen_or_rewind_a_call(repository, make_request, clock):
    from acd.model import RoutingExplanation, WaitingCall

    call = WaitingCall("c1", "billing", "billing", "PJSIP/x", "u1", clock.now(), attempts=1)
    why = RoutingExplanation("initial", "test")
    await repository.call_enqueued(call)
    await repository.call_answered("c1", clock.now(), "a1")
    await repository.call_assigned(call, "a1", why)  # arrives after the answer: must not rewind it
    assert (await repository.get_call("c1")).outcome == "connected"
    await repository.call_ended(call, "completed", clock.now())
    await repository.call_assigned(call, "a1", why)
    await repository.call_requeued(call, "late")
    await repository.call_ended(call, "abandoned", clock.now())  # first end wins
    assert (await repository.get_call("c1")).outcome == "completed"


async def test_redis_losing_its_data_is_noticed_and_waiting_callers_are_rebuilt(
    store, fake_asterisk, clock, repository, make_request, acd_config
):
    await repository.save_config(acd_config)
    settings = AcdSettings(key_prefix="sbtest", redis_check_seconds=1.0)
    svc = AcdService(store, fake_asterisk, clock, settings, repository=repository, listen=False)
    await svc.load()
    req = make_request("c1")
    fake_asterisk.add_channel(req.channel, req.uniqueid, "sb-hold")
    await svc.enqueue(req)
    enqueued_at = (await store.get_call("c1")).enqueued_at
    watcher = asyncio.create_task(svc.watch_redis())
    try:
        await clock.advance(1.5)
        await store.clear()  # Redis restarted empty
        await clock.advance(1.0)
        for _ in range(50):
            if await store.get_call("c1") is not None:
                break
            await asyncio.sleep(0.01)
        rebuilt = await store.get_call("c1")
        assert rebuilt is not None and rebuilt.enqueued_at == enqueued_at
        assert await store.load_config() is not None  # the configuration is published again
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher


async def test_restarted_controller_leaves_a_young_assignment_of_a_live_controller_alone(
    service, store, fake_asterisk, make_request, clock
):
    req = await ring(service, fake_asterisk, make_request)
    fake_asterisk.add_channel(req.channel, req.uniqueid, "sb-hold")  # the caller is (still) on hold
    await store.heartbeat(30)
    other = AcdService(
        AcdStore(store.redis, "sbtest", origin="c2"), fake_asterisk, clock, AcdSettings(key_prefix="sbtest"),
        listen=False,
    )  # fmt: skip
    await other.reconcile([LiveChannel(req.channel, req.uniqueid, "sb-hold")])
    assert (await store.get_call("c1")).status is CallStatus.RINGING  # c1's Redirect may be on its way
    await clock.advance(11)  # older than connect_grace_seconds: a lost Redirect, taken back
    await other.reconcile([])
    assert (await store.get_call("c1")).status is CallStatus.WAITING


async def test_bridge_before_the_dial_result_still_indexes_the_agent_leg(
    service, fake_asterisk, make_request
):
    req = await ring(service, fake_asterisk, make_request)
    await service.handle(BridgeEntered(req.channel, req.uniqueid, "b1"))
    await service.handle(DialEnded(req.channel, req.uniqueid, "PJSIP/101-0001", "ANSWER", "leg-9"))
    await service.handle(ChannelHungUp("PJSIP/101-0001", "leg-9", 16))
    assert await service.store.get_call("c1") is None


async def test_a_connect_straight_after_its_assignment_skips_the_second_claim(
    service, fake_asterisk, make_request, clock
):
    await service.login("a1")
    req = make_request("c1")
    fake_asterisk.add_channel(req.channel, req.uniqueid)
    await service.enqueue(req)
    captured = []

    async def hold_back(assignment):
        captured.append(assignment)

    real, service.on_assigned = service.on_assigned, hold_back
    await service.dispatcher.run_pending()
    service.on_assigned = real
    (assignment,) = captured
    assert assignment.fresh
    claims = []
    claim = service.store.claim_connect

    async def counted(*args):
        claims.append(args)
        return await claim(*args)

    service.store.claim_connect = counted
    await service.on_assigned(assignment)  # at once: the assign script's check is the fence
    assert claims == [] and len(fake_asterisk.named("redirect")) == 1
