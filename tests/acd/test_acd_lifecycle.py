"""Agent and call life cycle driven by Asterisk's signals (through the ACD's port), on the real Redis."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from acd.errors import AgentUnavailableError
from acd.model import AgentState, Assignment, CallStatus, RoutingExplanation
from acd.ports import (
    BridgeEntered,
    ChannelHungUp,
    ChannelVariableSet,
    ContactChanged,
    DeviceStateChanged,
    DialEnded,
    HoldStarted,
    OriginateResult,
)


async def eventually(check: Callable[[], Any], limit: float = 3.0) -> Any:
    """Wait (real time, bounded) until ``check()`` (sync or async) is truthy."""
    loop = asyncio.get_running_loop()
    end = loop.time() + limit
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if loop.time() > end:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def running(service) -> AsyncIterator[None]:
    task = asyncio.create_task(service.dispatcher.run())
    try:
        await asyncio.sleep(0.05)
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def ring(service, fake_asterisk, make_request, call_id="c1", agent="a1", **kw):
    """Log the agent in, queue a caller, and let the dispatcher ring the agent."""
    await service.login(agent)
    req = make_request(call_id, **kw)
    fake_asterisk.add_channel(req.channel, req.uniqueid)
    await service.enqueue(req)
    await service.dispatcher.run_pending()
    return req


async def test_enqueued_call_is_redirected_to_connect_context_with_agent_endpoint(
    service, fake_asterisk, make_request
):
    await ring(service, fake_asterisk, make_request)
    (redirect,) = fake_asterisk.named("redirect")
    assert redirect["context"] == "sb-connect"
    assert redirect["variables"] == {
        "SB_CALL_ID": "c1",
        "SB_AGENT_ID": "a1",
        "SB_AGENT_ENDPOINT": "PJSIP/101",
        "SB_RING_TIMEOUT": "15",
        "SB_ATTEMPT": "1",
    }
    assert (await service.store.agent_status("a1")).state is AgentState.RINGING


async def test_no_answer_requeues_call_at_head_and_pauses_agent(service, fake_asterisk, make_request, clock):
    req = await ring(service, fake_asterisk, make_request, "first")
    await clock.advance(5)
    later = make_request("second")
    fake_asterisk.add_channel(later.channel, later.uniqueid)
    await service.enqueue(later)
    await service.handle(DialEnded(req.channel, req.uniqueid, "PJSIP/101-0001", "NOANSWER"))
    call = await service.store.get_call("first")
    assert call.status is CallStatus.WAITING and call.attempts == 1
    assert await service.store.position(call) == (1, 2)
    agent = await service.store.agent_status("a1")
    assert agent.state is AgentState.PAUSED and agent.reason == "no answer"
    await service.dispatcher.run_pending()
    assert len(fake_asterisk.named("redirect")) == 1  # the paused agent is not rung again


async def test_answered_call_goes_on_call_then_wrap_up_then_ready(
    service, fake_asterisk, make_request, clock
):
    req = await ring(service, fake_asterisk, make_request)
    await service.handle(BridgeEntered(req.channel, req.uniqueid, "bridge-1"))
    agent = await service.store.agent_status("a1")
    assert agent.state is AgentState.ON_CALL and agent.calls_taken == 1
    await clock.advance(40)
    await service.handle(ChannelHungUp(req.channel, req.uniqueid, 16, "Normal Clearing"))
    assert (await service.store.agent_status("a1")).state is AgentState.WRAP_UP
    assert await service.store.get_call("c1") is None
    assert await service.store.handle_times("billing") == [40.0]
    async with running(service):
        await clock.advance(9)
        await asyncio.sleep(0.1)
        assert (await service.store.agent_status("a1")).state is AgentState.WRAP_UP
        await clock.advance(1)
        await eventually(lambda: _state_is(service, "a1", AgentState.READY))


async def _state_is(service, agent_id, state) -> bool:
    return (await service.store.agent_status(agent_id)).state is state


async def test_caller_hanging_up_while_waiting_is_an_abandon_with_wait_time(
    service, fake_asterisk, make_request, clock
):
    req = make_request("c1")
    await service.enqueue(req)
    await clock.advance(7)
    await service.handle(ChannelHungUp(req.channel, req.uniqueid, 16, "Normal Clearing"))
    assert await service.store.get_call("c1") is None
    ended = [e for e in await service.store.events() if e.type == "ended"]
    assert ended[-1].fields["outcome"] == "abandoned" and ended[-1].fields["call"] == "c1"
    assert await service.store.waiting_count("billing") == 0


async def test_unregistered_softphone_cannot_be_ready(service):
    await service.handle(DeviceStateChanged("PJSIP/101", "UNAVAILABLE"))
    with pytest.raises(AgentUnavailableError, match="not registered"):
        await service.login("a1")
    await service.handle(ContactChanged("PJSIP/101", "Created"))
    assert (await service.login("a1")).routable


async def test_softphone_dropping_pauses_ready_agent_and_return_makes_them_ready(
    service, fake_asterisk, make_request
):
    await service.login("a1")
    await service.handle(ContactChanged("PJSIP/101", "Removed"))
    status = await service.store.agent_status("a1")
    assert status.state is AgentState.PAUSED and status.reason == "softphone unregistered"
    req = make_request("c1")
    fake_asterisk.add_channel(req.channel, req.uniqueid)
    await service.enqueue(req)
    await service.dispatcher.run_pending()
    assert fake_asterisk.named("redirect") == []
    await service.handle(DeviceStateChanged("PJSIP/101", "NOT_INUSE"))
    await service.dispatcher.run_pending()
    assert len(fake_asterisk.named("redirect")) == 1


async def test_agent_on_a_direct_call_is_not_offered_queue_calls(service, fake_asterisk, make_request):
    await service.login("a1")
    await service.handle(DeviceStateChanged("PJSIP/101", "INUSE"))
    req = make_request("c1")
    fake_asterisk.add_channel(req.channel, req.uniqueid)
    await service.enqueue(req)
    await service.dispatcher.run_pending()
    assert fake_asterisk.named("redirect") == []
    await service.handle(DeviceStateChanged("PJSIP/101", "NOT_INUSE"))
    await service.dispatcher.run_pending()
    assert fake_asterisk.named("redirect")[0]["variables"]["SB_AGENT_ENDPOINT"] == "PJSIP/101"


async def test_queue_call_ringing_the_agent_is_not_mistaken_for_a_direct_call(
    service, fake_asterisk, make_request
):
    req = await ring(service, fake_asterisk, make_request)
    await service.handle(DeviceStateChanged("PJSIP/101", "RINGING"))
    await service.handle(BridgeEntered(req.channel, req.uniqueid, "b1"))
    await service.handle(DeviceStateChanged("PJSIP/101", "INUSE"))
    status = await service.store.agent_status("a1")
    assert status.state is AgentState.ON_CALL and not status.direct_call


async def test_failed_redirect_records_abandon_and_keeps_agent_ready(service, fake_asterisk, make_request):
    await service.login("a1")
    await service.enqueue(make_request("c1"))  # its channel is not on the fake Asterisk: Redirect fails
    await service.dispatcher.run_pending()
    assert fake_asterisk.named("redirect")
    assert await service.store.get_call("c1") is None
    assert (await service.store.agent_status("a1")).routable


async def test_events_for_unknown_channels_are_ignored(service):
    await service.handle(ChannelHungUp("PJSIP/ghost-1", "999.1"))
    await service.handle(DialEnded("PJSIP/ghost-1", "999.1", "PJSIP/101-1", "NOANSWER"))
    await service.handle(BridgeEntered("PJSIP/ghost-1", "999.1", "b"))
    await service.handle(DeviceStateChanged("PJSIP/999", "INUSE"))
    assert await service.store.all_calls() == []


async def test_relaxation_deadline_wakes_the_dispatcher_at_the_configured_second(
    service, fake_asterisk, make_request, clock
):
    await service.login("a2")  # serves region us only
    req = make_request("c1", region="eu")
    fake_asterisk.add_channel(req.channel, req.uniqueid)
    async with running(service):
        await service.enqueue(req)
        await asyncio.sleep(0.1)
        await clock.advance(29)
        await asyncio.sleep(0.1)
        assert fake_asterisk.named("redirect") == []
        await clock.advance(1)
        await eventually(lambda: fake_asterisk.named("redirect"))
    assert fake_asterisk.named("redirect")[0]["variables"]["SB_AGENT_ID"] == "a2"


async def test_vip_list_raises_priority_and_names_the_personal_agent(store, fake_asterisk, clock):
    from acd.service import AcdService
    from switchboard.settings import AcdSettings

    from .conftest import make_config, request  # type: ignore[import-not-found]

    svc = AcdService(store, fake_asterisk, clock, AcdSettings(key_prefix="sbtest"), listen=False)
    await svc.load(make_config(vips=[{"number": "+15550000001", "boost": 20, "agent": "a3"}]))
    await svc.enqueue(request("vip", number="+15550000001"))
    call = await store.get_call("vip")
    assert call.priority == 20 and call.vip and call.preferred_agent == "a3"


async def test_repeat_caller_prefers_the_last_agent(service, fake_asterisk, make_request, clock):
    req = await ring(service, fake_asterisk, make_request, "first", agent="a3")
    await service.handle(BridgeEntered(req.channel, req.uniqueid, "b"))
    await service.handle(ChannelHungUp(req.channel, req.uniqueid, 16))
    await service.enqueue(make_request("again"))
    call = await service.store.get_call("again")
    assert call.preferred_agent == "a3" and call.preference.value == "repeat"


async def test_callback_keeps_place_and_controller_calls_back_when_agent_assigned(
    service, fake_asterisk, make_request, clock
):
    req = make_request("c1")
    fake_asterisk.add_channel(req.channel, req.uniqueid)
    await service.enqueue(req)
    assert not (await service.hold_info("c1")).callback_offered
    await clock.advance(120)
    info = await service.hold_info("c1")
    assert info.callback_offered and info.position == 1
    assert await service.request_callback("c1")
    await service.handle(ChannelHungUp(req.channel, req.uniqueid, 16))  # the caller hangs up after choosing
    call = await service.store.get_call("c1")
    assert call is not None and call.callback and call.status is CallStatus.WAITING
    await service.login("a1")
    await service.dispatcher.run_pending()
    (orig,) = fake_asterisk.named("originate")
    assert orig["channel"] == "PJSIP/+15551230002@carrier" and orig["context"] == "sb-connect"
    assert orig["variables"]["SB_AGENT_ENDPOINT"] == "PJSIP/101" and orig["variables"]["SB_CALLBACK"] == "1"
    await service.handle(OriginateResult(orig["action_id"], True, "PJSIP/carrier-77", "777.1"))
    await service.handle(BridgeEntered("PJSIP/carrier-77", "777.1", "b"))
    assert (await service.store.agent_status("a1")).state is AgentState.ON_CALL


async def test_unanswered_callback_keeps_its_place_and_frees_the_agent(
    service, fake_asterisk, make_request, clock
):
    await service.enqueue(make_request("c1"))
    await clock.advance(120)
    assert await service.request_callback("c1")
    await service.login("a1")
    await service.dispatcher.run_pending()
    (orig,) = fake_asterisk.named("originate")
    await service.handle(
        OriginateResult(orig["action_id"], False, "PJSIP/+15551230002@carrier", "<unknown>", 0)
    )
    call = await service.store.get_call("c1")
    assert call.status is CallStatus.WAITING and call.callback
    assert (await service.store.agent_status("a1")).state is AgentState.READY


async def test_music_on_hold_starting_while_the_agent_rings_is_not_a_no_answer(
    service, fake_asterisk, make_request
):
    # The caller reaches hold from the IVR after the ACD already picked an agent: that is not a no-answer.
    req = await ring(service, fake_asterisk, make_request)
    await service.handle(HoldStarted(req.channel, req.uniqueid))
    assert (await service.store.get_call("c1")).status is CallStatus.RINGING
    assert (await service.store.agent_status("a1")).state is AgentState.RINGING


async def test_caller_back_on_hold_after_this_attempt_is_requeued_and_agent_paused(
    service, fake_asterisk, make_request
):
    req = await ring(service, fake_asterisk, make_request)
    await service.handle(ChannelVariableSet(req.channel, req.uniqueid, "SB_RONA_ATTEMPT", "1:CHANUNAVAIL"))
    call = await service.store.get_call("c1")
    assert call.status is CallStatus.WAITING and call.attempts == 1
    agent = await service.store.agent_status("a1")
    assert agent.state is AgentState.PAUSED and agent.reason == "unavailable"


async def test_no_answer_of_an_earlier_attempt_never_ends_the_current_one(
    service, fake_asterisk, make_request
):
    req = await ring(service, fake_asterisk, make_request)
    await service.handle(DialEnded(req.channel, req.uniqueid, "PJSIP/101-0001", "NOANSWER"))
    await service.login("a3")
    await service.dispatcher.run_pending()  # attempt 2 rings a3
    call = await service.store.get_call("c1")
    assert (call.status, call.agent_id, call.attempts) == (CallStatus.RINGING, "a3", 2)
    # The dialplan's token for attempt 1 arrives late, then a DialEnd from the wrong phone.
    await service.handle(ChannelVariableSet(req.channel, req.uniqueid, "SB_RONA_ATTEMPT", "1:NOANSWER"))
    await service.handle(DialEnded(req.channel, req.uniqueid, "PJSIP/101-0001", "NOANSWER"))
    call = await service.store.get_call("c1")
    assert (call.status, call.agent_id, call.attempts) == (CallStatus.RINGING, "a3", 2)
    assert (await service.store.agent_status("a3")).state is AgentState.RINGING


async def test_redirect_of_a_superseded_assignment_is_never_sent(service, fake_asterisk, make_request):
    await service.login("a1")
    req = make_request("c1")
    fake_asterisk.add_channel(req.channel, req.uniqueid)
    await service.enqueue(req)
    snap = await service.store.snapshot(["billing"])
    (call,) = list(snap.head())
    res = await service.store.assign(
        call, "a1", service.clock.now(), service.clock.now(), RoutingExplanation("test", "test")
    )
    assert res.ok
    # Before the connector runs, the call is taken back (e.g. by another controller's recovery).
    await service.store.requeue(res.call, "a1", service.clock.now(), None, pause_reason=None, kind="test")
    await service.on_assigned(
        Assignment(res.call, "a1", "PJSIP/101", RoutingExplanation("test", "test"), service.clock.now(), 15)
    )
    assert fake_asterisk.named("redirect") == []


async def test_unknown_queue_falls_back_instead_of_losing_the_caller(service, make_request):
    await service.enqueue(make_request("c1", queue="nonsense", skill="nope", region="mars"))
    call = await service.store.get_call("c1")
    assert call.queue == "support" and call.skill == "support" and call.region is None


async def test_bookkeeping_waits_until_the_freed_agents_next_caller_is_redirected(
    service, fake_asterisk, make_request
):
    """A running dispatcher holds the call-path gate from the wake-up to the Redirect's answer."""
    from switchboard.call_path import gate

    order: list[str] = []
    redirect = fake_asterisk.redirect

    async def slow_redirect(channel: str, *args: Any, **kw: Any) -> None:
        await asyncio.sleep(0.02)  # Asterisk's answer takes a moment: bookkeeping must still wait
        order.append("redirect answered")
        await redirect(channel, *args, **kw)

    fake_asterisk.redirect = slow_redirect  # type: ignore[method-assign]
    async with running(service):
        await service.login("a1")
        req = make_request("c1")
        fake_asterisk.add_channel(req.channel, req.uniqueid)
        await service.enqueue(req)  # wakes the dispatcher

        async def bookkeeping() -> None:
            await gate.quiet()
            order.append("bookkeeping")

        await bookkeeping()
        await eventually(lambda: len(order) == 2)
    assert order == ["redirect answered", "bookkeeping"]
    assert not gate.busy
