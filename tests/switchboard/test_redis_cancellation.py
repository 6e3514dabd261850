"""The Redis client must let a cancelled task stop: otherwise `switchboard serve` hangs on SIGTERM.

redis-py 8.0 and 8.1 swallow the CancelledError of a task cancelled while a command is in flight (found when
`serve` ignored SIGTERM during a metrics sample); pyproject.toml pins redis-py below 8 until that is fixed.
"""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis


async def test_a_task_cancelled_during_redis_commands_stops(redis_url: str) -> None:
    client = aioredis.from_url(redis_url)

    async def busy() -> None:
        while True:
            await client.set("sb-cancel-probe", "1")
            await client.get("sb-cancel-probe")

    try:
        for attempt in range(60):
            task = asyncio.create_task(busy())
            await asyncio.sleep(0.001 * (attempt % 7))
            task.cancel()
            done, _ = await asyncio.wait({task}, timeout=2)
            assert done, f"cancellation was swallowed on attempt {attempt}"
            assert task.cancelled()
    finally:
        await client.delete("sb-cancel-probe")
        await client.aclose()
