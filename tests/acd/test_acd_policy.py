"""Routing policy, table-driven: who gets which call, when, and the explanation given."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from acd.codec import config_from_dict
from acd.model import AgentState, AgentStatus, PreferenceKind, Strategy, WaitingCall
from acd.policy import RoutingView, decide, estimated_wait, next_step_at, plan, scope_at
from acd.strategies import Candidate, choose

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

CONFIG: dict[str, Any] = {
    "skills": ["billing", "support"],
    "regions": ["eu", "us"],
    "agents": [
        {
            "id": "eu5",
            "endpoint": "PJSIP/201",
            "skills": {"billing": 5},
            "regions": ["eu"],
            "languages": ["en"],
        },
        {
            "id": "eu3",
            "endpoint": "PJSIP/202",
            "skills": {"billing": 3},
            "regions": ["eu"],
            "languages": ["en"],
        },
        {
            "id": "us5",
            "endpoint": "PJSIP/203",
            "skills": {"billing": 5},
            "regions": ["us"],
            "languages": ["en"],
        },
        {
            "id": "us2",
            "endpoint": "PJSIP/204",
            "skills": {"billing": 2},
            "regions": ["us"],
            "languages": ["en", "ko"],
        },
        {
            "id": "boss",
            "endpoint": "PJSIP/205",
            "skills": {"billing": 4},
            "regions": ["eu"],
            "substitutes": ["eu3", "us2"],
        },
        {"id": "sup", "endpoint": "PJSIP/206", "skills": {"support": 5}, "regions": ["eu"]},
    ],
    "queues": [
        {
            "name": "billing",
            "skill": "billing",
            "min_proficiency": 3,
            "steps": [
                {"after": 30, "action": "any-region"},
                {"after": 60, "action": "min-proficiency", "value": 2},
                {"after": 120, "action": "callback"},
            ],
        },
        {"name": "vipq", "skill": "billing", "steps": [{"after": 15, "action": "substitutes"}]},
        {"name": "flat", "skill": "billing"},
    ],
    "absences": [],
}


def cfg(**over: Any) -> Any:
    return config_from_dict({**CONFIG, **over})


def call(
    cid: str = "c1",
    *,
    queue: str = "billing",
    skill: str = "billing",
    waited: float = 0,
    priority: int = 0,
    region: str | None = "eu",
    language: str | None = None,
    pref: str | None = None,
    kind: PreferenceKind | None = None,
) -> WaitingCall:
    return WaitingCall(
        call_id=cid,
        queue=queue,
        skill=skill,
        channel="PJSIP/x",
        uniqueid=f"u-{cid}",
        enqueued_at=T0 - timedelta(seconds=waited),
        priority=priority,
        region=region,
        language=language,
        preferred_agent=pref,
        preference=kind,
    )


def ready(agent_id: str, idle: float = 10, calls: int = 0) -> AgentStatus:
    return AgentStatus(agent_id, AgentState.READY, idle_since=T0 - timedelta(seconds=idle), calls_taken=calls)


def view(statuses: list[AgentStatus], config: Any = None, last: dict[str, str] | None = None) -> RoutingView:
    return RoutingView(config or cfg(), {s.agent_id: s for s in statuses}, T0, last or {})


@pytest.mark.parametrize(
    ("case", "the_call", "statuses", "expected", "rule_has"),
    [
        ("skill and region match", call(), [ready("eu5"), ready("us5", idle=99)], "eu5", "proficiency-first"),
        ("region holds before its step", call(waited=29), [ready("us5")], None, "no eligible"),
        (
            "region relaxed at the configured second",
            call(waited=30),
            [ready("us5")],
            "us5",
            "proficiency-first",
        ),
        ("minimum proficiency holds", call(waited=59), [ready("us2")], None, "no eligible"),
        ("minimum proficiency lowered later", call(waited=60), [ready("us2")], "us2", "proficiency-first"),
        (
            "best tier beats longer idle",
            call(),
            [ready("eu3", idle=500), ready("eu5", idle=1)],
            "eu5",
            "tier 5",
        ),
        (
            "longest idle within a tier",
            call(waited=30),
            [ready("eu5", idle=5), ready("us5", idle=50)],
            "us5",
            "longest idle 50s",
        ),
        (
            "language must be spoken",
            call(region="us", waited=60, language="ko"),
            [ready("us5"), ready("us2")],
            "us2",
            "proficiency-first",
        ),
        ("agent without the skill is skipped", call(), [ready("sup")], None, "no eligible"),
    ],
)
def test_policy_picks_the_expected_agent(case, the_call, statuses, expected, rule_has):
    d = decide(the_call, view(statuses), [s.agent_id for s in statuses])
    assert d.agent_id == expected, f"{case}: {d.explanation}"
    assert rule_has in d.explanation.rule, case


def test_explanation_names_step_candidates_and_skipped_agents():
    statuses = [ready("eu5", idle=3), ready("eu3", idle=9), ready("us5"), ready("sup")]
    d = decide(call(), view(statuses), [s.agent_id for s in statuses])
    e = d.explanation
    assert d.agent_id == "eu5"
    assert e.step == "initial"
    assert [c.agent_id for c in e.candidates] == ["eu5", "eu3"]
    skipped = {s.agent_id: s.reason for s in e.skipped}
    assert skipped == {"us5": "region eu not served", "sup": "no skill billing"}
    assert e.not_ready == 2  # us2 and boss have the skill but are not ready
    assert "step 1 at 30s" in decide(call(waited=45), view(statuses), ["us5"]).explanation.step


def test_higher_priority_overtakes_longer_waiting_call():
    calls = [call("old", waited=100), call("vip", waited=1, priority=10)]
    decisions = plan(calls, view([ready("eu5")]), ["eu5"])
    assert decisions[0].call.call_id == "vip" and decisions[0].agent_id == "eu5"


def test_longest_waiting_first_at_equal_priority_and_each_agent_used_once():
    calls = [call("new", waited=5), call("old", waited=50), call("mid", waited=20)]
    decisions = plan(calls, view([ready("eu5"), ready("eu3")]), ["eu5", "eu3"])
    assert [(d.call.call_id, d.agent_id) for d in decisions] == [("old", "eu5"), ("mid", "eu3")]


def test_a_call_nobody_free_has_the_skill_for_does_not_hold_up_the_next():
    config = cfg(queues=[*CONFIG["queues"], {"name": "support", "skill": "support"}])
    support = call("sup-call", queue="support", skill="support", waited=500)
    decisions = plan([support, call("bill", waited=5)], view([ready("eu5")], config), ["eu5"])
    assert [(d.call.call_id, d.agent_id) for d in decisions] == [("sup-call", None), ("bill", "eu5")]
    assert "no ready agent with skill support" in decisions[0].explanation.rule


def test_vip_personal_agent_is_preferred_over_a_longer_idle_agent():
    c = call(queue="flat", pref="eu3", kind=PreferenceKind.VIP)
    d = decide(c, view([ready("eu5", idle=999), ready("eu3", idle=1)]), ["eu5", "eu3"])
    assert d.agent_id == "eu3" and d.explanation.rule == "preferred agent (vip)"


def test_absent_agents_callers_go_to_substitutes_in_order():
    config = cfg(
        absences=[
            {"agent": "boss", "kind": "sick", "from": "2026-01-05T00:00:00Z", "until": "2026-01-06T00:00:00Z"}
        ]
    )
    c = call(queue="vipq", pref="boss", kind=PreferenceKind.VIP)
    statuses = [ready("eu5", idle=999), ready("us2"), ready("eu3"), AgentStatus("boss", AgentState.READY)]
    d = decide(c, view(statuses, config), ["eu5", "us2", "eu3", "boss"])
    assert d.agent_id == "eu3"
    assert d.explanation.rule.startswith("substitute #1 of boss absent (sick)")
    d2 = decide(c, view(statuses, config), ["eu5", "us2", "boss"])
    assert d2.agent_id == "us2" and "substitute #2" in d2.explanation.rule


def test_busy_preferred_agent_is_waited_for_until_the_substitutes_step():
    busy = AgentStatus("boss", AgentState.ON_CALL, call_id="x")
    statuses = [busy, ready("eu3"), ready("eu5", idle=999)]
    held = decide(
        call(queue="vipq", waited=10, pref="boss", kind=PreferenceKind.REPEAT), view(statuses), ["eu3", "eu5"]
    )
    assert held.agent_id is None and "holding for preferred agent boss on_call" in held.explanation.rule
    later = decide(
        call(queue="vipq", waited=15, pref="boss", kind=PreferenceKind.REPEAT), view(statuses), ["eu3", "eu5"]
    )
    assert later.agent_id == "eu3" and "substitute #1 of boss" in later.explanation.rule


def test_repeat_caller_prefers_last_agent_when_ready():
    d = decide(
        call(queue="flat", pref="eu3", kind=PreferenceKind.REPEAT),
        view([ready("eu5"), ready("eu3")]),
        ["eu5", "eu3"],
    )
    assert d.agent_id == "eu3" and d.explanation.rule == "preferred agent (repeat)"


def test_paused_preferred_agent_is_not_waited_for():
    statuses = [AgentStatus("boss", AgentState.PAUSED, reason="lunch"), ready("eu5", idle=50)]
    d = decide(call(queue="vipq", pref="boss", kind=PreferenceKind.VIP), view(statuses), ["eu5"])
    assert d.agent_id == "eu5" and "boss paused (lunch)" in d.explanation.rule


@pytest.mark.parametrize(
    ("strategy", "last", "expected"),
    [
        (Strategy.PROFICIENCY_FIRST, None, "b"),
        (Strategy.LONGEST_IDLE, None, "a"),
        (Strategy.FEWEST_CALLS, None, "c"),
        (Strategy.ROUND_ROBIN, "a", "b"),
        (Strategy.ROUND_ROBIN, "c", "a"),
    ],
)
def test_each_strategy_picks_by_its_rule(strategy, last, expected):
    cands = [Candidate("a", 3, 100, 9), Candidate("b", 5, 10, 5), Candidate("c", 4, 50, 1)]
    chosen, rule = choose(strategy, cands, last)
    assert chosen.agent_id == expected
    assert strategy.value in rule


def test_queue_strategy_is_used_by_the_policy():
    config = cfg(queues=[{"name": "billing", "skill": "billing", "strategy": "fewest-calls"}])
    d = decide(call(), view([ready("eu5", calls=9), ready("eu3", calls=2)], config), ["eu5", "eu3"])
    assert d.agent_id == "eu3" and d.explanation.rule.startswith("fewest-calls")


def test_scope_and_next_deadline_follow_the_steps():
    q = cfg().queues["billing"]
    assert scope_at(q, 0).region_required and scope_at(q, 0).min_proficiency == 3
    assert not scope_at(q, 30).region_required
    assert scope_at(q, 60).min_proficiency == 2 and not scope_at(q, 60).callback_offered
    assert scope_at(q, 120).callback_offered
    c = call(waited=40)
    assert next_step_at(q, c, T0) == c.enqueued_at + timedelta(seconds=60)
    assert next_step_at(q, call(waited=500), T0) is None
    assert not scope_at(cfg().queues["flat"], 0).region_required  # no any-region step: regions ignored


def test_estimated_wait_grows_with_position_and_shrinks_with_staff():
    assert estimated_wait(1, [120, 120], 2, 180) == pytest.approx(30)
    assert estimated_wait(5, [120], 2, 180) > estimated_wait(2, [120], 2, 180)
    assert estimated_wait(3, [], 3, 180) == pytest.approx(150)
    assert estimated_wait(1, [60], 0, 180) == float("inf")
