"""ACD routing benchmark on a real Redis (loopback): 500 agents x 20 skills x 3 regions, 10,000 waiting calls.

Each iteration frees one busy agent (as the end of a call would) and times the dispatcher's decision for
that agent: one snapshot read, the pure policy, one atomic assign. Printed beside a naive baseline run in
the same process on the same data: read every waiting call and every agent state, scan them all in Python,
then assign with the same atomic script (what a poll-everything design does per decision).

    .venv/bin/python bench/acd_routing.py [--redis redis://127.0.0.1:6379/11] [--decisions 4000]

Uses its own key prefix on its own database number and deletes its keys at the end. Then (unless
--no-reaction) the controller's reaction time through the emulator: bench/acd_reaction.py, from the AMI
event that frees an agent to the Redirect that sends it the next caller.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import redis.asyncio as aioredis

from acd.codec import call_from_json, config_from_dict, status_from_json
from acd.dispatcher import Dispatcher
from acd.model import AcdConfig, AgentState, AgentStatus, Assignment, WaitingCall
from acd.policy import RoutingView, decide
from acd.store import AcdStore
from switchboard.clock import ManualClock

BENCH_DIR = str(Path(__file__).resolve().parent)
N_AGENTS, N_SKILLS, N_REGIONS, N_CALLS = 500, 20, 3, 10_000
TARGETS = {"assignments_per_s": 2000, "p99_ms": 5.0, "round_trips": 3, "bytes_per_call": 1024}


def build_config(rng: random.Random) -> AcdConfig:
    skills = [f"skill{i:02d}" for i in range(N_SKILLS)]
    regions = ["eu", "us", "apac"][:N_REGIONS]
    agents = []
    for i in range(N_AGENTS):
        mine = rng.sample(skills, 4)
        agents.append(
            {
                "id": f"ag{i:03d}",
                "endpoint": f"PJSIP/{1000 + i}",
                "skills": {s: rng.randint(1, 5) for s in mine},
                "regions": rng.sample(regions, rng.choice((1, 1, 2))),
                "languages": ["en"],
            }
        )
    queues = [
        {
            "name": s,
            "skill": s,
            "steps": [{"after": 30, "action": "any-region"}, {"after": 90, "action": "callback"}],
        }
        for s in skills
    ]
    return config_from_dict({"skills": skills, "regions": regions, "agents": agents, "queues": queues})


class Hooks:
    def __init__(self, config: AcdConfig) -> None:
        self._config = config

    async def config(self, version: int | None = None) -> AcdConfig:
        return self._config

    async def on_assigned(self, assignment: Assignment) -> None:
        return None

    async def on_deadline(self, call_id: str) -> None:
        return None

    async def on_wrap_done(self, agent_id: str) -> None:
        return None


async def used_memory(r: aioredis.Redis) -> int:
    return int((await r.info("memory"))["used_memory"])


async def populate(store: AcdStore, config: AcdConfig, now: datetime, rng: random.Random) -> float:
    """Agents all busy, 10,000 calls waiting; returns Redis bytes per waiting call."""
    r = store.redis
    await store.publish_config(config)
    pipe = r.pipeline(transaction=False)
    for agent_id in config.agents:
        status = AgentStatus(
            agent_id,
            AgentState.ON_CALL,
            call_id="elsewhere",
            since=now,
            idle_since=now - timedelta(seconds=rng.randint(0, 600)),
        )
        from acd.codec import status_to_json

        pipe.hset(store.keys.astate, agent_id, status_to_json(status))
    await pipe.execute()
    before = await used_memory(r)
    skills = sorted(config.queues)
    regions = sorted(config.regions)
    for i in range(N_CALLS):
        q = rng.choice(skills)
        call = WaitingCall(
            call_id=f"01JBENCH{i:018d}",
            queue=q,
            skill=q,
            channel=f"PJSIP/carrier-{i:08x}",
            uniqueid=f"1795396042.{i}",
            enqueued_at=now - timedelta(seconds=rng.uniform(0, 60)),
            caller_number=f"+1555{rng.randint(0, 9_999_999):07d}",
            caller_name="Bench Caller",
            priority=5 if rng.random() < 0.1 else 0,
            region=rng.choice(regions),
            language="en",
            reason="bench",
        )
        await store.enqueue(call, now + timedelta(seconds=30))
    return (await used_memory(r) - before) / N_CALLS


async def free_agent(store: AcdStore, agent_id: str, now: datetime) -> None:
    """The agent's previous call ended: ready again (as the life cycle would do)."""
    await store.update_agent(
        agent_id, lambda s: s.replace(state=AgentState.READY, call_id="", since=now, idle_since=now)
    )


