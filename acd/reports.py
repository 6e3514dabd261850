"""Historical reports as pure functions: call records, self-service runs and survey ratings -> rows per
day, queue or agent.

Definitions (each call belongs to the period and the day of its enqueue time, days in the report's zone):

- **offered**: calls that entered a queue. Each is *answered*, *abandoned* (the caller hung up unanswered)
  or still *pending* (waiting or ringing when the report was made).
- **short abandons**: callers who hung up within ``short_abandon_seconds`` (misdials). They are counted
  as offered and shown apart, but they are neither abandoned nor part of the service level.
- **service level**: calls answered within their queue's target seconds / offered calls, where offered
  here leaves out short abandons and pending calls that have not yet waited past the target (their fate
  is still open). This is the wallboard's definition over a longer period, so today's figure matches.
- **ASA** (average speed of answer): mean wait of answered calls, from enqueue to answer.
- **AHT** (average handle time): mean talk time (answer to hang-up) plus the queue's wrap-up seconds,
  over completed calls.
- **self-service deflection**: self-service runs resolved / started, by the day the run started. Runs
  belong to no queue or agent, so the figure exists for days and the total only, without a queue filter.
- **CSAT**: survey responses rated ``satisfied_min`` or better / responses, by the call's end (day),
  its queue or its agent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from acd.metrics import CallRecord

NONE_KEY = "(none)"
TOTAL_KEY = "total"
DEFAULT_TARGET_SECONDS = 20.0


class GroupBy(StrEnum):
    """What report rows are grouped by."""

    DAY = "day"
    QUEUE = "queue"
    AGENT = "agent"


@dataclass(frozen=True)
class ReportCall(CallRecord):
    """A queued call's record plus the agent who took (or was last offered) it."""

    agent_id: str | None = None


@dataclass(frozen=True)
class SelfServiceRun:
    """One caller's pass through a self-service script."""

    started_at: datetime
    resolved: bool


@dataclass(frozen=True)
class Rating:
    """One survey: the call it asked about and the rating (None: no answer)."""

    call_ended_at: datetime
    queue: str | None
    agent_id: str | None
    rating: int | None


@dataclass(frozen=True)
class QueueTarget:
    """A queue's service-level goal and wrap-up, as configured."""

    seconds: float = DEFAULT_TARGET_SECONDS  # answered within this counts
    percent: float = 80.0  # the goal, 0-100
    wrap_up_seconds: float = 0.0


@dataclass(frozen=True)
class ReportRow:
    """One group's figures; ratios are 0-1 and None when there is nothing to divide by."""

    key: str
    offered: int = 0
    answered: int = 0
    answered_within_target: int = 0
    abandoned: int = 0
    short_abandoned: int = 0
    pending: int = 0
    service_level: float | None = None
    service_level_target: float | None = None  # the goal, 0-1, where one goal applies to the row
    average_speed_of_answer_seconds: float | None = None
    average_handle_time_seconds: float | None = None
    handled: int = 0  # completed calls behind AHT
    deflection_started: int | None = None  # None: self-service does not apply to this row
    deflection_resolved: int | None = None
    deflection_rate: float | None = None
    csat_responses: int = 0
    csat_satisfied: int = 0
    csat: float | None = None


@dataclass(frozen=True)
class Report:
    """The rows of one grouping over one period [first, last] (days in ``timezone``) and their total."""

    group: GroupBy
    first: date
    last: date
    timezone: str
    queue: str | None
    rows: list[ReportRow]
    total: ReportRow


