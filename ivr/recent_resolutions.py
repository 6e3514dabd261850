"""Recent self-service resolutions in Redis: the repeat-caller check without a SQL read per call.

SQL (``ivr_script_runs``) stays the record. This index holds, per caller, when each script last resolved,
for the repeat window only (keys expire), and every controller on the Redis shares it, so a caller who
comes back through another controller is still recognised. A marker key says the index was loaded from
SQL: a Redis that lost its data (a restart of the embedded one, a flush) has no marker, so lookups say
``None`` ("ask SQL") until ``run()`` has put the window's resolutions back.

Redis errors and slow answers are translated here into ``None`` answers (and a log line): the policy then
asks SQL. After a failure the index stays out of the way for ``retry_after`` seconds (a Redis that is down
must not cost every caller a timeout), and a resolution it could not note makes ``run()`` reload it from SQL.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from switchboard.clock import Clock
from switchboard.errors import describe

log = logging.getLogger(__name__)

CALLER_MAX = 32  # as stored in SQL (ivr_script_runs.caller_number)
SCRIPT_MAX = 64
NOT_FOUND = "-"  # a Redis answer for "no resolution in the window", distinct from "ask SQL" (None)
_LOAD_CHUNK = 500


class ResolutionSource(Protocol):
    """Where the index is loaded from (``ivr.store.SqlIvrStore``)."""

    async def resolved_since(self, since: datetime) -> Sequence[tuple[str, str, datetime]]:
        """(script, caller, resolved at) of every run resolved at or after ``since``."""
        ...


class RecentResolutions:
    """The index: ``remember`` each resolution, ``last`` to look one up, ``run`` to (re)load it from SQL."""

    def __init__(
        self, redis: aioredis.Redis, prefix: str, source: ResolutionSource, *, window: timedelta,
        clock: Clock, check_every: float = 5.0, timeout: float = 0.25, retry_after: float = 5.0,
    ) -> None:  # fmt: skip
        self.redis = redis
        self.source = source
        self.window = window
        self.clock = clock
        self.check_every = check_every
        self.timeout = timeout
        self.retry_after = retry_after
        self._down_until = float("-inf")  # clock.monotonic() before which Redis is not asked
        self._stale = False  # a resolution could not be noted: reload from SQL
        self._prefix = f"{prefix}:ivr:resolved"
        self.marker = f"{prefix}:ivr:resolved-loaded"

    def key(self, caller: str) -> str:
        # the caller in a hash tag: one slot per caller on a Redis Cluster
        return f"{self._prefix}:{{{caller[:CALLER_MAX]}}}"

    @property
    def _ttl_ms(self) -> int:
        return max(1000, int(self.window.total_seconds() * 1000))

    async def last(self, script: str, caller: str) -> datetime | str | None:
        """When ``caller`` last had ``script`` resolved: a time, ``NOT_FOUND``, or ``None`` when the index
        cannot say (not loaded yet, Redis unreachable): ask SQL then."""
        if self.clock.monotonic() < self._down_until:
            return None
        try:
            async with asyncio.timeout(self.timeout), self.redis.pipeline(transaction=False) as pipe:
                pipe.hget(self.key(caller), script[:SCRIPT_MAX])
                pipe.exists(self.marker)
                value, loaded = await pipe.execute()
        except (RedisError, TimeoutError) as exc:
            self._failed("look up", script, exc)
            return None
        if not loaded:
            return None
        if value is None:
            return NOT_FOUND
        try:
            return datetime.fromtimestamp(float(value), UTC)
        except (TypeError, ValueError, OverflowError):
            log.warning("recent resolutions: bad entry for script=%s value=%r", script, value)
            return None

    async def remember(self, script: str, caller: str, at: datetime) -> None:
        """Note a resolution (the newest one for this caller and script: it happens now)."""
        key = self.key(caller)
        try:
            if self.clock.monotonic() < self._down_until:
                raise RedisError("not asked: failed recently")
            async with asyncio.timeout(self.timeout), self.redis.pipeline(transaction=False) as pipe:
                pipe.hset(key, script[:SCRIPT_MAX], repr(at.timestamp()))
                pipe.pexpire(key, self._ttl_ms)
                await pipe.execute()
        except (RedisError, TimeoutError) as exc:
            # SQL still gets the record (the IVR's writer); run() puts it into the index once Redis is back
            self._stale = True
            self._failed("note", script, exc)

    def _failed(self, what: str, script: str, exc: Exception) -> None:
        if self.clock.monotonic() >= self._down_until:
            log.warning("recent resolutions: cannot %s script=%s error=%s; asking sql for %gs", what, script,
                        describe(exc), self.retry_after)  # fmt: skip
        self._down_until = self.clock.monotonic() + self.retry_after

    async def loaded(self) -> bool:
        return bool(await self.redis.exists(self.marker))

    async def load(self) -> int:
        """Put the window's resolutions from SQL into Redis, then set the marker; returns how many."""
        rows = await self.source.resolved_since(self.clock.now() - self.window)
        by_caller: dict[str, dict[str, float]] = defaultdict(dict)
        for script, caller, at in rows:
            fields = by_caller[caller[:CALLER_MAX]]
            stamp = at.timestamp()
            if stamp > fields.get(script[:SCRIPT_MAX], float("-inf")):
                fields[script[:SCRIPT_MAX]] = stamp
        callers = list(by_caller.items())
        for start in range(0, len(callers), _LOAD_CHUNK):
            async with self.redis.pipeline(transaction=False) as pipe:
                for caller, fields in callers[start : start + _LOAD_CHUNK]:
                    key = self.key(caller)
                    for script, stamp in fields.items():
                        # never over a newer resolution noted since the Redis came back
                        pipe.hsetnx(key, script, repr(stamp))
                    pipe.pexpire(key, self._ttl_ms)
                await pipe.execute()
        await self.redis.set(self.marker, self.clock.now().isoformat())
        return len(rows)

    async def run(self) -> None:
        """Load the index when Redis has no marker (at start, after Redis lost its data) or missed a
        resolution; check every ``check_every`` seconds. Meanwhile lookups go to SQL."""
        while True:
            stale, self._stale = self._stale, False
            try:
                if stale or not await self.loaded():
                    count = await self.load()
                    log.info("recent resolutions loaded from sql resolutions=%d", count)
            except RedisError as exc:
                self._stale = self._stale or stale
                log.warning("recent resolutions: redis unavailable error=%s; retrying", describe(exc))
            except Exception:
                self._stale = self._stale or stale
                log.exception("recent resolutions: loading from sql failed; retrying")
            await self.clock.sleep(self.check_every)
