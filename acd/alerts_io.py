"""The alert job: evaluates acd/alerts.py's rules on ACD events and periodically, keeps the active alerts in
Redis for every controller's wallboard, and hands each raised or cleared alert to the webhook once.

The active set lives in one Redis hash (``<prefix>:{acd}:alerts``, field = alert id, value = JSON). Raising
is ``HSETNX`` and clearing is ``HDEL``: with several controllers evaluating the same figures only the one
whose write wins posts the webhook, so one breach is announced once. Redis errors become ``StoreError``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from acd.alert_webhook import AlertWebhook, Delivery
from acd.alerts import Alert, AlertRules, Evaluation, evaluate, observe
from acd.errors import AcdError, StoreError
from acd.metrics import all_queue_metrics
from acd.metrics_io import AcdMetrics, published_config
from switchboard.call_path import gate
from switchboard.clock import Clock
from switchboard.settings import AcdSettings

log = logging.getLogger(__name__)

# A burst of ACD events costs one evaluation per 5 s at most: each reads the day's SQL records, and those
# reads compete with the dispatcher for the event loop (an alert a few seconds late is no loss).
MIN_INTERVAL_SECONDS = 5.0
MAX_BLOCK_MS = 2000  # one stream read waits no longer (the Redis client's socket must not time out first)


class AlertBoard:
    """The active alerts in Redis, shared by every controller of the site."""

    def __init__(self, redis: aioredis.Redis, key: str) -> None:
        self.redis = redis
        self.key = key

    async def active(self) -> list[Alert]:
        """The active alerts, oldest first (a malformed entry is skipped and logged)."""
        try:
            raw = await self.redis.hgetall(self.key)
        except RedisError as exc:
            raise StoreError(f"redis read of alerts failed: {exc}") from exc
        alerts: list[Alert] = []
        for field, value in raw.items():
            try:
                alerts.append(Alert.from_json(json.loads(value)))
            except (ValueError, KeyError, TypeError):
                log.warning("alert entry unreadable, ignored id=%r", field)
        return sorted(alerts, key=lambda a: (a.raised_at, a.id))

    async def raise_alert(self, alert: Alert) -> bool:
        """Store ``alert`` unless it is already active; True when this call stored it."""
        try:
            return bool(await self.redis.hsetnx(self.key, alert.id, json.dumps(alert.to_json())))
        except RedisError as exc:
            raise StoreError(f"redis write of an alert failed: {exc}") from exc

    async def clear_alert(self, alert_id: str) -> bool:
        """Remove an active alert; True when this call removed it."""
        try:
            return bool(await self.redis.hdel(self.key, alert_id))
        except RedisError as exc:
            raise StoreError(f"redis removal of an alert failed: {exc}") from exc


class AlertMonitor:
    """Evaluates the rules against today's queue metrics and the calls waiting now."""

    def __init__(
        self,
        metrics: AcdMetrics,
        board: AlertBoard,
        rules: AlertRules,
        clock: Clock,
        *,
        webhook: AlertWebhook | None = None,
        check_seconds: float = 5.0,
    ) -> None:
        self.metrics = metrics
        self.board = board
        self.rules = rules
        self.clock = clock
        self.webhook = webhook
        self.check_seconds = check_seconds

    @classmethod
    def from_settings(cls, metrics: AcdMetrics, settings: AcdSettings, clock: Clock) -> AlertMonitor:
        """The monitor the settings describe (with a webhook when ``alerts_webhook_url`` is set)."""
        store = metrics.service.store
        webhook = None
        if settings.alerts_webhook_url:
            webhook = AlertWebhook(
                settings.alerts_webhook_url,
                clock,
                secret=settings.alerts_webhook_secret.get_secret_value(),
                timeout=settings.alerts_webhook_timeout_seconds,
                retries=settings.alerts_webhook_retries,
            )
        rules = AlertRules(
            wait_threshold_seconds=settings.alerts_wait_threshold_seconds,
            service_level_min_calls=settings.alerts_service_level_min_calls,
        )
        return cls(
            metrics,
            AlertBoard(store.redis, store.keys.base + "alerts"),
            rules,
            clock,
            webhook=webhook,
            check_seconds=settings.alerts_check_seconds,
        )

    def jobs(self) -> dict[str, Callable[[], Awaitable[None]]]:
        """The background jobs to supervise: the evaluation loop and, when configured, the webhook sender."""
        jobs: dict[str, Callable[[], Awaitable[None]]] = {"acd-alerts": self.run}
        if self.webhook is not None:
            jobs["acd-alerts-webhook"] = self.webhook.run
        return jobs

    async def active(self) -> list[Alert]:
        return await self.board.active()

    async def check_once(self) -> Evaluation:
        """One evaluation: read the figures, apply the rules, write the changes this controller wins."""
        now = self.clock.now()
        window = self.metrics.today()
        config = await published_config(self.metrics.service)
        records = await self.metrics.records(window.start, window.end)
        waiting = await self.metrics.service.store.all_calls()
        # Occupancy is left out: no rule reads it, and its samples are the costly part of the metrics.
        figures = all_queue_metrics(
            config,
            records,
            waiting,
            {},
            window,
            short_abandon_seconds=self.metrics.settings.short_abandon_seconds,
        )
        observations = [observe(m, waiting, self.rules, now) for m in figures]
        before = {alert.id: alert for alert in await self.board.active()}
        result = evaluate(before, observations, self.rules, now)
        for alert in result.raised:
            if await self.board.raise_alert(alert):
                log.warning("alert raised id=%s message=%r", alert.id, alert.message)
                self._announce("raised", alert, now)
        for alert in result.cleared:
            if await self.board.clear_alert(alert.id):
                log.info("alert cleared id=%s", alert.id)
                self._announce("cleared", alert, now)
        return result

    def _announce(self, event: str, alert: Alert, now: datetime) -> None:
        if self.webhook is not None:
            self.webhook.submit(Delivery(event, alert, now))

    async def run(self) -> None:
        """Evaluate after ACD events (at most every MIN_INTERVAL_SECONDS) and every ``check_seconds``."""
        store = self.metrics.service.store
        last = "$"
        try:
            last = await store.last_event_id()
        except AcdError as exc:
            log.warning("alerts: cannot read the event stream error=%s", exc)
        while True:
            try:
                await gate.quiet()  # the call path first (switchboard/call_path.py)
                await self.check_once()
            except AcdError as exc:
                log.warning("alerts: evaluation skipped error=%s", exc)
            checked = self.clock.monotonic()
            deadline = checked + self.check_seconds
            # Wait for events (or the periodic check), never evaluating twice within MIN_INTERVAL_SECONDS.
            while (left := deadline - self.clock.monotonic()) > 0:
                try:
                    block_ms = max(1, min(MAX_BLOCK_MS, int(left * 1000)))
                    events = await store.read_events(last, block_ms=block_ms, count=500)
                except AcdError as exc:
                    log.warning("alerts: event stream read failed error=%s", exc)
                    await self.clock.sleep(min(left, 1.0))
                    continue
                if events:
                    last = events[-1].id
                    pause = MIN_INTERVAL_SECONDS - (self.clock.monotonic() - checked)
                    if pause > 0:
                        await self.clock.sleep(pause)
                    break
