"""When something breaks the caller still gets through: a flow bug plays the apology and hands the call to the
default queue; an unreachable or vanishing controller leaves the caller in the dialplan's hold context."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

from ivr.runtime import texts
from ivr.runtime.channel import rendered_name
from sim.scripts import ScriptedCaller
from tests.ivr.e2e.conftest import (
    E2E,
    FLOWS_DIR,
    IN_HOURS,
    errors_logged,
    in_flight,
    prompt_file,
    refused_port,
)

NY = "+12125550100"


async def waiting_call(h: E2E, uniqueid: str, limit: float = 10.0):
    """Drive time until the ACD holds a waiting call for the channel (AMI events travel in real time)."""
    end = h.clock.monotonic() + limit
    while h.clock.monotonic() < end:
        call = await h.ctl.acd.call_for_channel(uniqueid)
        if call is not None:
            return call
        await h.driver.run_for(0.25)
    return None


async def test_broken_subflow_file_plays_the_apology_and_queues_to_the_default_queue(site, tmp_path, caplog):
    flows = tmp_path / "flows"
    shutil.copytree(FLOWS_DIR, flows)
    (flows / "router-restart.yaml").write_text("flow: router-restart\nstart: [unclosed\n")  # a bad edit
    h = await site(IN_HOURS, flows_dir=flows)
    assert "router-restart" not in h.ctl.flows.names and "main" in h.ctl.flows.names
    r = await h.call(ScriptedCaller(number=NY, dtmf=[(1.5, "1"), (2.0, "1")]))
    assert r.outcome == "error" and "sub-flow 'router-restart' is not loaded" in r.row.outcome_detail
    apology = prompt_file(h, "main", "apology")
    played = [c.split()[2] for c in r.commands if c.startswith("STREAM FILE")]
    assert played[-1] == apology  # the apology, then the hand-off
    assert (r.row.queue, r.row.skill) == ("support", "general")
    assert r.on_hold and r.variables["SB_QUEUE"] == "support"
    waiting = await h.ctl.acd.call_for_channel(r.channel.uniqueid)
    assert waiting is not None and waiting.reason == "error-fallback"
    # the failure is logged once, with its traceback, for whoever fixes the flow
    assert any("ivr flow failed" in line for line in errors_logged(caplog))


async def test_flow_that_never_ends_is_stopped_and_the_caller_queued(site, tmp_path):
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "looper.yaml").write_text(textwrap.dedent("""
        start: check
        nodes:
          check: {kind: condition, if: {var: ticket, set: true}, then: done, else: again}
          again: {kind: set, values: {note: waiting}, next: check}
          done: {kind: queue, queue: billing}
    """))
    h = await site(IN_HOURS, flows_dir=flows)
    h.emulator.set_global("SB_FLOW", "looper")
    r = await h.call(ScriptedCaller(number=NY))
    assert r.outcome == "error" and "without ending" in r.row.outcome_detail
    assert r.row.queue == "support" and r.on_hold
    # the built-in apology text is played when the flow has none
    builtin = f"{h.settings.ivr.sounds_dir.resolve()}/{rendered_name(texts.APOLOGY, 'en')}"
    assert r.commands[1] == f'STREAM FILE {builtin} ""'
    assert r.commands[2:] == [
        f"SET VARIABLE SB_CALL_ID {r.row.call_id}", "SET VARIABLE SB_QUEUE support",
        "SET VARIABLE SB_SKILL general", "SET VARIABLE SB_REGION americas", "SET VARIABLE SB_PRIORITY 0",
    ]  # fmt: skip


async def test_unreachable_controller_sends_the_caller_straight_to_hold_and_the_acd_adopts_them(site):
    h = await site(IN_HOURS)
    h.emulator.set_global("SB_CONTROLLER", f"127.0.0.1:{refused_port()}")
    r = await h.call(ScriptedCaller(number=NY, dtmf=[(1.5, "2")]))
    assert r.row is None  # the IVR never ran
    assert r.agi and r.agi[0].connect_failed and r.commands == []
    assert r.variables["AGISTATUS"] == "FAILURE"
    assert r.on_hold  # music on hold, never dead air
    moh = next(e for e in r.events if e.name == "MusicOnHoldStart")
    answered = next(e for e in r.events if e.name == "Newstate")
    assert moh.timestamp - answered.timestamp < 0.1
    # the controller still watches Asterisk over AMI: it queues the caller it sees on hold
    waiting = await waiting_call(h, r.channel.uniqueid)
    assert waiting is not None and waiting.queue == "support"


async def test_controller_going_away_mid_call_leaves_the_caller_on_hold(site, caplog):
    h = await site(IN_HOURS)
    ch = await h.place(ScriptedCaller(number=NY))
    await h.driver.until(lambda: (in_flight(h, ch) or "").startswith("WAIT FOR DIGIT"), 30, "main menu")
    await h.ctl.agi.close()  # shutting down: live AGI sessions end with FAILURE
    r = await h.finish(ch)
    assert r.variables["AGISTATUS"] == "FAILURE" and r.on_hold
    assert r.outcome == "error" and "cancelled at main:main-menu" in r.row.outcome_detail
    assert errors_logged(caplog) == []


async def test_unknown_flow_name_runs_the_default_flow(site):
    h = await site(IN_HOURS)
    h.emulator.set_global("SB_FLOW", "no-such-flow")
    r = await h.call(ScriptedCaller(number=NY, dtmf=[(1.5, "2")]))
    assert r.row.flow == "main" and r.row.queue == "billing"


async def test_hostile_caller_id_is_stored_safely_and_the_caller_gets_through(site, caplog):
    h = await site(IN_HOURS)
    name = "Robert'); DROP TABLE calls;--\u202e\U0001f600" + "x" * 300
    r = await h.call(ScriptedCaller(number="+1212555\u0660100<script>", name=name, dtmf=[(1.5, "2")]))
    assert r.outcome == "queued" and r.row.queue == "billing"
    assert len(r.row.caller_name) <= 128 and r.row.caller_name.startswith("Robert'); DROP TABLE")
    assert errors_logged(caplog) == []


def test_dialplan_has_the_unreachable_controller_fallback_and_the_hold_return() -> None:
    """The shipped sb-inbound sends AGI failures and queued calls to sb-hold, which starts music on hold."""
    from sim.dialplan import Dialplan

    conf = Path(__file__).resolve().parents[3] / "asterisk-conf" / "extensions.conf"
    text = conf.read_text()
    assert '$["${AGISTATUS}" = "FAILURE"]?sb-hold,s,1' in text
    assert '$["${SB_QUEUE}" != ""]?sb-hold,s,1' in text
    plan = Dialplan.load(conf)
    hold = [plan.find("sb-hold", "s", p) for p in range(1, 10)]
    assert any(step is not None and step.app == "MusicOnHold" for step in hold)


async def test_flow_edits_apply_to_new_calls_without_a_restart_and_a_bad_edit_never_runs(site, tmp_path):
    flows = tmp_path / "flows"
    shutil.copytree(FLOWS_DIR, flows)
    h = await site(IN_HOURS, flows_dir=flows)
    first = await h.call(ScriptedCaller(number=NY, dtmf=[(1.5, "2")]))
    assert first.row.queue == "billing"
    main = flows / "main.yaml"
    good = main.read_text().replace("queue: billing\n    skill: billing", "queue: vip\n    skill: billing")
    version = h.ctl.flows.get("main").version  # type: ignore[union-attr]
    main.write_text(good)
    await h.driver.until(lambda: h.ctl.flows.get("main").version != version, 30, "reload")  # type: ignore[union-attr]
    edited = await h.call(ScriptedCaller(number=NY, dtmf=[(1.5, "2")]))
    assert edited.row.queue == "vip" and edited.row.flow_version != first.row.flow_version
    main.write_text(good.replace("start: hours", "start: nowhere"))  # an edit with a mistake
    await h.driver.until(lambda: bool(h.ctl.flows.problems), 30, "the bad edit is noticed")
    still = await h.call(ScriptedCaller(number=NY, dtmf=[(1.5, "2")]))
    assert still.row.queue == "vip" and still.row.flow_version == edited.row.flow_version
