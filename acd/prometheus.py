"""Prometheus exposition of the ACD metrics: a per-app CollectorRegistry and a collector fed at scrape time.

prometheus-client collects synchronously, while our figures come from Redis and SQL asynchronously, so a
scrape first computes them (under a lock: concurrent scrapes do not compute twice at once), hands them to
the collector, then renders the registry. No global registry, no background refresh: what a scrape shows
is what was true when it arrived.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from acd.metrics import QueueMetrics, agent_state_counts
from acd.metrics_io import AcdMetrics, published_config

PREFIX = "switchboard_acd_"
CONTENT_TYPE = CONTENT_TYPE_LATEST


@dataclass(frozen=True)
class Scrape:
    """Everything one scrape shows."""

    windows: Sequence[Sequence[QueueMetrics]]  # one list of queue metrics per window
    agents_by_state: dict[str, int] = field(default_factory=dict)
    config_version: int = 0


def _gauge(name: str, doc: str, labels: Sequence[str]) -> GaugeMetricFamily:
    return GaugeMetricFamily(PREFIX + name, doc, labels=list(labels))


class AcdCollector(Collector):
    """Yields the gauges of the latest Scrape handed to it."""

    def __init__(self) -> None:
        self.latest: Scrape | None = None

    def describe(self) -> list[Metric]:
        # Registering must not trigger a collect (there is no scrape yet).
        return []

    def collect(self) -> Iterator[Metric]:
        scrape = self.latest
        if scrape is None:
            return
        waiting = _gauge("calls_waiting", "Calls waiting in the queue now.", ["queue"])
        longest = _gauge("longest_wait_seconds", "How long the oldest waiting call has waited.", ["queue"])
        target = _gauge("service_level_target_ratio", "The queue's service-level goal (0-1).", ["queue"])
        target_s = _gauge(
            "service_level_target_seconds", "Answer within this many seconds to meet the goal.", ["queue"]
        )
        per_window: dict[str, tuple[str, str]] = {
            "offered": ("calls_offered", "Calls enqueued in the window."),
            "answered": ("calls_answered", "Calls of the window that an agent answered."),
            "abandoned": ("calls_abandoned", "Callers who hung up unanswered (after the short threshold)."),
            "short_abandoned": ("calls_short_abandoned", "Callers who hung up within the short threshold."),
            "service_level": (
                "service_level_ratio",
                "Answered within target / (answered + abandoned + waiting beyond target).",
            ),
            "abandon_rate": ("abandon_ratio", "Abandoned / (answered + abandoned), short abandons excluded."),
            "average_speed_of_answer_seconds": (
                "average_speed_of_answer_seconds",
                "Mean wait from enqueue to answer.",
            ),
            "average_handle_time_seconds": (
                "average_handle_time_seconds",
                "Mean talk time plus the queue's wrap-up seconds of completed calls.",
            ),
            "occupancy": ("occupancy_ratio", "Agent seconds on a call or in wrap-up / staffed seconds."),
        }
        families = {attr: _gauge(name, doc, ["queue", "window"]) for attr, (name, doc) in per_window.items()}
        seen: set[str] = set()
        for window in scrape.windows:
            for m in window:
                if m.queue not in seen:
                    seen.add(m.queue)
                    waiting.add_metric([m.queue], m.waiting)
                    longest.add_metric([m.queue], m.longest_wait_seconds)
                    target.add_metric([m.queue], m.service_level_target)
                    target_s.add_metric([m.queue], m.service_level_seconds)
                for attr, family in families.items():
                    value = getattr(m, attr)
                    if value is not None:  # no calls, no ratio: leave the series out rather than lie
                        family.add_metric([m.queue, m.window], float(value))
        agents = _gauge("agents", "Configured agents in each state.", ["state"])
        for state, count in sorted(scrape.agents_by_state.items()):
            agents.add_metric([state], count)
        version = _gauge("config_version", "Version of the routing configuration in force.", [])
        version.add_metric([], scrape.config_version)
        yield from (waiting, longest, target, target_s, *families.values(), agents, version)


class PrometheusExporter:
    """Renders the ACD's metrics in the Prometheus text format, computed at scrape time."""

    def __init__(self, metrics: AcdMetrics) -> None:
        self.metrics = metrics
        self.registry = CollectorRegistry(auto_describe=False)
        self.collector = AcdCollector()
        self.registry.register(self.collector)
        self._lock = asyncio.Lock()

    async def scrape(self) -> Scrape:
        """Compute what a scrape shows: today and the recent window, agents per state."""
        service = self.metrics.service
        windows = [
            await self.metrics.queue_metrics(self.metrics.today()),
            await self.metrics.queue_metrics(self.metrics.recent()),
        ]
        config = await published_config(service)
        statuses = await service.store.agent_statuses(config.agents)
        return Scrape(windows, agent_state_counts(config, statuses), config.version)

    async def render(self) -> bytes:
        """The exposition text (raises StoreError when Redis or the database cannot be read)."""
        async with self._lock:
            self.collector.latest = await self.scrape()
            return generate_latest(self.registry)