@dataclass
class _Acc:
    """Running sums of one group."""

    offered: int = 0
    answered: int = 0
    within: int = 0
    abandoned: int = 0
    short: int = 0
    pending: int = 0
    pending_over: int = 0
    waits: list[float] = field(default_factory=list)
    handles: list[float] = field(default_factory=list)
    runs: int = 0
    resolved: int = 0
    responses: int = 0
    satisfied: int = 0

    def row(self, key: str, target: float | None, deflection: bool) -> ReportRow:
        decided = self.answered + self.abandoned + self.pending_over
        return ReportRow(
            key=key,
            offered=self.offered,
            answered=self.answered,
            answered_within_target=self.within,
            abandoned=self.abandoned,
            short_abandoned=self.short,
            pending=self.pending,
            service_level=self.within / decided if decided else None,
            service_level_target=target,
            average_speed_of_answer_seconds=_mean(self.waits),
            average_handle_time_seconds=_mean(self.handles),
            handled=len(self.handles),
            deflection_started=self.runs if deflection else None,
            deflection_resolved=self.resolved if deflection else None,
            deflection_rate=(self.resolved / self.runs if self.runs else None) if deflection else None,
            csat_responses=self.responses,
            csat_satisfied=self.satisfied,
            csat=self.satisfied / self.responses if self.responses else None,
        )


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def days_between(first: date, last: date) -> list[date]:
    """Every day from ``first`` to ``last`` inclusive."""
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def period_bounds(first: date, last: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) in UTC: ``first``'s midnight to the midnight after ``last``, both in ``zone``.

    UTC, because Python subtracts and compares two datetimes of one zone by wall clock, ignoring a
    daylight-saving change between them.
    """
    start = datetime.combine(first, datetime.min.time(), tzinfo=zone)
    end = datetime.combine(last + timedelta(days=1), datetime.min.time(), tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def _add_call(
    acc: _Acc, call: ReportCall, target: QueueTarget, as_of: datetime, short_seconds: float
) -> None:
    acc.offered += 1
    if call.answered:
        acc.answered += 1
        wait = call.answer_wait()
        acc.waits.append(wait)
        if wait <= target.seconds:
            acc.within += 1
        if call.outcome == "completed" and call.answered_at is not None and call.ended_at is not None:
            talk = max(0.0, (call.ended_at - call.answered_at).total_seconds())
            acc.handles.append(talk + target.wrap_up_seconds)
    elif call.outcome == "abandoned":
        if call.abandon_wait() < short_seconds:
            acc.short += 1
        else:
            acc.abandoned += 1
    else:
        acc.pending += 1
        if (as_of - call.enqueued_at).total_seconds() > target.seconds:
            acc.pending_over += 1


def build_report(
    group: GroupBy,
    first: date,
    last: date,
    zone: ZoneInfo,
    *,
    calls: Iterable[ReportCall],
    runs: Iterable[SelfServiceRun] = (),
    ratings: Iterable[Rating] = (),
    targets: Mapping[str, QueueTarget],
    as_of: datetime,
    queue: str | None = None,
    short_abandon_seconds: float = 5.0,
    satisfied_min: int = 4,
) -> Report:
    """Rows for ``group`` over the days ``first``..``last`` in ``zone`` (records outside are ignored).

    Day rows cover every day of the period, queue rows every queue in ``targets`` (or just ``queue``),
    agent rows every agent met (``(none)`` holds calls no agent took). ``queue`` keeps only that queue's
    calls and ratings and leaves self-service out (it belongs to no queue).
    """
    start, end = period_bounds(first, last, zone)

    def in_period(at: datetime) -> bool:
        return start <= at < end

    def day_key(at: datetime) -> str:
        return at.astimezone(zone).date().isoformat()

    def key_of(at: datetime, queue_name: str | None, agent_id: str | None) -> str:
        if group is GroupBy.DAY:
            return day_key(at)
        return (queue_name if group is GroupBy.QUEUE else agent_id) or NONE_KEY

    keys: list[str] = []
    if group is GroupBy.DAY:
        keys = [d.isoformat() for d in days_between(first, last)]
    elif group is GroupBy.QUEUE:
        keys = [queue] if queue else sorted(targets)
    groups: dict[str, _Acc] = {k: _Acc() for k in keys}
    total = _Acc()

    def acc_for(key: str) -> _Acc:
        return groups.setdefault(key, _Acc())

    for call in calls:
        if not in_period(call.enqueued_at) or (queue is not None and call.queue != queue):
            continue
        target = targets.get(call.queue, QueueTarget())
        for acc in (acc_for(key_of(call.enqueued_at, call.queue, call.agent_id)), total):
            _add_call(acc, call, target, as_of, short_abandon_seconds)
    deflection = queue is None
    if deflection:
        for run in runs:
            if not in_period(run.started_at):
                continue
            accs = [total]
            if group is GroupBy.DAY:
                accs.append(acc_for(day_key(run.started_at)))
            for acc in accs:
                acc.runs += 1
                acc.resolved += int(run.resolved)
    for rating in ratings:
        if rating.rating is None or not in_period(rating.call_ended_at):
            continue
        if queue is not None and rating.queue != queue:
            continue
        satisfied = int(rating.rating >= satisfied_min)
        for acc in (acc_for(key_of(rating.call_ended_at, rating.queue, rating.agent_id)), total):
            acc.responses += 1
            acc.satisfied += satisfied

    def goal(key: str) -> float | None:
        name = key if group is GroupBy.QUEUE else queue
        if name is not None and name in targets:
            return targets[name].percent / 100.0
        return None

    ordered = sorted(groups, key=lambda k: (k == NONE_KEY, k))
    rows = [groups[k].row(k, goal(k), deflection and group is GroupBy.DAY) for k in ordered]
    return Report(
        group=group,
        first=first,
        last=last,
        timezone=zone.key,
        queue=queue,
        rows=rows,
        total=total.row(TOTAL_KEY, goal(queue) if queue else None, deflection),
    )


SORT_FIELDS = frozenset(
    {
        "key", "offered", "answered", "abandoned", "service_level", "average_speed_of_answer_seconds",
        "average_handle_time_seconds", "deflection_rate", "csat",
    }
)  # fmt: skip


def sort_rows(rows: Sequence[ReportRow], by: str, *, descending: bool = False) -> list[ReportRow]:
    """Rows ordered by one allow-listed field; rows without a value, then the ``(none)`` row, go last."""
    if by not in SORT_FIELDS:
        raise ValueError(f"cannot sort by {by!r}")
    named = [r for r in rows if r.key != NONE_KEY]
    present = [r for r in named if getattr(r, by) is not None]
    missing = [r for r in named if getattr(r, by) is None]
    rest = [r for r in rows if r.key == NONE_KEY]
    return sorted(present, key=lambda r: (getattr(r, by), r.key), reverse=descending) + missing + rest
