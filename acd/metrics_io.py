"""The thin reader behind acd/metrics.py: SQL call records, Redis waiting calls and occupancy samples.

Occupancy needs to know how long agents were busy and staffed, which no record holds, so a sampler job
reads every agent's state every ``metrics_sample_seconds`` (on the injected Clock) and adds the seconds to
per-minute Redis hashes (``<prefix>:{acd}:m:occ:<minute>``, kept two days). With several controllers on
one Redis only the one that wins ``SET NX`` on the tick's key samples it, so nothing is counted twice.

SQLAlchemy and Redis errors become ``StoreError`` here.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from redis.exceptions import RedisError
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from acd.errors import StoreError
from acd.metrics import (
    CallRecord,
    Occupancy,
    QueueMetrics,
    Window,
    all_queue_metrics,
    occupancy_sample,
    window_minutes,
    window_today,
)
from acd.model import AcdConfig
from acd.service import AcdService
from acd.tables import QueueCallRow
from switchboard.call_path import gate
from switchboard.clock import Clock
from switchboard.settings import AcdSettings, ConfigError

log = logging.getLogger(__name__)

BUCKET_SECONDS = 60
BUCKET_TTL_SECONDS = 2 * 86_400
MAX_RECORDS = 1_000_000  # a guard, far above a day of calls


def _s(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def published_config(service: AcdService) -> AcdConfig:
    """The configuration in force across controllers: reloaded when another one published a newer version."""
    try:
        raw = await service.store.redis.get(service.store.keys.cfgver)
    except RedisError as exc:
        raise StoreError(f"redis read of the configuration version failed: {exc}") from exc
    return await service.config(int(raw) if raw else None)


RECORDS_CACHE_SECONDS = 1.0


class AcdMetrics:
    """Computes QueueMetrics for a window and runs the occupancy sampler."""

    def __init__(
        self,
        service: AcdService,
        sessions: async_sessionmaker[AsyncSession] | None,
        clock: Clock,
        settings: AcdSettings | None = None,
    ) -> None:
        self.service = service
        self.sessions = sessions
        self.clock = clock
        self.settings = settings or service.settings
        self._base = service.store.keys.base + "m:"
        # (start, end) -> (read at, records): the wallboard, its API pollers and the alert job read the
        # same day's records; one SQL read per RECORDS_CACHE_SECONDS serves them all.
        self._records: tuple[tuple[datetime, datetime, int], float, list[CallRecord]] | None = None
        self._records_lock = asyncio.Lock()
        try:
            ZoneInfo(self.settings.metrics_timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(
                f"acd.metrics_timezone {self.settings.metrics_timezone!r} is not a time zone such as "
                "Europe/Berlin (SWITCHBOARD_ACD_METRICS_TIMEZONE)"
            ) from None

    # ---- windows ----

    def today(self) -> Window:
        return window_today(self.clock.now(), self.settings.metrics_timezone)

    def recent(self, minutes: int | None = None) -> Window:
        return window_minutes(self.clock.now(), minutes or self.settings.metrics_recent_minutes)

    # ---- the figures ----

    async def queue_metrics(self, window: Window) -> list[QueueMetrics]:
        """Every queue's metrics over ``window`` (waiting and longest wait are as of now)."""
        config = await published_config(self.service)
        records = await self.records(window.start, window.end)
        waiting = await self.service.store.all_calls()
        occupancy = await self.occupancy(window.start, window.end)
        return all_queue_metrics(
            config,
            records,
            waiting,
            occupancy,
            window,
            short_abandon_seconds=self.settings.short_abandon_seconds,
        )

    async def records(self, start: datetime, end: datetime) -> list[CallRecord]:
        """Call records enqueued in [start, end); none when the controller has no database.

        Reused for ``RECORDS_CACHE_SECONDS`` (a write by this controller's record writer makes it
        stale at once; another controller's within that time); concurrent readers share one read.
        """
        writer = self.service.records
        key = (start, end, writer.written if writer is not None else 0)  # our own writes: read again
        async with self._records_lock:
            cached = self._records
            now = self.clock.monotonic()
            if cached is not None and cached[0] == key and now - cached[1] < RECORDS_CACHE_SECONDS:
                return cached[2]
            records = await self._read_records(start, end)
            self._records = (key, now, records)
            return records

    async def _read_records(self, start: datetime, end: datetime) -> list[CallRecord]:
        if self.sessions is None:
            return []
        t = QueueCallRow
        query = (
            select(
                t.call_id,
                t.queue,
                t.enqueued_at,
                t.outcome,
                t.answered_at,
                t.ended_at,
                t.abandoned_at,
                t.wait_seconds,
            )
            .where(t.enqueued_at >= start, t.enqueued_at < end)
            .limit(MAX_RECORDS)
        )
        try:
            async with self.sessions() as session:
                rows = (await session.execute(query)).all()
        except SQLAlchemyError as exc:
            raise StoreError(f"database read of queue calls failed: {exc.__class__.__name__}: {exc}") from exc
        return [CallRecord(*row) for row in rows]

    # ---- occupancy samples ----

    def _bucket_key(self, bucket: int) -> str:
        return f"{self._base}occ:{bucket}"

    async def occupancy(self, start: datetime, end: datetime) -> dict[str, Occupancy]:
        """Sampled busy and staffed seconds per queue in the minutes overlapping [start, end]."""
        first = int(start.timestamp()) // BUCKET_SECONDS * BUCKET_SECONDS
        last = int(end.timestamp()) // BUCKET_SECONDS * BUCKET_SECONDS
        buckets = range(first, last + 1, BUCKET_SECONDS)
        try:
            pipe = self.service.store.redis.pipeline(transaction=False)
            for bucket in buckets:
                pipe.hgetall(self._bucket_key(bucket))
            hashes = await pipe.execute()
        except RedisError as exc:
            raise StoreError(f"redis read of occupancy samples failed: {exc}") from exc
        totals: dict[str, Occupancy] = {}
        for fields in hashes:
            for raw_key, raw_value in fields.items():
                queue, _, kind = _s(raw_key).rpartition(":")
                try:
                    seconds = float(_s(raw_value))
                except ValueError:
                    continue
                add = Occupancy(seconds, 0.0) if kind == "busy" else Occupancy(0.0, seconds)
                totals[queue] = totals.get(queue, Occupancy()) + add
        return totals

    async def sample_once(self) -> bool:
        """Add one sample of every agent's state; False when another controller took this tick."""
        period = self.settings.metrics_sample_seconds
        now = self.clock.now()
        tick = int(now.timestamp() // period)
        config = await published_config(self.service)
        redis = self.service.store.redis
        try:
            won = await redis.set(f"{self._base}tick:{tick}", "1", nx=True, ex=max(10, int(period * 4)))
            if not won:
                return False
            statuses = await self.service.store.agent_statuses(config.agents)
            sample = occupancy_sample(config, statuses, period)
            key = self._bucket_key(int(now.timestamp()) // BUCKET_SECONDS * BUCKET_SECONDS)
            pipe = redis.pipeline(transaction=False)
            for queue, occ in sample.items():
                if occ.staffed_seconds:
                    pipe.hincrbyfloat(key, f"{queue}:staffed", occ.staffed_seconds)
                if occ.busy_seconds:
                    pipe.hincrbyfloat(key, f"{queue}:busy", occ.busy_seconds)
            pipe.expire(key, BUCKET_TTL_SECONDS)
            await pipe.execute()
        except RedisError as exc:
            raise StoreError(f"redis occupancy sample failed: {exc}") from exc
        return True

    async def run_sampler(self) -> None:
        """Sample forever (a supervised background job); a failed sample is logged and retried next tick."""
        period = self.settings.metrics_sample_seconds
        while True:
            try:
                await gate.quiet()  # the call path first (switchboard/call_path.py)
                await self.sample_once()
            except StoreError as exc:
                log.warning("acd occupancy sample skipped error=%s", exc)
            now = self.clock.now().timestamp()
            await self.clock.sleep(period - (now % period) or period)
