"""Virtual time for end-to-end calls: the clock moves only while the controller waits on Asterisk.

The emulator and the real controller share one event loop and one ``VirtualClock``. Every AGI connection the
emulator opens goes through ``TurnTracker``, which knows whose turn each call is in: the emulator's (it is
running an AGI command: playing a prompt, waiting for a key) or the controller's (between a reply and the
next command). ``Driver`` advances the clock to the next sleeper's deadline only when no call is in the
controller's turn and the loop has settled, so a slow CI machine can never make a caller's key press miss
its menu: on the emulator's timeline the controller takes zero time. A controller that holds its turn while
itself waiting on the clock (the speech deadline guard) gets the clock moved after ``stall`` real seconds.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sim.agi_client import FastAgiClient


class VirtualClock:
    """A Clock whose time moves only when ``jump_to`` is called; sleepers wake in deadline order."""

    def __init__(self, start: datetime) -> None:
        self._start = start
        self._now = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def monotonic(self) -> float:
        return self._now

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self._now)

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + seconds, next(self._seq), fut))
        await fut

    def next_deadline(self) -> float | None:
        """The earliest deadline of a sleeper still waiting (cancelled sleepers are dropped)."""
        while self._sleepers and self._sleepers[0][2].done():
            heapq.heappop(self._sleepers)
        return self._sleepers[0][0] if self._sleepers else None

    def jump_to(self, when: float) -> None:
        """Set the time to ``when`` and wake every sleeper due by then."""
        self._now = max(self._now, when)
        while self._sleepers and self._sleepers[0][0] <= self._now:
            _, _, fut = heapq.heappop(self._sleepers)
            if not fut.done():
                fut.set_result(None)


@dataclass
class AgiCall:
    """One AGI() invocation seen from the emulator's side."""

    channel: str
    env: Mapping[str, str]
    commands: list[str] = field(default_factory=list)
    sent_at: list[float] = field(default_factory=list)  # emulated time each command arrived
    replied_at: list[float] = field(default_factory=list)  # emulated time each reply went back
    turn_seconds: list[float] = field(default_factory=list)  # real seconds the controller took before each
    controller_seconds: float = 0.0  # real seconds the controller held the turn
    finished: bool = False
    failed: bool = False
    connect_failed: bool = False


class TurnTracker:
    """Counts the AGI calls in the controller's turn; the emulator's ``agi_client_factory``."""

    def __init__(self, clock: VirtualClock | None = None) -> None:
        self.clock = clock
        self.calls: list[AgiCall] = []
        self.controller_busy = 0
        self.changes = 0

    def __call__(self, host: str, port: int, env: Mapping[str, str], responder: Any, *,
                 connect_timeout: float = 2.0) -> TrackedClient:
        call = AgiCall(channel=env.get("agi_channel", ""), env=dict(env))
        self.calls.append(call)
        return TrackedClient(self, call, host, port, env, responder, connect_timeout=connect_timeout)

    def for_channel(self, channel: str) -> list[AgiCall]:
        return [c for c in self.calls if c.channel == channel]

    def _busy(self, delta: int) -> None:
        self.controller_busy += delta
        self.changes += 1


class TrackedClient(FastAgiClient):
    """A FastAgiClient that reports turns and times the controller's part of the call."""

    def __init__(self, tracker: TurnTracker, call: AgiCall, host: str, port: int, env: Mapping[str, str],
                 responder: Any, *, connect_timeout: float) -> None:
        super().__init__(host, port, env, self._respond, connect_timeout=connect_timeout)
        self._tracker = tracker
        self._call = call
        self._inner = responder
        self._turn_started = 0.0
        self._in_controller = False

    def _controller_turn(self, on: bool) -> None:
        if on == self._in_controller:
            return
        self._in_controller = on
        if on:
            self._turn_started = time.perf_counter()
        else:
            took = time.perf_counter() - self._turn_started
            self._call.controller_seconds += took
            self._call.turn_seconds.append(took)
        self._tracker._busy(1 if on else -1)

    async def _respond(self, command: str) -> str:
        self._controller_turn(False)
        clock = self._tracker.clock
        self._call.commands.append(command)
        if clock is not None:
            self._call.sent_at.append(clock.monotonic())
        try:
            return await self._inner(command)
        finally:
            if clock is not None:
                self._call.replied_at.append(clock.monotonic())
            self._controller_turn(True)

    async def run(self) -> None:
        self._controller_turn(True)  # connect + environment: the controller's move
        try:
            await super().run()
        except Exception:
            self._call.connect_failed = True
            raise
        finally:
            self._controller_turn(False)
            self._call.finished = True
            self._call.failed = self.failed


class Driver:
    """Moves a VirtualClock forward whenever the controller is idle, until a condition holds."""

    def __init__(self, clock: VirtualClock, tracker: TurnTracker, *, stall: float = 4.0,
                 real_limit: float = 60.0) -> None:
        self.clock = clock
        self.tracker = tracker
        self.stall = stall
        self.real_limit = real_limit
        self.stalls = 0

    async def settle(self) -> None:
        """Return once no call is in the controller's turn and the loop has gone quiet."""
        started = time.monotonic()
        quiet = 0
        seen = self.tracker.changes
        while quiet < 3:
            for _ in range(8):
                await asyncio.sleep(0)
            if self.tracker.controller_busy:
                quiet = 0
                if time.monotonic() - started > self.stall:
                    self.stalls += 1  # the controller waits on the clock itself: let time move
                    return
                await asyncio.sleep(0.0005)
                continue
            if self.tracker.changes != seen:
                seen = self.tracker.changes
                quiet = 0
                continue
            quiet += 1
            await asyncio.sleep(0.0002)  # real I/O that is not an AGI turn (AMI, Redis) gets a moment

    async def until(self, condition: Callable[[], bool], limit: float, what: str = "condition") -> None:
        """Drive the clock (at most ``limit`` emulated seconds) until ``condition()`` is true."""
        end = self.clock.monotonic() + limit
        real_end = time.monotonic() + self.real_limit
        while True:
            await self.settle()
            if condition():
                return
            if time.monotonic() > real_end:
                raise AssertionError(f"{what}: not reached in {self.real_limit} real seconds")
            nxt = self.clock.next_deadline()
            if nxt is None or nxt > end:
                if nxt is None and self.tracker.controller_busy:
                    continue
                self.clock.jump_to(end)
                await self.settle()
                if condition():
                    return
                raise AssertionError(f"{what}: not reached within {limit} emulated seconds")
            self.clock.jump_to(nxt)

    async def run_for(self, seconds: float) -> None:
        """Let ``seconds`` of emulated time pass."""
        end = self.clock.monotonic() + seconds
        await self.until(lambda: self.clock.monotonic() >= end, seconds, f"{seconds} s passing")
