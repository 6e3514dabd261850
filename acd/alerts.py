"""Supervisor alerts as pure rules: a queue's service level today below its target, callers waiting too long.

One alert per queue and rule. It is raised once when the rule is breached and cleared once when the queue
is clearly back (hysteresis), so figures hovering at the threshold do not flap:

- **service level**: raised when today's service level is below the queue's target and at least
  ``service_level_min_calls`` calls count towards it (one early miss is not a breach); cleared when the
  level is back at target plus ``service_level_clear_margin``, or when too few calls count (a new day).
- **long wait**: raised when a caller has waited longer than ``wait_threshold_seconds``; cleared when the
  longest wait is at most ``wait_clear_ratio`` of the threshold (so the next caller, nearly as old, does
  not raise it again a second later).

An alert of a queue that is no longer observed (removed from the configuration) is cleared.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from acd.metrics import QueueMetrics
from acd.model import CallStatus, WaitingCall


class AlertKind(StrEnum):
    """Which rule an alert comes from."""

    SERVICE_LEVEL = "service_level"
    LONG_WAIT = "long_wait"


@dataclass(frozen=True)
class AlertRules:
    """The thresholds (a wait threshold of 0 turns the long-wait rule off)."""

    wait_threshold_seconds: float = 120.0
    wait_clear_ratio: float = 0.9
    service_level_min_calls: int = 10
    service_level_clear_margin: float = 0.02


@dataclass(frozen=True)
class QueueObservation:
    """What the rules look at for one queue, now."""

    queue: str
    service_level: float | None  # today, 0-1
    service_level_target: float  # 0-1
    service_level_seconds: float
    counted: int  # calls counting towards the service level (answered, abandoned, waiting past target)
    waiting: int
    longest_wait_seconds: float
    waiting_over_threshold: int


@dataclass(frozen=True)
class Alert:
    """One active (or just cleared) alert; ``id`` is ``<kind>:<queue>``."""

    id: str
    kind: AlertKind
    queue: str
    message: str
    value: float
    threshold: float
    raised_at: datetime

    def to_json(self) -> dict[str, Any]:
        """JSON-ready values (times as ISO 8601 UTC)."""
        return {
            "id": self.id,
            "kind": self.kind.value,
            "queue": self.queue,
            "message": self.message,
            "value": round(self.value, 4),
            "threshold": round(self.threshold, 4),
            "raised_at": self.raised_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Alert:
        """The inverse of :meth:`to_json`; ValueError/KeyError/TypeError on a malformed value."""
        raised = datetime.fromisoformat(str(data["raised_at"]).replace("Z", "+00:00"))
        if raised.tzinfo is None:
            raise ValueError("raised_at without a time zone")
        return cls(
            id=str(data["id"]),
            kind=AlertKind(data["kind"]),
            queue=str(data["queue"]),
            message=str(data["message"]),
            value=float(data["value"]),
            threshold=float(data["threshold"]),
            raised_at=raised,
        )


@dataclass(frozen=True)
class Evaluation:
    """What changed: alerts to raise and to clear, and the set active afterwards."""

    raised: tuple[Alert, ...]
    cleared: tuple[Alert, ...]
    active: tuple[Alert, ...]


def alert_id(kind: AlertKind, queue: str) -> str:
    return f"{kind.value}:{queue}"


def observe(
    metrics: QueueMetrics, waiting_calls: Iterable[WaitingCall], rules: AlertRules, now: datetime
) -> QueueObservation:
    """One queue's observation from its metrics for today and the calls waiting now (any queue's)."""
    threshold = rules.wait_threshold_seconds
    over = 0
    if threshold > 0:
        over = sum(
            1
            for call in waiting_calls
            if call.queue == metrics.queue
            and call.status is CallStatus.WAITING
            and call.waited(now) > threshold
        )
    return QueueObservation(
        queue=metrics.queue,
        service_level=metrics.service_level,
        service_level_target=metrics.service_level_target,
        service_level_seconds=metrics.service_level_seconds,
        counted=metrics.answered + metrics.abandoned + metrics.pending_over_target,
        waiting=metrics.waiting,
        longest_wait_seconds=metrics.longest_wait_seconds,
        waiting_over_threshold=over,
    )


def _percent(ratio: float) -> str:
    return f"{ratio * 100:.0f}%"


def _duration(seconds: float) -> str:
    s = max(0, round(seconds))
    return f"{s // 60} min {s % 60} s" if s >= 60 else f"{s} s"


def _service_level(
    obs: QueueObservation, active: Alert | None, rules: AlertRules, now: datetime
) -> Alert | None:
    """The queue's service-level alert after this observation (None: no alert)."""
    level, target = obs.service_level, obs.service_level_target
    enough = level is not None and obs.counted >= rules.service_level_min_calls
    if active is not None:
        recovered = not enough or (level is not None and level >= target + rules.service_level_clear_margin)
        return None if recovered else active
    if not enough or level is None or level >= target:
        return None
    return Alert(
        id=alert_id(AlertKind.SERVICE_LEVEL, obs.queue),
        kind=AlertKind.SERVICE_LEVEL,
        queue=obs.queue,
        message=(
            f"Queue {obs.queue}: service level today {_percent(level)} is below the target "
            f"{_percent(target)} (answered within {obs.service_level_seconds:g} s, {obs.counted} calls)"
        ),
        value=level,
        threshold=target,
        raised_at=now,
    )


def _long_wait(obs: QueueObservation, active: Alert | None, rules: AlertRules, now: datetime) -> Alert | None:
    """The queue's long-wait alert after this observation (None: no alert)."""
    threshold = rules.wait_threshold_seconds
    if threshold <= 0:
        return None
    longest = obs.longest_wait_seconds
    if active is not None:
        return None if longest <= threshold * rules.wait_clear_ratio else active
    if longest <= threshold:
        return None
    count = max(1, obs.waiting_over_threshold)
    callers = "1 caller has" if count == 1 else f"{count} callers have"
    return Alert(
        id=alert_id(AlertKind.LONG_WAIT, obs.queue),
        kind=AlertKind.LONG_WAIT,
        queue=obs.queue,
        message=(
            f"Queue {obs.queue}: {callers} waited longer than {_duration(threshold)} "
            f"(longest {_duration(longest)})"
        ),
        value=longest,
        threshold=threshold,
        raised_at=now,
    )


RULES = {AlertKind.SERVICE_LEVEL: _service_level, AlertKind.LONG_WAIT: _long_wait}


def evaluate(
    active: Mapping[str, Alert], observations: Iterable[QueueObservation], rules: AlertRules, now: datetime
) -> Evaluation:
    """Apply every rule to every observed queue, given the alerts active before."""
    raised: list[Alert] = []
    cleared: list[Alert] = []
    after: dict[str, Alert] = {}
    seen: set[str] = set()
    for obs in observations:
        for kind, rule in RULES.items():
            key = alert_id(kind, obs.queue)
            seen.add(key)
            before = active.get(key)
            now_alert = rule(obs, before, rules, now)
            if now_alert is not None:
                after[key] = now_alert
                if before is None:
                    raised.append(now_alert)
            elif before is not None:
                cleared.append(before)
    cleared.extend(alert for key, alert in active.items() if key not in seen)
    ordered = tuple(sorted(after.values(), key=lambda a: (a.raised_at, a.id)))
    return Evaluation(tuple(raised), tuple(cleared), ordered)
