"""Live queue metrics as pure functions over call records, waiting calls and occupancy samples.

Definitions (per queue, over a window [start, end) of enqueue times):

- **offered**: calls enqueued in the window. Each is *answered* (an agent picked up), *abandoned* (the
  caller hung up unanswered), or still *pending* (waiting or ringing).
- **short abandons**: callers who hung up within ``short_abandon_seconds`` (misdials, instant regrets).
  Nobody could have answered them, so they count in neither the service level nor the abandon rate.
- **service level**: answered within the queue's target seconds / (answered + abandoned + pending calls
  that already waited longer than the target). A caller who abandons after the short threshold is a miss
  even if they left before the target; a pending caller counts only once the target is already lost.
- **abandon rate**: abandoned / (answered + abandoned), short abandons excluded.
- **ASA** (average speed of answer): mean wait of answered calls, from enqueue to answer.
- **AHT** (average handle time): mean of talk time (answer to hang-up) plus the queue's wrap-up seconds,
  over calls completed in the window. The record does not carry an early end of wrap-up, so this counts
  the configured wrap-up: an upper bound when agents end wrap-up early.
- **occupancy**: seconds agents spent on a call or in wrap-up / seconds they were staffed (ready,
  ringing, on a call or in wrap-up; paused, absent and offline time is not staffed), from periodic samples
  of the agents who have the queue's skill. An agent on another queue's call is busy for this one too.
- **waiting** and **longest wait**: calls waiting now, and how long the oldest of them has waited.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from acd.model import AcdConfig, AgentState, AgentStatus, CallStatus, Queue, WaitingCall

STAFFED_STATES = frozenset({AgentState.READY, AgentState.RINGING, AgentState.ON_CALL, AgentState.WRAP_UP})
BUSY_STATES = frozenset({AgentState.ON_CALL, AgentState.WRAP_UP})
ANSWERED_OUTCOMES = frozenset({"connected", "completed"})


@dataclass(frozen=True)
class CallRecord:
    """What the metrics need of one queued call's SQL record."""

    call_id: str
    queue: str
    enqueued_at: datetime
    outcome: str  # waiting | ringing | connected | completed | abandoned
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    abandoned_at: datetime | None = None
    wait_seconds: float | None = None

    @property
    def answered(self) -> bool:
        return self.answered_at is not None or self.outcome in ANSWERED_OUTCOMES

    def answer_wait(self) -> float:
        """Seconds from enqueue to answer (answered calls only)."""
        if self.answered_at is not None:
            return max(0.0, (self.answered_at - self.enqueued_at).total_seconds())
        return max(0.0, self.wait_seconds or 0.0)

    def abandon_wait(self) -> float:
        """Seconds the caller waited before hanging up (abandoned calls only)."""
        gone = self.abandoned_at or self.ended_at
        if gone is not None:
            return max(0.0, (gone - self.enqueued_at).total_seconds())
        return max(0.0, self.wait_seconds or 0.0)


@dataclass(frozen=True)
class Occupancy:
    """Sampled agent seconds for one queue: busy (on a call or wrap-up) and staffed."""

    busy_seconds: float = 0.0
    staffed_seconds: float = 0.0

    @property
    def ratio(self) -> float | None:
        return self.busy_seconds / self.staffed_seconds if self.staffed_seconds > 0 else None

    def __add__(self, other: Occupancy) -> Occupancy:
        return Occupancy(self.busy_seconds + other.busy_seconds, self.staffed_seconds + other.staffed_seconds)


@dataclass(frozen=True)
class Window:
    """The interval metrics are computed over, with the label shown in APIs and Prometheus."""

    label: str
    start: datetime
    end: datetime


def window_today(now: datetime, timezone: str = "UTC") -> Window:
    """From the last midnight in ``timezone`` until ``now``."""
    local = now.astimezone(ZoneInfo(timezone))
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return Window("today", midnight, now)


def window_minutes(now: datetime, minutes: int) -> Window:
    """The last ``minutes`` minutes until ``now``."""
    return Window(f"{minutes}m", now - timedelta(minutes=minutes), now)


