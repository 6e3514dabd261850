"""Keypad callers through the shipped flows (flows/main.yaml, flows/router-restart.yaml), end to end: the
emulator runs asterisk-conf/extensions.conf, AGI reaches the real controller over TCP, records land in SQL.

Timeline of a business-hours call (every prompt lasts 1 s on the emulator, keys are seconds after answer):
welcome 0.02-1.02, main menu 1.02-2.02, then 5 s waiting for a key. A key pressed during a prompt that
accepts it cuts the prompt short, so the next prompt starts at the press.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sim.scripts import ScriptedCaller
from tests.ivr.e2e.conftest import CHRISTMAS, IN_HOURS, SUNDAY, errors_logged

NY_CALLER = "+12125550100"


async def test_billing_key_queues_the_caller_for_billing_and_parks_them_on_hold(site, caplog):
    h = await site(IN_HOURS)
    r = await h.call(ScriptedCaller(number=NY_CALLER, dtmf=[(1.5, "2")]))
    assert r.outcome == "queued"
    assert r.nodes == ["main:hours", "main:vip-check", "main:welcome", "main:why-calling", "main:main-menu",
                       "main:billing"]
    assert (r.row.queue, r.row.skill, r.row.region, r.row.vip) == ("billing", "billing", "americas", False)
    assert r.steps[4].input == "dtmf:2" and r.steps[4].result == "choice:billing"
    # the dialplan took the caller to the hold context, where the ACD has them waiting
    assert r.on_hold and "MusicOnHoldStart" in r.event_names()
    assert r.variables["SB_QUEUE"] == "billing" and r.variables["SB_SKILL"] == "billing"
    assert r.variables["SB_CALL_ID"] == r.row.call_id and r.variables["AGISTATUS"] == "SUCCESS"
    waiting = await h.ctl.acd.call_for_channel(r.channel.uniqueid)
    assert waiting is not None and (waiting.queue, waiting.skill, waiting.region) == (
        "billing", "billing", "americas")
    assert r.row.ended_at is not None and errors_logged(caplog) == []


async def test_zero_reaches_an_agent_with_the_general_skill(site):
    h = await site(IN_HOURS)
    r = await h.call(ScriptedCaller(number=NY_CALLER, dtmf=[(1.5, "0")]))
    assert r.outcome == "queued" and r.nodes[-1] == "main:agent"
    assert (r.row.queue, r.row.skill) == ("support", "general")
    assert r.on_hold


async def test_router_restart_fixed_by_yes_ends_the_call_resolved_and_counts_a_deflection(site, caplog):
    h = await site(IN_HOURS)
    # 1.5 technical support; 2.0 "internet down" (router-restart); the first step plays 2.0-3.0, then
    # "is your internet working now?" 3.0-4.0: 1 = yes at 3.5
    r = await h.call(ScriptedCaller(number=NY_CALLER, dtmf=[(1.5, "1"), (2.0, "1"), (3.5, "1")]))
    assert r.outcome == "resolved" and r.row.resolved_by == "router-restart"
    assert r.nodes[-4:] == ["main:router-help", "router-restart:restart-script#1",
                            "router-restart:restart-script#1", "router-restart:fixed"]
    assert r.steps[-2].result == "choice:yes"
    assert r.channel.destroyed and not r.variables.get("SB_QUEUE")  # the flow hung up: no hold, no queue
    assert await h.ctl.acd.call_for_channel(r.channel.uniqueid) is None
    deflection = await h.ctl.ivr_store.deflection("router-restart")
    assert (deflection.started, deflection.resolved, deflection.rate) == (1, 1, 1.0)
    assert errors_logged(caplog) == []


async def test_router_restart_not_fixed_queues_for_an_internet_technician(site):
    h = await site(IN_HOURS)
    # no at the first check (3.5); the second step plays 3.5-4.5, its check 4.5-5.5: no at 5.0
    r = await h.call(ScriptedCaller(number=NY_CALLER, dtmf=[(1.5, "1"), (2.0, "1"), (3.5, "2"), (5.0, "2")]))
    assert r.outcome == "queued"
    assert (r.row.queue, r.row.skill) == ("support", "internet")
    assert "router-restart:not-fixed" in r.nodes and r.nodes[-1] == "main:tech-queue"
    assert r.on_hold and r.variables["SB_SKILL"] == "internet"
    deflection = await h.ctl.ivr_store.deflection("router-restart")
    assert (deflection.started, deflection.resolved) == (1, 0)


async def test_other_technical_problem_goes_to_the_technicians(site):
    h = await site(IN_HOURS)
    r = await h.call(ScriptedCaller(number=NY_CALLER, dtmf=[(1.5, "1"), (2.0, "2")]))
    assert r.outcome == "queued" and r.nodes[-2:] == ["main:tech-menu", "main:tech-queue"]
    assert r.row.skill == "internet"


async def test_vip_caller_skips_the_menu_into_the_vip_queue_with_priority(site):
    h = await site(IN_HOURS)
    r = await h.call(ScriptedCaller(number="+15557770100"))
    assert r.outcome == "queued"
    assert r.nodes == ["main:hours", "main:vip-check", "main:vip-lane", "main:vip-queue"]
    assert (r.row.queue, r.row.vip, r.row.priority, r.row.skill) == ("vip", True, 50, "general")
    waiting = await h.ctl.acd.call_for_channel(r.channel.uniqueid)
    assert waiting is not None and waiting.queue == "vip" and waiting.vip and waiting.priority >= 50
    assert r.variables["SB_PRIORITY"] == "50"


async def test_vip_number_in_national_format_is_recognised(site):
    h = await site(IN_HOURS)
    r = await h.call(ScriptedCaller(number="(555) 777-0101"))
    assert r.row.queue == "vip" and r.row.vip


@pytest.mark.parametrize(
    ("when", "open_"),
    [
        (IN_HOURS, True),  # Tuesday 10:00 New York
        (datetime(2026, 11, 28, 15, 0, tzinfo=UTC), True),  # Saturday 10:00
        (datetime(2026, 11, 28, 23, 0, tzinfo=UTC), False),  # Saturday 18:00, after 17:00
        (datetime(2026, 11, 25, 1, 30, tzinfo=UTC), False),  # Tuesday 20:30 New York
        (SUNDAY, False),
        (CHRISTMAS, False),  # holiday
        (datetime(2026, 12, 24, 17, 0, tzinfo=UTC), True),  # Christmas Eve 12:00: short day 08-13
        (datetime(2026, 12, 24, 19, 0, tzinfo=UTC), False),  # Christmas Eve 14:00
        (datetime(2026, 7, 6, 12, 30, tzinfo=UTC), True),  # Monday 08:30 EDT (summer time)
        (datetime(2026, 1, 5, 12, 30, tzinfo=UTC), False),  # Monday 07:30 EST (winter time)
    ],
    ids=["tue-10", "sat-10", "sat-18", "tue-2030", "sunday", "christmas", "xmas-eve-12", "xmas-eve-14",
         "summer-0830", "winter-0730"],
)
async def test_business_hours_follow_the_clock_date_in_new_york(site, when, open_):
    h = await site(when)
    r = await h.call(ScriptedCaller(number=NY_CALLER, dtmf=[(1.5, "0" if open_ else "3")]))
    assert r.steps[0].result == ("true:vip-check" if open_ else "false:after-hours")
    assert r.outcome == ("queued" if open_ else "ended")


async def test_after_hours_caller_can_say_goodbye(site):
    h = await site(SUNDAY)
    # closed message 0.02-1.02, after-hours menu 1.02-2.02: 3 = goodbye
    r = await h.call(ScriptedCaller(number=NY_CALLER, dtmf=[(1.5, "3")]))
    assert r.outcome == "ended"
    assert r.nodes[-3:] == ["main:after-hours", "main:after-hours-menu", "main:goodbye"]
    assert r.channel.destroyed and not r.variables.get("SB_QUEUE")


async def test_after_hours_self_help_resolves_the_problem(site):
    h = await site(SUNDAY)
    r = await h.call(ScriptedCaller(number=NY_CALLER, dtmf=[(1.5, "1"), (3.0, "1")]))
    assert r.outcome == "resolved" and r.nodes[-1] == "router-restart:fixed"


async def test_after_hours_callback_request_waits_in_the_acd_as_a_callback_to_the_caller(site, caplog):
    # switchboard.app gives the runner the ACD's CallbackPort (acd/ivr_callbacks.py)
    h = await site(SUNDAY)
    r = await h.call(ScriptedCaller(number=NY_CALLER, dtmf=[(1.5, "2")]))
    assert r.nodes[-1] == "main:callback"
    assert r.outcome == "callback" and r.channel.destroyed
    call = await h.ctl.acd.store.get_call(r.row.call_id)
    assert call is not None and call.callback and call.callback_number == NY_CALLER and not call.channel
    assert errors_logged(caplog) == []


async def test_after_hours_callback_without_a_usable_number_apologises_and_says_goodbye(site, caplog):
    # the flow's on_fail path must give the caller a clear message rather than dead air
    h = await site(SUNDAY)
    r = await h.call(ScriptedCaller(number="anonymous", dtmf=[(1.5, "2")]))
    assert r.nodes[-3:] == ["main:callback", "main:callback-failed", "main:goodbye"]
    assert r.outcome == "ended" and r.channel.destroyed
    assert errors_logged(caplog) == []


async def test_region_menu_overrides_the_region_of_the_caller_number(site):
    h = await site(IN_HOURS)
    # 7 at 1.5 (region menu 1.5-2.5), 2 = EMEA at 2.0, main menu again 2.0-3.0: 2 = billing at 2.5
    r = await h.call(ScriptedCaller(number=NY_CALLER, dtmf=[(1.5, "7"), (2.0, "2"), (2.5, "2")]))
    assert r.outcome == "queued" and r.row.queue == "billing"
    assert r.row.region == "emea" and r.variables["SB_REGION"] == "emea"
    assert [s.node for s in r.steps if s.kind == "menu"] == ["main-menu", "region-menu", "main-menu"]
    waiting = await h.ctl.acd.call_for_channel(r.channel.uniqueid)
    assert waiting is not None and waiting.region == "emea"


@pytest.mark.parametrize(
    ("number", "region"),
    [("+442071830100", "emea"), ("+61290000100", "apac"), ("+12125550100", "americas"), ("anonymous", None)],
)
async def test_region_comes_from_the_caller_number(site, number, region):
    h = await site(IN_HOURS)
    r = await h.call(ScriptedCaller(number=number, dtmf=[(1.5, "2")]))
    assert r.row.region == region and r.outcome == "queued"
    assert r.variables["SB_REGION"] == (region or "")


async def test_silent_caller_is_asked_three_times_then_reaches_an_agent(site):
    h = await site(IN_HOURS)
    r = await h.call(ScriptedCaller(number=NY_CALLER))
    menu = [s for s in r.steps if s.node == "main-menu"]
    assert [s.result for s in menu] == ["timeout", "timeout", "timeout"]
    assert r.outcome == "queued" and r.nodes[-1] == "main:agent" and r.row.skill == "general"
    # each wait is the flow's 5 s timeout: menu 1.02-2.02, wait to 7.02, "no input" to 8.02, menu again...
    waits = [c for c in r.commands if c.startswith("WAIT FOR DIGIT")]
    assert waits == ["WAIT FOR DIGIT 5000"] * 3
    assert r.on_hold


async def test_caller_who_answers_on_the_second_try_is_routed(site):
    h = await site(IN_HOURS)
    # first wait times out at 7.02, "no input" 7.02-8.02, menu 8.02-9.02: billing at 8.5
    r = await h.call(ScriptedCaller(number=NY_CALLER, dtmf=[(8.5, "2")]))
    assert [s.result for s in r.steps if s.node == "main-menu"] == ["timeout", "choice:billing"]
    assert r.row.queue == "billing"


async def test_star_and_hash_noise_counts_as_invalid_and_the_caller_still_gets_through(site, caplog):
    h = await site(IN_HOURS)
    # "*" during the menu prompt is not a choice and is ignored; "#" at 3.0 (waiting) is invalid;
    # "invalid" 3.0-4.0, menu 4.0-5.0, waiting from 5.0: "*9#" at 6.0 -> "*" invalid (the rest is dropped
    # while "invalid" plays); menu 7.0-8.0: 2 at 7.5
    keys = [(1.5, "*"), (3.0, "#"), (6.0, "*9#"), (7.5, "2")]
    r = await h.call(ScriptedCaller(number=NY_CALLER, dtmf=keys))
    menu = [(s.input, s.result) for s in r.steps if s.node == "main-menu"]
    assert menu == [("dtmf:#", "invalid"), ("dtmf:*", "invalid"), ("dtmf:2", "choice:billing")]
    assert r.row.queue == "billing" and errors_logged(caplog) == []


async def test_three_wrong_keys_send_the_caller_to_an_agent(site):
    h = await site(IN_HOURS)
    # waiting from 2.02: 9 at 3.0 (invalid 3.0-4.0, menu 4.0-5.0), 8 at 6.0 (invalid, menu 7.0-8.0), # at 9.0
    r = await h.call(ScriptedCaller(number=NY_CALLER, dtmf=[(3.0, "9"), (6.0, "8"), (9.0, "#")]))
    assert [s.result for s in r.steps if s.node == "main-menu"] == ["invalid"] * 3
    assert r.outcome == "queued" and r.nodes[-1] == "main:agent"


async def test_key_pressed_during_the_invalid_prompt_is_taken_as_the_answer(site):
    h = await site(IN_HOURS)
    r = await h.call(ScriptedCaller(number=NY_CALLER, dtmf=[(3.0, "9"), (3.5, "2")]))
    assert [s.result for s in r.steps if s.node == "main-menu"] == ["invalid", "choice:billing"]
    assert r.row.queue == "billing"


async def test_repeat_caller_within_the_window_skips_the_script_with_a_priority_bump(site):
    h = await site(IN_HOURS, ivr={"repeat_window_hours": 0.05})  # a 3-minute window
    first = await h.call(ScriptedCaller(number=NY_CALLER, dtmf=[(1.5, "1"), (2.0, "1"), (3.5, "1")]))
    assert first.outcome == "resolved"
    await h.driver.run_for(60)
    # back a minute later: technical support, internet down -> "we see that did not solve it", technician
    again = await h.call(ScriptedCaller(number=NY_CALLER, dtmf=[(1.5, "1"), (2.0, "1")]))
    script = next(s for s in again.steps if s.node == "restart-script")
    assert script.input == "repeat-caller" and script.result == "skipped:+20:welcome-back"
    assert again.outcome == "queued" and (again.row.skill, again.row.priority) == ("internet", 20)
    assert "router-restart:welcome-back" in again.nodes
    waiting = await h.ctl.acd.call_for_channel(again.channel.uniqueid)
    assert waiting is not None and waiting.priority >= 20
    # after the window the script is offered again (and still counts)
    await h.driver.run_for(200)
    later = await h.call(ScriptedCaller(number=NY_CALLER, dtmf=[(1.5, "1"), (2.0, "1"), (3.5, "1")]))
    assert later.outcome == "resolved" and later.row.priority == 0
    deflection = await h.ctl.ivr_store.deflection("router-restart")
    assert (deflection.started, deflection.resolved) == (2, 2)


async def test_a_different_caller_is_not_treated_as_a_repeat(site):
    h = await site(IN_HOURS)
    await h.call(ScriptedCaller(number=NY_CALLER, dtmf=[(1.5, "1"), (2.0, "1"), (3.5, "1")]))
    other = await h.call(ScriptedCaller(number="+12125550199", dtmf=[(1.5, "1"), (2.0, "1"), (3.5, "1")]))
    assert other.outcome == "resolved" and other.row.priority == 0


async def test_calls_in_parallel_keep_their_own_paths(site):
    h = await site(IN_HOURS)
    billing = await h.place(ScriptedCaller(number="+12125550101", dtmf=[(1.5, "2")]))
    agent = await h.place(ScriptedCaller(number="+442071830102", dtmf=[(1.5, "0")]))
    fixed = await h.place(ScriptedCaller(number="+12125550103", dtmf=[(1.5, "1"), (2.0, "1"), (3.5, "1")]))
    results = [await h.finish(ch) for ch in (billing, agent, fixed)]
    assert [r.outcome for r in results] == ["queued", "queued", "resolved"]
    assert [r.row.queue for r in results[:2]] == ["billing", "support"]
    assert results[1].row.region == "emea"
    assert len({r.row.call_id for r in results}) == 3
