"""Redis store: atomic assignment, no double assignment under concurrency, keys, events, memory."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import redis.asyncio as aioredis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from acd.codec import status_to_json
from acd.model import AgentState, AgentStatus, CallStatus, RoutingExplanation, WaitingCall
from acd.store import AcdStore, EnqueueOutcome

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
WHY = RoutingExplanation("initial", "test")


def wc(
    cid: str, *, queue: str = "billing", skill: str = "billing", t: float = 0, priority: int = 0
) -> WaitingCall:
    return WaitingCall(
        call_id=cid,
        queue=queue,
        skill=skill,
        channel=f"PJSIP/c-{cid}",
        uniqueid=f"u-{cid}",
        enqueued_at=T0 + timedelta(seconds=t),
        priority=priority,
    )


async def ready_agent(store: AcdStore, agent_id: str, idle: float = 0) -> None:
    assert await store.set_agent(
        None, AgentStatus(agent_id, AgentState.READY, idle_since=T0 - timedelta(seconds=idle))
    )


async def test_assignment_moves_call_and_agent_together_and_records_event(store):
    await ready_agent(store, "a1")
    assert (await store.enqueue(wc("c1"), None)).outcome is EnqueueOutcome.ADDED
    res = await store.assign(wc("c1"), "a1", T0, T0 + timedelta(seconds=30), WHY)
    assert (
        res.ok and res.call is not None and res.call.status is CallStatus.RINGING and res.call.attempts == 1
    )
    agent = await store.agent_status("a1")
    assert agent.state is AgentState.RINGING and agent.call_id == "c1"
    assert await store.ready_agents() == []
    assert await store.waiting_count("billing") == 0
    types = [e.type for e in await store.events()]
    assert types == ["agent", "enqueued", "assigned"]
    again = await store.assign(wc("c1"), "a1", T0, T0, WHY)
    assert not again.ok and again.reason == "call_ringing"


async def test_agent_never_rings_for_two_calls(store):
    await ready_agent(store, "a1")
    for cid in ("c1", "c2"):
        await store.enqueue(wc(cid), None)
    assert (await store.assign(wc("c1"), "a1", T0, T0, WHY)).ok
    second = await store.assign(wc("c2"), "a1", T0, T0, WHY)
    assert not second.ok and second.reason == "agent_ringing"
    assert (await store.get_call("c2")).status is CallStatus.WAITING


async def test_every_key_carries_the_acd_hash_tag(store, redis_client):
    await ready_agent(store, "a1")
    await store.enqueue(wc("c1"), T0 + timedelta(seconds=30))
    await store.assign(wc("c1"), "a1", T0, T0, WHY)
    keys = [k.decode() for k in await redis_client.keys("*")]
    assert keys and all(k.startswith("sbtest:{acd}:") for k in keys)


async def test_enqueue_is_idempotent_per_call_and_per_channel(store):
    assert (await store.enqueue(wc("c1"), None)).outcome is EnqueueOutcome.ADDED
    assert (await store.enqueue(wc("c1"), None)).outcome is EnqueueOutcome.DUPLICATE
    other = WaitingCall(
        call_id="c9", queue="billing", skill="billing", channel="PJSIP/c-c1", uniqueid="u-c1", enqueued_at=T0
    )
    dup = await store.enqueue(other, None)
    assert dup.outcome is EnqueueOutcome.DUPLICATE_CHANNEL and dup.call_id == "c1"
    assert await store.waiting_count("billing") == 1


async def test_requeue_returns_call_to_its_old_place_and_pauses_agent(store):
    await ready_agent(store, "a1")
    await store.enqueue(wc("old", t=0), None)
    await store.enqueue(wc("new", t=10), None)
    res = await store.assign(wc("old"), "a1", T0, T0, WHY)
    back = await store.requeue(
        res.call, "a1", T0 + timedelta(seconds=20), None, pause_reason="no answer", kind="no_answer"
    )
    assert back.ok
    assert await store.position(back.call) == (1, 2)
    agent = await store.agent_status("a1")
    assert agent.state is AgentState.PAUSED and agent.reason == "no answer" and not agent.call_id


async def test_snapshot_reads_ready_agents_queue_heads_and_preferred_agent_states_in_one_round_trip(store):
    await ready_agent(store, "a1", idle=5)
    await ready_agent(store, "a2", idle=50)
    await store.set_agent(None, AgentStatus("boss", AgentState.ON_CALL, call_id="x"))
    for i in range(5):
        await store.enqueue(wc(f"c{i}", t=i), None)
    pref = WaitingCall(
        call_id="p",
        queue="billing",
        skill="billing",
        channel="X/p",
        uniqueid="u-p",
        enqueued_at=T0 - timedelta(seconds=1),
        preferred_agent="boss",
    )
    await store.enqueue(pref, None)
    before = store.round_trips.count
    snap = await store.snapshot(["billing"], k=3)
    assert store.round_trips.count - before == 1
    assert snap.ready == ("a2", "a1")  # longest idle first
    assert [c.call_id for c in snap.head()] == ["p", "c0", "c1"] and snap.waiting_total == 6
    assert snap.statuses["boss"].state is AgentState.ON_CALL


async def test_batch_of_assignments_is_one_round_trip_and_each_pair_sees_the_ones_before(store):
    for a in ("a1", "a2"):
        await ready_agent(store, a)
    for cid in ("c1", "c2", "c3"):
        await store.enqueue(wc(cid), None)
    before = store.round_trips.count
    results = await store.assign_many(
        [(wc("c1"), "a1", WHY), (wc("c2"), "a1", WHY), (wc("c1"), "a2", WHY), (wc("c3"), "a2", WHY)],
        T0,
        [T0] * 4,
    )
    assert store.round_trips.count - before == 1
    assert [(r.ok, r.reason) for r in results] == [
        (True, "ok"),
        (False, "agent_ringing"),  # a1 was taken by the first pair
        (False, "call_ringing"),  # c1 too
        (True, "ok"),
    ]
    assert (await store.agent_status("a2")).call_id == "c3"
    assert await store.waiting_count("billing") == 1


async def test_snapshot_head_grows_until_each_agent_sees_calls_of_its_own_queues(store):
    """Twenty earlier billing calls would crowd the one sales call out of a head of 16."""
    for i in range(20):
        await store.enqueue(wc(f"b{i}", t=i), None)
    await store.enqueue(wc("s1", queue="sales", skill="sales", t=60), None)
    plain = await store.snapshot(["billing", "sales"], k=16, agent_ids=["bill", "sell"])
    assert "s1" not in [c.call_id for c in plain.head()]
    cover = {"bill": ["billing"], "sell": ["sales"]}
    snap = await store.snapshot(
        ["billing", "sales"], k=16, agent_ids=["bill", "sell"], cover=cover, per_agent=1, k_max=64
    )
    ids = [c.call_id for c in snap.head()]
    assert ids[-1] == "s1" and len(ids) == 21  # routing order kept; read just far enough
    capped = await store.snapshot(
        ["billing", "sales"], k=16, agent_ids=["bill", "sell"], cover=cover, per_agent=1, k_max=18
    )
    assert len(capped.head_raw) == 18 and snap.waiting_total == 21


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n_agents=st.integers(1, 6), n_calls=st.integers(1, 12), seed=st.randoms(use_true_random=False))
async def test_concurrent_controllers_never_double_assign_or_lose_a_call(redis_url, n_agents, n_calls, seed):
    """Two controllers (separate connections) race to assign the same calls and agents."""
    c1 = aioredis.from_url(redis_url)
    c2 = aioredis.from_url(redis_url)
    try:
        s1, s2 = AcdStore(c1, "sbprop", origin="one"), AcdStore(c2, "sbprop", origin="two")
        await s1.clear()
        agents = [f"a{i}" for i in range(n_agents)]
        calls = [wc(f"c{i}", t=i) for i in range(n_calls)]
        for a in agents:
            await ready_agent(s1, a)
        for c in calls:
            await s1.enqueue(c, None)
        pairs = [(c, a) for c in calls for a in agents]

        async def worker(store: AcdStore) -> list[tuple[str, str]]:
            mine = list(pairs)
            seed.shuffle(mine)
            won = []
            for c, a in mine:
                if (await store.assign(c, a, T0, T0, WHY)).ok:
                    won.append((c.call_id, a))
                await asyncio.sleep(0)
            return won

        results = await asyncio.gather(worker(s1), worker(s2), worker(s1))
        won = [p for r in results for p in r]
        assert len({c for c, _ in won}) == len(won), "a call rang two agents"
        assert len({a for _, a in won}) == len(won), "an agent rang for two calls"
        assert len(won) == min(n_agents, n_calls)
        remaining = await s1.waiting_count("billing")
        assert remaining + len(won) == n_calls, "a call was lost"
        for call_id, agent_id in won:
            assert (await s1.get_call(call_id)).agent_id == agent_id
            assert (await s1.agent_status(agent_id)).call_id == call_id
    finally:
        await AcdStore(c1, "sbprop").clear()
        await c1.aclose()
        await c2.aclose()


async def test_agent_compare_and_set_refuses_a_stale_write(store, redis_client):
    await ready_agent(store, "a1")
    old = await store.agent_status("a1")
    assert await store.set_agent(old, old.replace(state=AgentState.PAUSED, reason="lunch"))
    assert not await store.set_agent(old, old.replace(state=AgentState.OFFLINE))
    assert (await store.agent_status("a1")).reason == "lunch"
    raw = await redis_client.hget(store.keys.astate, "a1")
    assert raw is not None and status_to_json(await store.agent_status("a1")).count('"s":"paused"') == 1


async def test_waiting_call_uses_well_under_one_kib_of_redis(store, redis_client):
    async def used() -> int:
        return int((await redis_client.info("memory"))["used_memory"])

    base = await used()
    n = 2000
    for i in range(n):
        c = WaitingCall(
            call_id=f"01J{i:023d}",
            queue="billing",
            skill="billing",
            channel=f"PJSIP/carrier-{i:08x}",
            uniqueid=f"1795396042.{i}",
            enqueued_at=T0,
            caller_number="+15551230002",
            caller_name="Some Caller",
            region="eu",
            language="en",
        )
        await store.enqueue(c, T0 + timedelta(seconds=30))
    per_call = (await used() - base) / n
    assert per_call < 1024, per_call
