"""Wallboard viewers share snapshots: pollers never queue behind a refresh; live pushes are always fresh."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from switchboard.clock import ManualClock
from switchboard.web.pages.live import Live


class GatedLive(Live):
    """A Live whose board computation counts itself and waits for the test's go."""

    def __init__(self, clock: ManualClock) -> None:
        super().__init__(acd=None, metrics=None, queries=None, clock=clock)  # type: ignore[arg-type]
        self.computed = 0
        self.gate = asyncio.Event()

    async def _compute_wallboard(self) -> dict[str, Any]:
        self.computed += 1
        n = self.computed
        await self.gate.wait()
        return {"generation": n, "event_id": ""}


async def test_pollers_get_the_previous_board_at_once_while_one_refreshes() -> None:
    clock = ManualClock(datetime(2026, 11, 24, 10, tzinfo=UTC))
    live = GatedLive(clock)
    live.gate.set()
    assert (await live.wallboard())["generation"] == 1
    await clock.advance(1.0)  # the board is older than the cache allows
    live.gate.clear()
    refresher = asyncio.create_task(live.wallboard("1-0"))
    await asyncio.sleep(0)
    others = await asyncio.wait_for(asyncio.gather(*(live.wallboard("2-0") for _ in range(20))), 1)
    assert {board["generation"] for board in others} == {1}
    assert {board["event_id"] for board in others} == {"2-0"}
    assert live.computed == 2  # twenty pollers, one refresh
    live.gate.set()
    assert (await refresher)["generation"] == 2
    assert (await live.wallboard())["generation"] == 2


async def test_a_push_for_new_events_waits_for_a_fresh_board() -> None:
    clock = ManualClock(datetime(2026, 11, 24, 10, tzinfo=UTC))
    live = GatedLive(clock)
    live.gate.set()
    await live.wallboard()
    live.gate.clear()
    refresher = asyncio.create_task(live.wallboard(max_age=0))
    await asyncio.sleep(0)
    pushed = asyncio.create_task(live.wallboard("9-0", max_age=0))
    await asyncio.sleep(0.05)
    assert not pushed.done()  # a board announcing event 9-0 must not predate it
    live.gate.set()
    assert (await refresher)["generation"] == 2
    assert (await pushed)["generation"] == 3
