"""Waiting on emulator-clock time and on model changes at once (the building block of every application)."""

from __future__ import annotations

import asyncio
import contextlib

from switchboard.clock import Clock


class Signal:
    """Wakes every current waiter when notified; waiters re-check their own condition."""

    __slots__ = ("_waiters",)

    def __init__(self) -> None:
        self._waiters: list[asyncio.Future[None]] = []

    def notify(self) -> None:
        """Wake all waiters."""
        waiters, self._waiters = self._waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)

    async def wait(self, clock: Clock, limit: float | None) -> None:
        """Return on the next notify, or after ``limit`` seconds of ``clock`` time (None: no limit)."""
        if limit is not None and limit <= 0:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        if limit is None:
            try:
                await fut
            finally:
                fut.cancel()
            return
        sleeper = asyncio.ensure_future(clock.sleep(limit))
        try:
            await asyncio.wait((fut, sleeper), return_when=asyncio.FIRST_COMPLETED)
        finally:
            fut.cancel()
            if not sleeper.done():
                sleeper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sleeper