async def run_smart(store: AcdStore, config: AcdConfig, clock: ManualClock, n: int, batch: int) -> dict:
    """``batch`` agents free up together (at thousands of calls per second they do): decided together."""
    dispatcher = Dispatcher(store, Hooks(config), clock, page=16, listen=False, batch=batch)
    agents = list(config.agents)
    latencies, trips = [], []
    assigned = 0
    t_all = time.perf_counter()
    decision_time = 0.0
    for i in range(0, n, batch):
        group = [agents[(i + j) % len(agents)] for j in range(batch)]
        for agent in group:
            await free_agent(store, agent, clock.now())
        rt0 = store.round_trips.count
        t0 = time.perf_counter()
        done = await dispatcher.fill_agents(group)
        dt = time.perf_counter() - t0
        decision_time += dt
        latencies += [dt] * len(group)  # every agent of the batch waited for the whole batch
        trips += [(store.round_trips.count - rt0) / len(group)] * len(group)
        assigned += len(done)
    wall = time.perf_counter() - t_all
    return summary(f"smart, batch {batch}", latencies, trips, assigned, decision_time, wall)


async def run_naive(store: AcdStore, config: AcdConfig, clock: ManualClock, n: int) -> dict:
    """Baseline: read every waiting call and agent state, scan everything, assign the first fit."""
    agents = list(config.agents)
    latencies, trips = [], []
    assigned = 0
    decision_time = 0.0
    t_all = time.perf_counter()
    for i in range(n):
        agent_id = agents[(i * 7 + 3) % len(agents)]
        await free_agent(store, agent_id, clock.now())
        rt0 = store.round_trips.count
        t0 = time.perf_counter()
        async with store._io("naive_read"):
            pipe = store.redis.pipeline(transaction=False)
            pipe.hgetall(store.keys.calls)
            pipe.hgetall(store.keys.astate)
            raw_calls, raw_states = await pipe.execute()
        statuses = {k.decode(): status_from_json(k.decode(), v) for k, v in raw_states.items()}
        calls = [call_from_json(v) for v in raw_calls.values()]
        waiting = sorted((c for c in calls if c.status.value == "waiting"), key=WaitingCall.order_key)
        ready = [a for a, s in statuses.items() if s.routable]
        view = RoutingView(config, statuses, clock.now(), {})
        for call in waiting:
            if config.agents[agent_id].proficiency(call.skill) == 0:
                continue
            d = decide(call, view, ready)
            if d.agent_id is not None:
                res = await store.assign(call, d.agent_id, clock.now(), clock.now(), d.explanation)
                assigned += int(res.ok)
                break
        dt = time.perf_counter() - t0
        decision_time += dt
        latencies.append(dt)
        trips.append(store.round_trips.count - rt0)
    wall = time.perf_counter() - t_all
    return summary("naive scan-everything", latencies, trips, assigned, decision_time, wall)


def summary(
    name: str, lat: list[float], trips: list[int], assigned: int, decision_time: float, wall: float
) -> dict:
    q = statistics.quantiles(lat, n=100)
    return {
        "name": name,
        "decisions": len(lat),
        "assigned": assigned,
        "assignments_per_s": assigned / decision_time if decision_time else 0.0,
        "end_to_end_per_s": assigned / wall if wall else 0.0,
        "p50_ms": q[49] * 1000,
        "p99_ms": q[98] * 1000,
        "max_ms": max(lat) * 1000,
        "round_trips_mean": statistics.mean(trips),
        "round_trips_max": max(trips),
    }


