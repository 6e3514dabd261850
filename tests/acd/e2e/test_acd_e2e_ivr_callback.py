"""An IVR callback node, end to end: the caller asks for a callback and is gone; an agent gets it later."""

from __future__ import annotations

import textwrap
from typing import Any

from acd.model import CallStatus
from sim.scripts import ScriptedAgent
from switchboard.settings import Settings
from tests.acd.e2e.conftest import Site

FLOW = """
flow: cbflow
start: menu
defaults: {timeout_ms: 4000, retries: 1}
prompts:
  menu: "Press 1 to be called back."
  thanks: "Thank you. We will call you back."
nodes:
  menu:
    kind: menu
    prompt: menu
    options:
      - {dtmf: 1, next: callback}
    on_fail: callback
  callback: {kind: callback, queue: support, prompt: thanks}
"""


def use_flows(site: Site) -> None:
    """The site's controllers run the flows of this test (a flows directory of its own)."""
    flows = site.tmp / "flows"
    flows.mkdir()
    (flows / "cbflow.yaml").write_text(textwrap.dedent(FLOW))
    base = site.settings

    def settings(**acd: Any) -> Settings:
        built = base(**acd)
        return built.model_copy(update={"ivr": built.ivr.model_copy(update={"flows_dir": flows})})

    site.settings = settings  # type: ignore[method-assign]
    site.emulator.set_global("SB_FLOW", "cbflow")


async def test_caller_asks_for_a_callback_in_the_ivr_hangs_up_and_an_agent_gets_it_later(site: Site) -> None:
    use_flows(site)
    site.add_agents()
    site.emulator.add_agent(ScriptedAgent("callbacks", answer_after=2.0, talk_for=None))
    ctl = await site.start_controller()
    channel = await site.ivr_call("+12125550142", "1")
    await site.until(lambda: not site.alive(channel), limit=20, what="caller hung up after the request")
    assert await site.until(lambda: site.ivr_outcome(channel), limit=5, what="IVR record") == "callback"
    (call,) = await ctl.acd.store.all_calls()
    assert call.callback and call.callback_number == "+12125550142" and call.channel == ""
    assert call.queue == "support" and call.status is CallStatus.WAITING
    await site.run(5)  # the caller's hang-up is not an abandon: the callback keeps waiting
    assert (await ctl.acd.store.get_call(call.call_id)).status is CallStatus.WAITING
    assert site.events.named("OriginateResponse") == []

    await site.login(ctl, "a101")
    await site.until(lambda: _callback_bridged(site), limit=20, what="callback leg bridged to an agent")
    # the Originate dialled the number the caller left, through the callback trunk
    dial_strings = [e.get("DialString") for e in site.events.named("DialBegin")]
    assert dial_strings.count("+12125550142@callbacks") == 1
    assert [e.get("Response") for e in site.events.named("OriginateResponse")] == ["Success"]
    assert site.dials_to("PJSIP/101")
    connected = await ctl.acd.store.get_call(call.call_id)
    assert connected.status is CallStatus.CONNECTED and connected.agent_id == "a101"
    record = await site.record(call.call_id)
    assert record.callback and record.callback_number == "+12125550142" and record.agent_id == "a101"


def _callback_bridged(site: Site) -> bool:
    legs = [e.get("Channel") or "" for e in site.events.named("Newchannel")]
    return any(site.bridged_with(leg) for leg in legs if "callbacks" in leg)
