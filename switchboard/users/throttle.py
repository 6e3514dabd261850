"""Sign-in throttling: failed attempts counted per (user name, address) and per address.

The counts live where every controller sees them: Redis (preferred) or the SQL table. When Redis cannot
be reached the SQL counter takes over, so a Redis outage never switches the limit off.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, timedelta
from typing import Protocol, TypeVar

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from switchboard.clock import Clock
from switchboard.users.tables import LoginFailureRow

log = logging.getLogger(__name__)
T = TypeVar("T")

REDIS_TIMEOUT = 2.0


class CounterUnavailable(Exception):
    """The counter's backing store did not answer."""


class FailureCounter(Protocol):
    """Counts failures per key within a window of ``window`` seconds."""

    async def count(self, key: str, window: int) -> tuple[int, float]:
        """(failures in the window, seconds until they stop counting)."""
        ...

    async def add(self, key: str, window: int) -> None:
        """Record one failure now."""
        ...

    async def clear(self, key: str) -> None:
        """Forget the key's failures."""
        ...


class RedisFailureCounter:
    """A fixed window per key that starts at its first failure (INCR with an expiry set once)."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix

    def _key(self, key: str) -> str:
        return f"{self._prefix}:login-failures:{key}"

    async def count(self, key: str, window: int) -> tuple[int, float]:
        name = self._key(key)

        async def read() -> tuple[int, float]:
            async with self._redis.pipeline(transaction=True) as pipe:
                value, ttl = await pipe.get(name).pttl(name).execute()
            return int(value or 0), max(int(ttl), 0) / 1000

        return await _redis_call(read())

    async def add(self, key: str, window: int) -> None:
        name = self._key(key)

        async def write() -> None:
            async with self._redis.pipeline(transaction=True) as pipe:
                await pipe.set(name, 0, ex=window, nx=True).incr(name).execute()

        await _redis_call(write())

    async def clear(self, key: str) -> None:
        await _redis_call(self._redis.delete(self._key(key)))


async def _redis_call(op: Awaitable[T]) -> T:
    try:
        async with asyncio.timeout(REDIS_TIMEOUT):
            return await op
    except (RedisError, OSError, TimeoutError) as exc:
        raise CounterUnavailable(f"{type(exc).__name__}: {exc}") from exc


class SqlFailureCounter:
    """A sliding window over rows of ``user_login_failures`` (shared by every controller on the database)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock) -> None:
        self._sessions = sessions
        self._clock = clock

    async def count(self, key: str, window: int) -> tuple[int, float]:
        now = self._clock.now()
        since = now - timedelta(seconds=window)
        async with self._sessions() as session:
            n, oldest = (
                await session.execute(
                    select(func.count(), func.min(LoginFailureRow.at)).where(
                        LoginFailureRow.key == key, LoginFailureRow.at > since
                    )
                )
            ).one()
        if not n or oldest is None:
            return 0, 0.0
        if oldest.tzinfo is None:  # min() keeps the column type, but be sure: never compare naive to aware
            oldest = oldest.replace(tzinfo=UTC)
        return int(n), max((oldest + timedelta(seconds=window) - now).total_seconds(), 0.0)

    async def add(self, key: str, window: int) -> None:
        now = self._clock.now()
        async with self._sessions.begin() as session:
            # Old rows of every key go as new ones arrive: the table stays as small as the window.
            await session.execute(
                delete(LoginFailureRow).where(LoginFailureRow.at <= now - timedelta(seconds=window))
            )
            session.add(LoginFailureRow(key=key, at=now))

    async def clear(self, key: str) -> None:
        async with self._sessions.begin() as session:
            await session.execute(delete(LoginFailureRow).where(LoginFailureRow.key == key))


@dataclass(frozen=True)
class ThrottleLimits:
    """How many failures are tolerated within ``window_seconds``."""

    per_user_and_address: int = 5
    per_address: int = 50
    window_seconds: int = 900


class LoginThrottle:
    """Refuses sign-in for a while after too many failures from one address (for one name, or for any)."""

    def __init__(
        self, counter: FailureCounter, limits: ThrottleLimits, *, fallback: FailureCounter | None = None
    ) -> None:
        self._counter = counter
        self._fallback = fallback
        self.limits = limits

    async def retry_after(self, username_key: str, address: str) -> float | None:
        """Seconds to wait when sign-in is refused now for this name and address; None when allowed."""
        window = self.limits.window_seconds
        waits = []
        for key, limit in self._keys(username_key, address):
            count, remaining = await self._use(lambda c, k=key: c.count(k, window))
            if count >= limit:
                waits.append(remaining or float(window))
        return max(waits) if waits else None

    async def failed(self, username_key: str, address: str) -> None:
        """Count a failed sign-in."""
        for key, _ in self._keys(username_key, address):
            await self._use(lambda c, k=key: c.add(k, self.limits.window_seconds))

    async def succeeded(self, username_key: str, address: str) -> None:
        """A correct password clears the name+address count (not the address's: sprayers stay counted)."""
        key = _digest("user+address", username_key, address)
        await self._use(lambda c: c.clear(key))

    def _keys(self, username_key: str, address: str) -> list[tuple[str, int]]:
        return [
            (_digest("user+address", username_key, address), self.limits.per_user_and_address),
            (_digest("address", address), self.limits.per_address),
        ]

    async def _use(self, op: Callable[[FailureCounter], Awaitable[T]]) -> T:
        try:
            return await op(self._counter)
        except CounterUnavailable as exc:
            if self._fallback is None:
                raise
            log.warning("sign-in throttle falls back to SQL error=%s", exc)
            return await op(self._fallback)


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode("utf-8", "surrogatepass")).hexdigest()
