"""A caller may hang up anywhere: at every node of the default flows the call record closes as abandoned
(or resolved, when they already said the fix worked), nothing is queued, and no exception reaches the logs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pytest

from sim.scripts import ScriptedCaller
from tests.ivr.e2e.conftest import IN_HOURS, SUNDAY, errors_logged, in_flight, prompt_file

NY = "+12125550100"


@dataclass(frozen=True)
class HangupCase:
    node: str  # flow:node the caller is at
    start: datetime
    keys: tuple[tuple[float, str], ...]
    playing: str | None  # prompt key being played when the caller hangs up (None: see command)
    command: str | None = None  # or: the AGI command running then
    number: str = NY
    outcome: str = "abandoned"


CASES = [
    HangupCase("main:welcome", IN_HOURS, (), "welcome"),
    HangupCase("main:main-menu", IN_HOURS, (), "main-menu-keys"),
    HangupCase("main:main-menu", IN_HOURS, (), None, command="WAIT FOR DIGIT"),
    HangupCase("main:main-menu", IN_HOURS, ((3.0, "9"),), "invalid"),
    HangupCase("main:main-menu", IN_HOURS, (), "no-input"),
    HangupCase("main:region-menu", IN_HOURS, ((1.5, "7"),), "region-menu"),
    HangupCase("main:tech-menu", IN_HOURS, ((1.5, "1"),), "tech-menu"),
    HangupCase("router-restart:restart-script", IN_HOURS, ((1.5, "1"), (2.0, "1")), "step-unplug"),
    HangupCase("router-restart:restart-script", IN_HOURS, ((1.5, "1"), (2.0, "1")), "did-it-work"),
    HangupCase("router-restart:restart-script", IN_HOURS, ((1.5, "1"), (2.0, "1"), (3.5, "2")),
               "step-cables"),
    HangupCase("router-restart:fixed", IN_HOURS, ((1.5, "1"), (2.0, "1"), (3.5, "1")), "fixed",
               outcome="resolved"),
    HangupCase("router-restart:not-fixed", IN_HOURS, ((1.5, "1"), (2.0, "1"), (3.5, "2"), (5.0, "2")),
               "not-fixed"),
    HangupCase("main:tech-queue", IN_HOURS, ((1.5, "1"), (2.0, "2")), "tech-hold"),
    HangupCase("main:billing", IN_HOURS, ((1.5, "2"),), "billing-hold"),
    HangupCase("main:agent", IN_HOURS, ((1.5, "0"),), "agent-hold"),
    HangupCase("main:vip-queue", IN_HOURS, (), "vip-welcome", number="+15557770100"),
    HangupCase("main:after-hours", SUNDAY, (), "closed"),
    HangupCase("main:after-hours-menu", SUNDAY, (), "after-hours-menu"),
    HangupCase("main:callback-failed", SUNDAY, ((1.5, "2"),), "callback-failed", number="anonymous"),
    HangupCase("main:goodbye", SUNDAY, ((1.5, "3"),), "goodbye"),
]


def case_id(case: HangupCase) -> str:
    return f"{case.node.split(':')[1]}-{case.playing or case.command}"


@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
async def test_hang_up_at_any_node_closes_the_record_without_errors(site, caplog, case):
    h = await site(case.start)
    ch = await h.place(ScriptedCaller(number=case.number, dtmf=case.keys))
    flow = case.node.split(":")[0]
    wanted = prompt_file(h, flow, case.playing) if case.playing else None

    def at_the_node() -> bool:
        command = in_flight(h, ch) or ""
        if wanted is not None:
            return command.startswith("STREAM FILE ") and command.split(" ")[2] == wanted
        return command.startswith(case.command or "")

    await h.driver.until(at_the_node, 60, f"caller reaches {case.node}")
    await h.driver.run_for(0.01)  # a moment into the prompt (an ANSWER takes 20 ms)
    assert h.emulator.hangup(ch.name)
    r = await h.finish(ch)
    assert r.outcome == case.outcome
    assert r.row.ended_at is not None
    assert f"caller hung up at {case.node}" in r.row.outcome_detail
    # the path ends with where the caller gave up
    assert r.nodes[-1] == case.node.replace("main:-", "main:hours")
    assert (r.steps[-1].input, r.steps[-1].result) == ("hangup", case.outcome)
    assert r.channel.destroyed and all(call.finished for call in r.agi)
    assert await h.ctl.acd.call_for_channel(ch.uniqueid) is None
    assert errors_logged(caplog) == []


async def test_scripted_caller_hanging_up_in_the_main_menu_is_abandoned(site, caplog):
    h = await site(IN_HOURS)
    r = await h.call(ScriptedCaller(number=NY, hangup_after=1.5))
    assert r.outcome == "abandoned" and r.nodes[-1] == "main:main-menu"
    last = r.steps[-1]
    assert (last.kind, last.input, last.result) == ("menu", "hangup", "abandoned")
    assert 400 <= last.duration_ms <= 600  # in the menu from 1.02 s to 1.5 s
    assert "caller hung up at main:main-menu" in r.row.outcome_detail
    assert errors_logged(caplog) == []


async def test_hang_up_after_the_hand_off_keeps_the_call_queued(site):
    # the caller is on hold when they give up: the IVR outcome stays "queued" (the ACD owns the wait now)
    h = await site(IN_HOURS)
    r = await h.call(ScriptedCaller(number=NY, dtmf=[(1.5, "2")], hangup_after=10))
    assert r.outcome == "queued" and r.on_hold
    await h.driver.until(lambda: r.channel.destroyed, 20, "caller hangs up on hold")
    await h.drain()
    again = await h.result(r.channel)
    assert again.outcome == "queued"
