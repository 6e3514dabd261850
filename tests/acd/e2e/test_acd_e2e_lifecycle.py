"""The agent and call life cycle from Asterisk's own signals, through the emulator."""

from __future__ import annotations

import pytest

from acd.errors import AgentUnavailableError
from acd.model import AgentState, CallStatus
from tests.acd.e2e.conftest import Site, queue_with, site_with


async def test_no_answer_requeues_the_call_at_the_head_and_pauses_the_agent(site: Site) -> None:
    site.add_agents(**{"101": {"answer_after": None}})
    ctl = await site.start_controller()
    await site.login(ctl, "a101")
    first = site.hold_call("+15550000001", call_id="first")
    await site.run(1)
    second = site.hold_call("+15550000002", call_id="second")
    await site.until(lambda: site.redirects_of(first), limit=5, what="first caller rings a101")
    await site.until(lambda: site.agent_in("a101", AgentState.PAUSED), limit=15, what="a101 paused")
    agent = await site.agent("a101")
    assert agent.reason == "no answer"
    call = await site.call(first)
    assert call.status is CallStatus.WAITING and call.attempts == 1
    assert await ctl.acd.store.position(call) == (1, 2)  # back at the head, before the later caller
    await site.until(lambda: site.call_in(first, CallStatus.WAITING), limit=3)
    await site.run(2)
    assert len(site.redirects_of(first)) == 1  # the paused agent is not rung again
    await site.login(ctl, "a102")
    await site.until(lambda: site.connected(first), limit=10, what="first caller connected to a102")
    assert site.bridged_with(first) == ["PJSIP/102"] and not site.redirects_of(second)
    assert [r.attempt for r in site.redirects_of(first)] == ["1", "2"]
    kinds = [e.fields.get("kind") for e in await site.stream("requeued")]
    assert kinds == ["dial noanswer"]  # the DialEnd; the dialplan's SB_RONA_ATTEMPT for it changed nothing
    assert await site.ivr_outcome(first) is None  # straight into hold: no IVR record


async def test_agent_gets_the_next_caller_only_after_wrap_up(site: Site) -> None:
    site.config = site_with(queues=queue_with("support", wrap_up_seconds=10))
    site.add_agents(**{"101": {"talk_for": 5.0}})
    ctl = await site.start_controller()
    first = site.hold_call("+15550000001")
    await site.run(1)
    second = site.hold_call("+15550000002")
    await site.until(lambda: site.call(second), limit=5, what="both callers queued")
    await site.login(ctl, "a101")
    await site.until(lambda: site.connected(first), limit=10)
    await site.until(lambda: not site.alive(first), limit=15, what="first call over")
    ended_at = site.clock.monotonic()
    await site.until(lambda: site.agent_in("a101", AgentState.WRAP_UP), limit=2)
    await site.until(lambda: site.redirects_of(second), limit=15, what="second caller redirected")
    assert 10.0 <= site.redirects_of(second)[0].at - ended_at < 11.0
    await site.until(lambda: site.connected(second), limit=5)
    assert (await site.agent("a101")).calls_taken == 2


async def test_caller_hanging_up_while_waiting_is_an_abandon_with_its_wait(site: Site) -> None:
    site.add_agents()
    ctl = await site.start_controller()
    channel = await site.ivr_call("+15551230009", "0", hangup_after=14.0)  # asks for an agent, nobody free
    call = await site.until(lambda: site.call(channel), limit=10, what="queued")
    await site.until(lambda: not site.alive(channel), limit=20, what="caller hung up")
    await site.until(lambda: site.stream("ended"), limit=2)
    (ended,) = await site.stream("ended")
    assert ended.fields["outcome"] == "abandoned" and ended.fields["call"] == call.call_id
    record = await site.until(lambda: _ended_record(site, call.call_id), limit=5, what="SQL record")
    assert record.outcome == "abandoned" and 8 < record.wait_seconds < 14
    assert await ctl.acd.store.get_call(call.call_id) is None
    assert await site.ivr_outcome(channel) == "queued"


async def _ended_record(site: Site, call_id: str) -> object:
    record = await site.record(call_id)
    return record if record is not None and record.ended_at is not None else None


async def test_unregistered_softphone_cannot_be_ready_and_a_dropped_one_gets_no_calls(site: Site) -> None:
    site.add_agents(**{"103": {"registered": False}})
    ctl = await site.start_controller()
    with pytest.raises(AgentUnavailableError):
        await site.login(ctl, "a103")  # its phone was never registered: known from DeviceStateList
    await site.login(ctl, "a101")
    site.emulator.unregister("101")  # the softphone drops (ContactStatus Removed, device UNAVAILABLE)
    await site.until(lambda: site.agent_in("a101", AgentState.PAUSED), limit=3, what="a101 paused")
    assert (await site.agent("a101")).reason == "softphone unregistered"
    channel = site.hold_call("+15550000001")
    await site.run(3)
    assert not site.redirects_of(channel) and site.dials_to("PJSIP/101") == []
    site.emulator.register("101")
    await site.until(lambda: site.connected(channel), limit=10, what="served once registered again")
    assert site.bridged_with(channel) == ["PJSIP/101"]
    site.emulator.register("103")
    await site.until(lambda: _logs_in(site, "a103"), limit=3, what="a103 may log in once registered")


async def _logs_in(site: Site, agent_id: str) -> bool:
    try:
        await site.acd.login(agent_id)
    except AgentUnavailableError:
        return False
    return True


async def test_redirect_of_a_caller_who_just_hung_up_is_an_abandon_and_frees_the_agent(site: Site) -> None:
    site.add_agents()
    ctl = await site.start_controller()
    site.slow_action("redirect", 1.0)  # Asterisk takes a second to act on the Redirect...
    gone = site.hold_call("+15550000001", call_id="gone")
    await site.run(0.5)
    await site.login(ctl, "a101")
    await site.until(lambda: site.agent_in("a101", AgentState.RINGING), limit=3)
    site.hangup(gone)  # ...and the caller hangs up meanwhile: "Channel does not exist: ..."
    await site.until(lambda: site.redirects, limit=3)
    assert site.redirects[0].existed is False
    await site.until(lambda: site.agent_in("a101", AgentState.READY), limit=3, what="a101 ready again")
    (ended,) = await site.stream("ended")
    assert (ended.fields["call"], ended.fields["outcome"]) == ("gone", "abandoned")
    site.slow_action("redirect", 0.0)
    nxt = site.hold_call("+15550000002")
    await site.until(lambda: site.connected(nxt), limit=10, what="the agent takes the next caller")
