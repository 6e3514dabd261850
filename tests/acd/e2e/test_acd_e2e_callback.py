"""The hold loop (the acd/hold AGI route from sb-hold) and callbacks, through the emulator."""

from __future__ import annotations

from acd.model import CallStatus
from sim.scripts import ScriptedAgent, ScriptedCaller
from tests.acd.e2e.conftest import Site, queue_with, site_with


async def test_caller_takes_a_callback_keeps_their_place_and_is_called_back_when_an_agent_is_free(
    site: Site,
) -> None:
    site.config = site_with(queues=queue_with("support", steps=[{"after": 5, "action": "callback"}]))
    site.add_agents()
    site.emulator.add_agent(ScriptedAgent("callbacks", answer_after=2.0, talk_for=None))
    ctl = await site.start_controller()
    earlier = site.hold_call("+15550000001", call_id="earlier")
    await site.run(1)
    # The first announcement comes after SB_ANNOUNCE_FIRST (15 s); the caller keeps pressing 1 from then on.
    presses = tuple((15.0 + 0.5 * i, "1") for i in range(10))
    channel = await site.emulator.place_call(
        ScriptedCaller(number="+15551230042", dtmf=presses), context="sb-hold"
    )
    ch = site.emulator.channel(channel)
    ch.variables.update({"SB_CALL_ID": "cb-1", "SB_QUEUE": "support", "SB_SKILL": "general"})
    site.emulator.pbx.answer(ch)
    await site.until(lambda: site.call(channel), limit=5, what="caller adopted from hold")
    await site.until(lambda: not site.alive(channel), limit=30, what="caller hung up after choosing callback")
    call = await ctl.acd.store.get_call("cb-1")
    assert call is not None and call.callback and call.status is CallStatus.WAITING
    assert call.callback_number == "+15551230042" and await ctl.acd.store.position(call) == (2, 2)
    hold_agi = [e for e in site.events.named("VarSet") if e.get("Variable") == "SB_HOLD_ACTION"]
    assert [e.get("Value") for e in hold_agi] == ["callback"]
    await site.login(ctl, "a101", "a102")
    await site.until(lambda: site.connected(earlier), limit=10, what="the earlier caller first")
    await site.until(lambda: _callback_bridged(site), limit=20, what="callback leg bridged to an agent")
    call = await ctl.acd.store.get_call("cb-1")
    assert call.status is CallStatus.CONNECTED and call.agent_id == "a102"
    originates = [e for e in site.events.named("OriginateResponse")]
    assert [e.get("Response") for e in originates] == ["Success"]


def _callback_bridged(site: Site) -> bool:
    legs = [e.get("Channel") or "" for e in site.events.named("Newchannel")]
    return any(site.bridged_with(leg) for leg in legs if "callbacks" in leg)