def show(r: dict) -> None:
    print(
        f"  {r['name']:<24} decisions={r['decisions']:<5} assigned={r['assigned']:<5} "
        f"assign/s={r['assignments_per_s']:8.0f} (incl. freeing the agent {r['end_to_end_per_s']:6.0f}/s)  "
        f"p50={r['p50_ms']:6.2f} ms  p99={r['p99_ms']:6.2f} ms  max={r['max_ms']:6.2f} ms  "
        f"round trips mean={r['round_trips_mean']:.2f} max={r['round_trips_max']:.2f}"
    )


async def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--redis", default="redis://127.0.0.1:6379/11")
    ap.add_argument("--decisions", type=int, default=4000)
    ap.add_argument("--naive-decisions", type=int, default=150)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--batch", type=int, default=8, help="agents freed together in the batched run")
    ap.add_argument("--no-reaction", action="store_true", help="skip the reaction time through the emulator")
    ap.add_argument("--reaction-seconds", type=float, default=12.0, help="measuring time per reaction phase")
    args = ap.parse_args(argv)
    rng = random.Random(args.seed)
    r = aioredis.from_url(args.redis)
    store = AcdStore(r, "sbbench", origin="bench")
    clock = ManualClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    try:
        await store.clear()
        config = build_config(rng)
        per_call = await populate(store, config, clock.now(), rng)
        print(
            f"ACD routing: {N_AGENTS} agents x {N_SKILLS} skills x {N_REGIONS} regions, "
            f"{N_CALLS:,} waiting calls, "
            f"Redis {args.redis}"
        )
        print(
            f"  Redis memory per waiting call: {per_call:.0f} bytes (target <= {TARGETS['bytes_per_call']})"
        )
        t0 = time.perf_counter()
        for _ in range(500):
            await r.ping()
        print(f"  context: one bare PING round trip here now = {(time.perf_counter() - t0) * 2000:.0f} us")
        smart1 = await run_smart(store, config, clock, args.decisions // 2, 1)
        smart = await run_smart(store, config, clock, args.decisions, args.batch)
        await store.clear()
        rng2 = random.Random(args.seed)
        config = build_config(rng2)
        await populate(store, config, clock.now(), rng2)
        naive = await run_naive(store, config, clock, args.naive_decisions)
        show(smart1)
        show(smart)
        show(naive)
        print(
            f"  targets: >= {TARGETS['assignments_per_s']} assignments/s, "
            f"p99 decision <= {TARGETS['p99_ms']} ms, "
            f"<= {TARGETS['round_trips']} round trips per decision, <= {TARGETS['bytes_per_call']} B per call"
        )
        ok = (
            smart["assignments_per_s"] >= TARGETS["assignments_per_s"]
            and smart["p99_ms"] <= TARGETS["p99_ms"]
            and smart["round_trips_max"] <= TARGETS["round_trips"]
            and per_call <= TARGETS["bytes_per_call"]
        )
        speedup = smart["assignments_per_s"] / naive["assignments_per_s"] if naive["assignments_per_s"] else 0
        print(f"  smart vs naive: {speedup:.0f}x assignments/s; targets {'MET' if ok else 'NOT MET'}")
        print(
            json.dumps(
                {"smart_sequential": smart1, "smart": smart, "naive": naive, "bytes_per_call": per_call},
                default=float,
            )
        )
    finally:
        await store.clear()
        await r.aclose()
    if not args.no_reaction:
        sys.path.insert(0, BENCH_DIR)
        import acd_reaction

        logging.basicConfig(level=logging.ERROR)  # the controller's per-call lines would swamp the figures
        results = await acd_reaction.measure(args.redis, args.reaction_seconds)
        acd_reaction.report(results)
        print(json.dumps({"reaction": results}, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
