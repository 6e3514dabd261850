"""Waiting on a future with a timeout measured on an injected Clock (so tests can drive it)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from switchboard.clock import Clock

T = TypeVar("T")


async def wait_with_timeout(awaitable: Awaitable[T], timeout: float, clock: Clock) -> T:  # noqa: ASYNC109
    """Await ``awaitable``; TimeoutError (and cancel it) once ``clock`` has run ``timeout`` seconds.

    asyncio.timeout() cannot be used: it measures the loop's real clock, not the injected Clock.
    """
    future = asyncio.ensure_future(awaitable)
    if future.done():
        return future.result()
    timer = asyncio.ensure_future(clock.sleep(timeout))
    try:
        await asyncio.wait((future, timer), return_when=asyncio.FIRST_COMPLETED)
    except BaseException:
        # Our caller was cancelled: do not leave the awaited work running behind it.
        future.cancel()
        raise
    finally:
        timer.cancel()
    if future.done():
        return future.result()
    future.cancel()
    raise TimeoutError
