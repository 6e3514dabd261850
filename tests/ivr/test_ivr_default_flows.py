"""The flows shipped in flows/: main menu, technical support with the router-restart script, billing, agent
by voice or 0, business-hours and after-hours branches, a VIP fast lane; a hang-up at every node of them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ivr.flows import FlowRegistry
from ivr.runtime import MemorySelfServiceStore, Outcome, SelfService
from switchboard.clock import ManualClock

FLOWS_DIR = Path(__file__).resolve().parents[2] / "flows"

IN_HOURS = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)  # Tuesday 10:00 in New York
AFTER_HOURS = datetime(2026, 3, 8, 15, 0, tzinfo=UTC)  # Sunday
VIP = "+15557770100"
REGIONS = {"US": "americas", "CA": "americas", "GB": "emea", "FR": "emea", "JP": "apac"}


@dataclass
class Scenario:
    name: str
    when: datetime
    script: tuple[object, ...]
    callerid: str = "+15551230001"
    speech: str | None = None  # None: no engine; "free": free speech OK; "grammar": grammar only
    callbacks: bool = True
    resolved_before: bool = False  # this caller had the router fixed yesterday
    expect: Outcome = Outcome.QUEUED
    queue: str | None = None
    visited: list[tuple[str, str]] = field(default_factory=list)


def scenarios(kit) -> list[Scenario]:
    P, S = kit.Press, kit.Speak
    return [
        Scenario("vip fast lane", IN_HOURS, (), callerid=VIP, queue="vip"),
        Scenario(
            "internet by free speech, script does not fix it",
            IN_HOURS,
            (S("my internet is down again"), P("2"), P("2")),
            speech="free",
            queue="support",
        ),
        Scenario(
            "region change then router fixed",
            IN_HOURS,
            (P("7"), P("2"), P("1"), P("1"), P("1")),
            expect=Outcome.RESOLVED,
        ),
        Scenario("billing by key", IN_HOURS, (P("2"),), queue="billing"),
        Scenario("agent by zero", IN_HOURS, (P("0"),), queue="support"),
        Scenario("agent by voice", IN_HOURS, (S("speak to an agent"),), speech="grammar", queue="support"),
        Scenario(
            "after hours, repeat caller, callback",
            AFTER_HOURS,
            (P("1"),),
            resolved_before=True,
            expect=Outcome.CALLBACK,
        ),
        Scenario(
            "after hours, callback service down",
            AFTER_HOURS,
            (P("2"),),
            callbacks=False,
            expect=Outcome.ENDED,
        ),
    ]


async def play(kit, sc: Scenario, hangup_at: tuple[str, str] | None = None):
    clock = ManualClock(sc.when)
    store = MemorySelfServiceStore()
    if sc.resolved_before:
        await store.script_started("router-restart", "earlier", sc.callerid, sc.when - timedelta(hours=20))
        await store.script_resolved("router-restart", "earlier", sc.when - timedelta(hours=20))
    channel = kit.channel(*sc.script, callerid=sc.callerid)
    visited: list[tuple[str, str]] = []

    def observe(call_id: str, flow: str, node: str) -> None:
        visited.append((flow, node))
        if hangup_at == (flow, node):
            channel.hang_up_now()

    speech = None if sc.speech is None else kit.speech(free_ok=sc.speech == "free")
    runner = kit.runner(
        clock,
        speech=speech,
        observer=observe,
        callbacks=kit.callbacks if sc.callbacks else None,
        selfservice=SelfService(store, repeat_window=timedelta(hours=24)),
        region_map=REGIONS,
    )
    kit.queue.requests.clear()
    kit.callbacks.requests.clear()
    path = await runner.run(channel, kit.default_flows(), "main")
    return path, channel, visited


@pytest.mark.parametrize("index", range(8))
async def test_default_flow_scenarios_end_as_expected(kit, index):
    sc = scenarios(kit)[index]
    path, _channel, _visited = await play(kit, sc)
    assert path.outcome == sc.expect, (sc.name, path.detail, [s.result for s in path.steps])
    if sc.queue is not None:
        assert [r.queue for r in kit.queue.requests] == [sc.queue], sc.name


async def test_vip_fast_lane_gets_priority_and_the_vip_flag(kit):
    _path, channel, _ = await play(kit, scenarios(kit)[0])
    req = kit.queue.requests[0]
    assert (req.vip, req.priority, req.reason, req.region) == (True, 50, "vip-fast-lane", "americas")
    assert channel.variables["SB_PRIORITY"] == "50"


async def test_region_comes_from_the_number_and_a_menu_choice_overrides_it(kit):
    sc = Scenario(
        "uk caller picks asia",
        IN_HOURS,
        (kit.Press("7"), kit.Press("3"), kit.Press("2")),
        callerid="+442071234567",
    )
    path, _, _ = await play(kit, sc)
    assert path.start.region == "emea"
    assert kit.queue.requests[0].region == "apac" and kit.queue.requests[0].queue == "billing"


async def test_router_fix_is_a_resolved_outcome_and_counts_as_a_deflection(kit):
    path, channel, visited = await play(kit, scenarios(kit)[2])
    assert path.outcome == Outcome.RESOLVED and path.resolved_by == "router-restart"
    assert ("router-restart", "fixed") in visited
    assert kit.queue.requests == [] and channel.hangup_sent


async def test_repeat_caller_skips_the_script_with_a_priority_bump(kit):
    sc = Scenario("repeat caller in hours", IN_HOURS, (kit.Press("1"), kit.Press("1")), resolved_before=True)
    path, _channel, visited = await play(kit, sc)
    assert ("router-restart", "welcome-back") in visited
    assert ("router-restart", "restart-script") in visited
    assert not any(s.kind == "script-step" for s in path.steps)
    req = kit.queue.requests[0]
    assert (req.queue, req.skill, req.priority) == ("support", "internet", 20)
    assert req.variables == {"sb_flow": "main"}


async def test_after_hours_branch_offers_a_callback(kit):
    path, _, visited = await play(kit, scenarios(kit)[6])
    assert visited[0] == ("main", "hours") and ("main", "after-hours") in visited
    assert kit.callbacks.requests[0].number == "+15551230001"
    assert path.outcome == Outcome.CALLBACK


async def test_every_node_of_the_default_flows_is_reached_by_some_scenario(kit):
    reached: set[tuple[str, str]] = set()
    for sc in scenarios(kit):
        _, _, visited = await play(kit, sc)
        reached.update(visited)
    assert set(ALL_NODES) - reached == set()


def _all_nodes() -> list[tuple[str, str]]:
    registry = FlowRegistry(FLOWS_DIR)
    registry.reload()
    return [(name, node) for name, flow in sorted(registry.snapshot().items()) for node in flow.spec.nodes]


ALL_NODES = _all_nodes()


@pytest.mark.parametrize("target", ALL_NODES, ids=[f"{f}:{n}" for f, n in ALL_NODES])
async def test_caller_hang_up_at_any_node_closes_the_record_as_abandoned(kit, target):
    for sc in scenarios(kit):
        _, _, visited = await play(kit, sc)
        if target in visited:
            break
    else:
        pytest.fail(f"no scenario reaches {target}")
    path, _channel, visited = await play(kit, sc, hangup_at=target)
    assert visited[-1] == target
    if path.resolved_by is not None:
        # the caller said the fix worked, then hung up during the goodbye: still a deflection
        assert path.outcome == Outcome.RESOLVED
    else:
        assert path.outcome == Outcome.ABANDONED, (sc.name, path.detail)
    assert path.detail.endswith(f"caller hung up at {target[0]}:{target[1]}")
    assert kit.queue.requests == [] and kit.callbacks.requests == []
