"""Live metrics from SQL call records, Redis waiting calls and occupancy samples; the Prometheus text."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
import redis.asyncio as aioredis
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from acd.metrics_io import AcdMetrics
from acd.model import AgentState, CallStatus, WaitingCall
from tests.acd.api.conftest import AcdApiKit


async def record_history(kit: AcdApiKit) -> None:
    """Four finished billing calls in SQL before T0 (target 20 s, wrap-up 10 s, short abandon 5 s)."""
    t0 = kit.clock.now()
    repo = kit.repository

    async def call(n: int, ago: float, answer: float | None, end: float) -> None:
        enq = t0 - timedelta(seconds=ago)
        c = WaitingCall(
            f"h{n}", "billing", "billing", f"PJSIP/c-{n}", f"u-h{n}", enq, caller_number="+15550001"
        )
        await repo.call_enqueued(c)
        if answer is not None:
            at = enq + timedelta(seconds=answer)
            await repo.call_answered(c.call_id, at, "a1")
            c = replace(c, answered_at=at, status=CallStatus.CONNECTED, agent_id="a1")
            await repo.call_ended(c, "completed", enq + timedelta(seconds=end))
        else:
            await repo.call_ended(c, "abandoned", enq + timedelta(seconds=end))

    await call(1, 600, answer=10, end=100)  # within target, talk 90
    await call(2, 400, answer=30, end=100)  # late, talk 70
    await call(3, 200, answer=None, end=2)  # short abandon
    await call(4, 100, answer=None, end=50)  # abandoned


async def sample_agents(kit: AcdApiKit, metrics: AcdMetrics, states: dict[str, AgentState]) -> bool:
    for agent_id, state in states.items():
        await kit.store.update_agent(agent_id, lambda s, st=state: s.replace(state=st))
    return await metrics.sample_once()


@pytest.fixture
async def busy_day(acd_api: AcdApiKit, make_request: Any) -> AcdApiKit:
    await record_history(acd_api)
    await acd_api.service.enqueue(make_request("live1"))  # waits from T0
    await acd_api.clock.advance(45)
    assert await sample_agents(
        acd_api, acd_api.metrics, {"a1": AgentState.ON_CALL, "a2": AgentState.READY, "a3": AgentState.OFFLINE}
    )
    await acd_api.clock.advance(5)
    assert await sample_agents(
        acd_api, acd_api.metrics, {"a1": AgentState.WRAP_UP, "a2": AgentState.READY, "a3": AgentState.READY}
    )
    return acd_api


async def test_queue_metrics_today_combine_records_waiting_calls_and_samples(busy_day: AcdApiKit) -> None:
    answer = await busy_day.request("supervisor1", "GET", "/api/acd/metrics/billing")
    assert answer.status_code == 200, answer.text
    m = answer.json()
    assert m["window"] == "today" and m["start"] == "2026-01-05T00:00:00Z"
    assert (m["waiting"], m["longest_wait_seconds"]) == (1, 50.0)
    assert (m["offered"], m["answered"], m["answered_within_target"]) == (5, 2, 1)
    assert (m["abandoned"], m["short_abandoned"], m["pending_over_target"]) == (1, 1, 1)
    assert m["service_level"] == pytest.approx(
        1 / 4
    )  # 1 within / (2 answered + 1 abandoned + 1 waiting late)
    assert m["abandon_rate"] == pytest.approx(1 / 3)
    assert m["average_speed_of_answer_seconds"] == pytest.approx(20.0)
    assert m["average_handle_time_seconds"] == pytest.approx(90.0)  # (90 + 70) / 2 talk + 10 wrap-up
    assert (m["busy_seconds"], m["staffed_seconds"]) == (10.0, 25.0)
    assert m["occupancy"] == pytest.approx(0.4)


async def test_recent_window_leaves_older_calls_out(busy_day: AcdApiKit) -> None:
    answer = await busy_day.request("supervisor1", "GET", "/api/acd/metrics?minutes=5")
    billing = next(q for q in answer.json() if q["queue"] == "billing")
    assert billing["window"] == "5m"
    assert (billing["offered"], billing["answered"], billing["abandoned"], billing["short_abandoned"]) == (
        3,
        0,
        1,
        1,
    )
    assert billing["service_level"] == 0.0 and billing["abandon_rate"] == 1.0
    assert billing["average_speed_of_answer_seconds"] is None
    sales = next(q for q in answer.json() if q["queue"] == "sales")
    assert (sales["offered"], sales["service_level"], sales["occupancy"]) == (0, None, 0.0)  # a3 ready once


async def test_a_second_controller_does_not_sample_the_same_tick_twice(busy_day: AcdApiKit) -> None:
    other = AcdMetrics(busy_day.service, busy_day.sessions, busy_day.clock)
    assert await other.sample_once() is False  # the tick at T0+50 s is taken
    await busy_day.clock.advance(5)
    assert await other.sample_once() is True
    occupancy = await other.occupancy(busy_day.clock.now() - timedelta(minutes=5), busy_day.clock.now())
    assert (occupancy["billing"].busy_seconds, occupancy["billing"].staffed_seconds) == (15.0, 40.0)


async def test_prometheus_text_parses_and_matches_the_api(busy_day: AcdApiKit) -> None:
    answer = await busy_day.request("supervisor1", "GET", "/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(answer.text)
        for s in family.samples
    }

    def value(name: str, **labels: str) -> float:
        return samples[(f"switchboard_acd_{name}", tuple(sorted(labels.items())))]

    assert value("calls_waiting", queue="billing") == 1
    assert value("longest_wait_seconds", queue="billing") == 50
    assert value("service_level_ratio", queue="billing", window="today") == pytest.approx(0.25)
    assert value("service_level_target_ratio", queue="billing") == pytest.approx(0.8)
    assert value("abandon_ratio", queue="billing", window="today") == pytest.approx(1 / 3)
    assert value("average_speed_of_answer_seconds", queue="billing", window="today") == 20
    assert value("average_handle_time_seconds", queue="billing", window="today") == 90
    assert value("occupancy_ratio", queue="billing", window="today") == pytest.approx(0.4)
    assert value("calls_offered", queue="billing", window="15m") == 5
    assert value("agents", state="ready") == 2 and value("agents", state="wrap_up") == 1
    assert value("config_version") >= 1
    # no calls, no ratio: the series is left out instead of reporting a made-up 0 or NaN
    assert ("switchboard_acd_service_level_ratio", (("queue", "sales"), ("window", "today"))) not in samples


async def test_prometheus_metrics_live_in_the_apps_own_registry(busy_day: AcdApiKit) -> None:
    await busy_day.request("supervisor1", "GET", "/metrics")
    assert not any(name.startswith("switchboard_acd") for name in REGISTRY._names_to_collectors)


async def test_metrics_route_needs_a_supervisor_token(busy_day: AcdApiKit) -> None:
    assert (await busy_day.request(None, "GET", "/metrics")).status_code == 401
    assert (await busy_day.request("agent1", "GET", "/metrics")).status_code == 403
    assert (await busy_day.request("admin1", "GET", "/metrics")).status_code == 200


async def test_queue_snapshot_lists_calls_in_routing_order_with_positions(
    acd_api: AcdApiKit, make_request: Any
) -> None:
    await acd_api.service.enqueue(make_request("c1"))
    await acd_api.clock.advance(10)
    await acd_api.service.enqueue(make_request("c2", priority=5, number="+15550009999"))
    await acd_api.clock.advance(3)
    snap = (await acd_api.request("supervisor1", "GET", "/api/acd/queues/billing")).json()
    assert [(c["call_id"], c["position"], c["waited_seconds"]) for c in snap["calls"]] == [
        ("c2", 1, 3.0),
        ("c1", 2, 13.0),
    ]
    assert (snap["waiting"], snap["longest_wait_seconds"]) == (2, 13.0)
    assert snap["agents_by_state"]["offline"] == 3
    assert (await acd_api.request("supervisor1", "GET", "/api/acd/queues/nowhere")).status_code == 404


async def test_metrics_and_snapshots_answer_503_when_redis_is_unreachable(acd_api: AcdApiKit) -> None:
    working = acd_api.store.redis
    acd_api.store.redis = aioredis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    try:
        for path in ("/metrics", "/api/acd/metrics", "/api/acd/queues", "/api/acd/agents"):
            answer = await acd_api.request("supervisor1", "GET", path)
            assert answer.status_code == 503, (path, answer.text)
            assert "unavailable" in answer.json()["detail"]
        refused = await acd_api.request("agent1", "POST", "/api/acd/me/login")
        assert refused.status_code == 503
    finally:
        await acd_api.store.redis.aclose()
        acd_api.store.redis = working
    assert (await acd_api.request("agent1", "POST", "/api/acd/me/login")).status_code == 200  # back at once
