"""Admission to a bounded set of speech workers: take a free one, wait briefly in a short line, or be refused.

Nothing queues forever: at most ``max_waiting`` callers wait, each no longer than its own deadline, and
when every worker is stuck on a job whose caller already gave up, new work is refused at once (the caller
gets the keypad) instead of waiting for workers that may never come back.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass

from ivr.speech.engine import SpeechTimeout, SpeechUnavailable


@dataclass(frozen=True)
class PoolStats:
    """A snapshot of a worker pool, for logs, metrics and the benchmark."""

    workers: int
    busy: int
    stuck: int
    waiting: int
    completed: int
    timeouts: int
    refused: int
    restarts: int


class Admission:
    """Slot accounting for ``workers`` slots; all methods run on the event loop thread."""

    def __init__(self, workers: int, max_waiting: int) -> None:
        self.workers = workers
        self.max_waiting = max_waiting
        self.busy = 0
        self.stuck = 0
        self.refused = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        return sum(1 for w in self._waiters if not w.done())

    async def acquire(self, wait: float) -> None:
        """Take a slot within ``wait`` seconds; SpeechUnavailable at once when that cannot happen."""
        if self.busy < self.workers and not self.waiting:
            self.busy += 1
            return
        if self.stuck >= self.workers:
            self.refused += 1
            raise SpeechUnavailable(f"all {self.workers} speech workers are stuck on abandoned jobs")
        if self.waiting >= self.max_waiting or wait <= 0:
            self.refused += 1
            raise SpeechUnavailable(f"all {self.workers} speech workers are busy")
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await asyncio.wait_for(asyncio.shield(waiter), wait)
        except (TimeoutError, asyncio.CancelledError) as exc:
            if waiter.done() and not waiter.cancelled():
                self.release()  # a slot was handed over just as we gave up: pass it on
            else:
                waiter.cancel()
            if isinstance(exc, TimeoutError):
                raise SpeechTimeout("no speech worker became free before the deadline") from None
            raise
        # the releasing job handed its slot straight to us: busy is unchanged

    def release(self) -> None:
        """Give a slot back, or hand it to the first caller still waiting."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.busy = max(0, self.busy - 1)
