"""Call-path priority on the shared event loop: bookkeeping steps aside while a reaction is under way.

One asyncio loop carries both the reactions a caller waits for (an AMI event freeing an agent -> the next
caller's Redirect) and bookkeeping nobody waits for (SQL records, the recordings catalogue, survey
scheduling, transcription claims). asyncio runs ready work first come, first served, so the bookkeeping a
hang-up wakes used to run between the round trips of the reaction to that same hang-up, and each of its
chunks of CPU was added to the freed agent's wait for the next caller.

Reactions mark the gate busy while they run; bookkeeping awaits :meth:`CallPathGate.quiet` before each unit
of work. A busy period lets bookkeeping wait at most ``max_defer`` seconds from its start, so at a sustained
call rate (the gate busy without a break) bookkeeping runs as before and never starves.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator

MAX_DEFER_SECONDS = 0.05


class CallPathGate:
    """Counts reactions under way; lets background work wait for a quiet moment (bounded)."""

    def __init__(self, max_defer: float = MAX_DEFER_SECONDS) -> None:
        self.max_defer = max_defer
        self._busy = 0
        self._busy_since = 0.0
        self._idle: asyncio.Event | None = None
        self._idle_loop: asyncio.AbstractEventLoop | None = None
        self.deferred = 0  # how many times bookkeeping waited (figures for benchmarks)

    @property
    def busy(self) -> bool:
        return self._busy > 0

    def hold(self) -> None:
        """A reaction started (or is pending): bookkeeping should wait."""
        if self._busy == 0:
            self._busy_since = time.monotonic()
            if self._idle is not None:
                self._idle.clear()
        self._busy += 1

    def release(self) -> None:
        """A reaction finished."""
        self._busy = max(0, self._busy - 1)
        if self._busy == 0 and self._idle is not None:
            self._idle.set()

    @contextlib.contextmanager
    def reacting(self) -> Iterator[None]:
        """Busy for the duration of the block."""
        self.hold()
        try:
            yield
        finally:
            self.release()

    async def quiet(self) -> None:
        """Return once no reaction is under way, or once the current busy period is ``max_defer`` old."""
        if self._busy == 0:
            return
        remaining = self._busy_since + self.max_defer - time.monotonic()
        if remaining <= 0:
            return
        loop = asyncio.get_running_loop()
        if self._idle is None or self._idle_loop is not loop:
            # Made in the loop that waits (an Event binds to one loop; tests run one loop each).
            self._idle, self._idle_loop = asyncio.Event(), loop
        self.deferred += 1
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(remaining):
                await self._idle.wait()


gate = CallPathGate()
"""The process's gate: one event loop per process, so one gate (the controller and its benchmarks)."""