@dataclass(frozen=True)
class QueueMetrics:
    """One queue's figures over a window (ratios 0-1; None when there is nothing to divide by)."""

    queue: str
    window: str
    start: datetime
    end: datetime
    waiting: int
    longest_wait_seconds: float
    offered: int
    answered: int
    answered_within_target: int
    abandoned: int
    short_abandoned: int
    pending_over_target: int
    completed: int
    service_level: float | None
    service_level_target: float  # the queue's goal, 0-1
    service_level_seconds: float
    abandon_rate: float | None
    average_speed_of_answer_seconds: float | None
    average_handle_time_seconds: float | None
    occupancy: float | None
    busy_seconds: float
    staffed_seconds: float


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def queue_metrics(
    queue: Queue,
    records: Iterable[CallRecord],
    waiting_calls: Iterable[WaitingCall],
    occupancy: Occupancy,
    window: Window,
    *,
    short_abandon_seconds: float = 5.0,
) -> QueueMetrics:
    """The figures for ``queue``: ``records`` and ``waiting_calls`` may hold other queues' calls too."""
    target = queue.service_level_seconds
    offered = answered = within = abandoned = short = pending_over = 0
    waits: list[float] = []
    handles: list[float] = []
    for rec in records:
        if rec.queue != queue.name or not window.start <= rec.enqueued_at < window.end:
            continue
        offered += 1
        if rec.answered:
            answered += 1
            wait = rec.answer_wait()
            waits.append(wait)
            if wait <= target:
                within += 1
            if rec.outcome == "completed" and rec.answered_at is not None and rec.ended_at is not None:
                talk = max(0.0, (rec.ended_at - rec.answered_at).total_seconds())
                handles.append(talk + queue.wrap_up_seconds)
        elif rec.outcome == "abandoned":
            if rec.abandon_wait() < short_abandon_seconds:
                short += 1
            else:
                abandoned += 1
        elif (window.end - rec.enqueued_at).total_seconds() > target:
            pending_over += 1
    now_waiting = [c for c in waiting_calls if c.queue == queue.name and c.status is CallStatus.WAITING]
    longest = max((c.waited(window.end) for c in now_waiting), default=0.0)
    decided = answered + abandoned + pending_over
    return QueueMetrics(
        queue=queue.name,
        window=window.label,
        start=window.start,
        end=window.end,
        waiting=len(now_waiting),
        longest_wait_seconds=longest,
        offered=offered,
        answered=answered,
        answered_within_target=within,
        abandoned=abandoned,
        short_abandoned=short,
        pending_over_target=pending_over,
        completed=len(handles),
        service_level=within / decided if decided else None,
        service_level_target=queue.service_level_percent / 100.0,
        service_level_seconds=target,
        abandon_rate=abandoned / (answered + abandoned) if answered + abandoned else None,
        average_speed_of_answer_seconds=_mean(waits),
        average_handle_time_seconds=_mean(handles),
        occupancy=occupancy.ratio,
        busy_seconds=occupancy.busy_seconds,
        staffed_seconds=occupancy.staffed_seconds,
    )


def all_queue_metrics(
    config: AcdConfig,
    records: Sequence[CallRecord],
    waiting_calls: Sequence[WaitingCall],
    occupancy: Mapping[str, Occupancy],
    window: Window,
    *,
    short_abandon_seconds: float = 5.0,
) -> list[QueueMetrics]:
    """Metrics of every configured queue, in name order."""
    return [
        queue_metrics(
            config.queues[name],
            records,
            waiting_calls,
            occupancy.get(name, Occupancy()),
            window,
            short_abandon_seconds=short_abandon_seconds,
        )
        for name in sorted(config.queues)
    ]


def occupancy_sample(
    config: AcdConfig, statuses: Mapping[str, AgentStatus], seconds: float
) -> dict[str, Occupancy]:
    """What one sample adds per queue: ``seconds`` for each staffed (and each busy) agent of its skill."""
    out: dict[str, Occupancy] = {}
    for name, queue in config.queues.items():
        busy = staffed = 0
        for agent_id in config.agents_with_skill(queue.skill):
            status = statuses.get(agent_id)
            if status is None or status.state not in STAFFED_STATES:
                continue
            staffed += 1
            if status.state in BUSY_STATES:
                busy += 1
        out[name] = Occupancy(busy * seconds, staffed * seconds)
    return out


def agent_state_counts(config: AcdConfig, statuses: Mapping[str, AgentStatus]) -> dict[str, int]:
    """Configured agents per state (agents Redis has never seen count as offline)."""
    counts = {state.value: 0 for state in AgentState}
    for agent_id in config.agents:
        status = statuses.get(agent_id)
        counts[(status.state if status else AgentState.OFFLINE).value] += 1
    return counts
