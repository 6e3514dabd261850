"""Two controllers on one Redis, one Asterisk, under concurrent load: no double assignment, no lost call.

A property test: hypothesis draws callers (arrival, patience, queue, whether they come through the IVR of
controller A, of controller B, or straight into hold where both controllers see them), agents' phones
(answering or not, talk time) and how slowly Asterisk answers Setvar. Both controllers receive every AMI
event and race for every decision; the invariants are checked on what the emulated Asterisk saw.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from acd.model import AgentState
from tests.acd.e2e.conftest import Site, open_site

QUEUES = {"support": ("general", "0"), "billing": ("billing", "2")}

callers = st.lists(
    st.fixed_dictionaries(
        {
            "at": st.integers(0, 150).map(lambda t: t / 10),
            "patience": st.one_of(st.none(), st.integers(8, 40).map(float)),
            "queue": st.sampled_from(sorted(QUEUES)),
            "via": st.sampled_from(["hold", "ivr-a", "ivr-b"]),
            "priority": st.integers(0, 3),
        }
    ),
    min_size=4,
    max_size=9,
)
phones = st.fixed_dictionaries(
    {
        ep: st.fixed_dictionaries(
            {"answer_after": st.sampled_from([None, 0.5, 2.0, 2.0]), "talk_for": st.sampled_from([3.0, 9.0])}
        )
        for ep in ("101", "102", "103", "104")
    }
)


@pytest.mark.slow
@settings(
    max_examples=5,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(calls=callers, phone_setup=phones, setvar_delay=st.sampled_from([0.0, 0.15]), seed=st.integers(0, 3))
def test_two_controllers_never_double_assign_and_never_lose_a_call(
    tmp_path_factory: pytest.TempPathFactory,
    redis_url: str,
    calls: list[dict[str, Any]],
    phone_setup: dict[str, dict[str, Any]],
    setvar_delay: float,
    seed: int,
) -> None:
    tmp = tmp_path_factory.mktemp("two")
    asyncio.run(_scenario(tmp, redis_url, calls, phone_setup, setvar_delay, seed))


async def _scenario(
    tmp: Path,
    redis_url: str,
    calls: list[dict[str, Any]],
    phone_setup: dict[str, dict[str, Any]],
    setvar_delay: float,
    seed: int,
) -> None:
    async with open_site(tmp, redis_url) as site:
        site.add_agents(**phone_setup)
        a = await site.start_controller()
        b = await site.start_controller()
        ports = {"ivr-a": a.ctl.agi.port, "ivr-b": b.ctl.agi.port}
        agents = ["a101", "a102", "a103", "a104"]
        await site.login(a, *agents[seed % 2 :: 2])
        await site.login(b, *agents[1 - seed % 2 :: 2])
        site.slow_action("setvar", setvar_delay)
        placed: list[str] = []
        for n, spec in enumerate(sorted(calls, key=lambda c: c["at"])):
            await site.run(max(0.0, spec["at"] - site.clock.monotonic()))
            skill, digit = QUEUES[spec["queue"]]
            number = f"+1555000{n:04d}"
            if spec["via"] == "hold":
                channel = site.hold_call(
                    number, queue=spec["queue"], skill=skill, priority=spec["priority"],
                    hangup_after=spec["patience"],
                )  # fmt: skip
            else:
                site.emulator.set_global("SB_CONTROLLER", f"127.0.0.1:{ports[spec['via']]}")
                channel = await site.ivr_call(number, digit, hangup_after=spec["patience"])
            placed.append(channel)
        await site.run(45)
        for channel in placed:  # the rest give up: every call must now end, once
            if site.alive(channel):
                site.hangup(channel)
        await site.run(4)
        await _check(site, placed)


async def _check(site: Site, placed: list[str]) -> None:
    store = site.acd.store
    # No lost and no duplicated call: one record per caller, ended; nothing left in Redis.
    records = await _records(site)
    uniqueids = [site.uniqueid(ch) for ch in placed]
    per_caller = Counter(r.uniqueid for r in records)
    for channel, uid in zip(placed, uniqueids, strict=True):
        assert per_caller[uid] == 1, (channel, per_caller[uid])
    outcomes = [(r.call_id, r.outcome) for r in records]
    assert {r.outcome for r in records} <= {"completed", "abandoned"}, outcomes
    assert await store.all_calls() == []
    for channel in placed:
        if site.connected(channel):
            record = next(r for r in records if r.uniqueid == site.uniqueid(channel))
            assert record.outcome == "completed"
    # No agent ever rang (or talked) for two calls at once.
    active: Counter[str] = Counter()
    owner: dict[str, str] = {}
    for e in site.events.events:
        if e.name == "DialBegin" and e.get("Channel") in placed:
            dest = e.get("DestChannel") or ""
            endpoint = dest.rpartition("-")[0]
            owner[dest] = endpoint
            active[endpoint] += 1
            assert active[endpoint] == 1, f"{endpoint} rang for two calls at once"
        elif e.name == "Hangup" and e.get("Channel") in owner:
            active[owner.pop(e.get("Channel") or "")] -= 1
    # No call ever rang two agents: one Redirect per attempt, attempts in order, at most one conversation.
    for channel in placed:
        # (a Redirect that found the caller already gone carries no attempt: the channel was not there)
        attempts = [int(r.attempt) for r in site.redirects_of(channel) if r.existed]
        assert attempts == sorted(set(attempts)), (channel, attempts)
        assert len(site.bridged_with(channel)) <= 1
        assert len(site.dialled(channel)) <= len(attempts)
    for agent_id in ("a101", "a102", "a103", "a104"):
        status = await store.agent_status(agent_id)
        assert status.state not in (AgentState.RINGING, AgentState.ON_CALL) and not status.call_id


async def _records(site: Site) -> list[Any]:
    from sqlalchemy import select

    from acd.tables import QueueCallRow

    async with site.controllers[0].ctl.ivr_store.sessions() as session:
        return list((await session.scalars(select(QueueCallRow))).all())
