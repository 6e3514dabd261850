"""The call-path gate: bookkeeping waits for a reaction under way, but never longer than its bound."""

from __future__ import annotations

import asyncio
import time

from switchboard.call_path import CallPathGate


async def test_quiet_returns_at_once_when_no_reaction_runs():
    gate = CallPathGate(max_defer=1.0)
    start = time.monotonic()
    await gate.quiet()
    assert time.monotonic() - start < 0.05 and gate.deferred == 0


async def test_bookkeeping_runs_after_the_reaction_it_would_have_interrupted():
    gate = CallPathGate(max_defer=1.0)
    order: list[str] = []

    async def reaction() -> None:
        with gate.reacting():
            for step in ("hang-up handled", "agent chosen", "redirect sent"):
                await asyncio.sleep(0.01)  # a round trip: the loop is free to run others meanwhile
                order.append(step)

    async def bookkeeping() -> None:
        await asyncio.sleep(0)  # woken by the same event, a moment after the reaction started
        await gate.quiet()
        order.append("record written")

    await asyncio.gather(reaction(), bookkeeping())
    assert order == ["hang-up handled", "agent chosen", "redirect sent", "record written"]
    assert not gate.busy and gate.deferred == 1


async def test_a_gate_busy_without_a_break_does_not_starve_bookkeeping():
    gate = CallPathGate(max_defer=0.05)
    gate.hold()  # e.g. a sustained call rate: one reaction always under way
    try:
        start = time.monotonic()
        await gate.quiet()
        first = time.monotonic() - start
        assert 0.03 < first < 0.5  # waited, but only up to the bound
        start = time.monotonic()
        for _ in range(20):
            await gate.quiet()  # the busy period is older than the bound: no more waiting
        assert time.monotonic() - start < 0.05
    finally:
        gate.release()


async def test_releases_balance_holds_even_when_a_reaction_fails():
    gate = CallPathGate()
    try:
        with gate.reacting():
            raise RuntimeError("redis down")
    except RuntimeError:
        pass
    assert not gate.busy
    gate.release()  # one release too many is harmless
    assert not gate.busy
