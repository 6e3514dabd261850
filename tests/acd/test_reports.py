"""Report rows per day, queue and agent (acd/reports.py): table-driven, no I/O."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from acd.reports import (
    NONE_KEY,
    GroupBy,
    QueueTarget,
    Rating,
    ReportCall,
    ReportRow,
    SelfServiceRun,
    build_report,
    period_bounds,
    sort_rows,
)

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)  # a Monday
DAY = date(2026, 1, 5)
UTC_ZONE = ZoneInfo("UTC")
SEOUL = ZoneInfo("Asia/Seoul")
TARGETS = {
    "billing": QueueTarget(seconds=20, percent=80, wrap_up_seconds=30),
    "sales": QueueTarget(seconds=60, percent=90, wrap_up_seconds=0),
}


def call(
    n: int,
    *,
    queue: str = "billing",
    at: datetime = T0,
    answer: float | None = None,
    end: float | None = None,
    abandon: float | None = None,
    agent: str | None = None,
) -> ReportCall:
    """A call enqueued at ``at``; times in seconds after it. Its outcome follows from which are given."""
    if abandon is not None:
        outcome = "abandoned"
    elif answer is not None:
        outcome = "completed" if end is not None else "connected"
    else:
        outcome = "waiting"
    return ReportCall(
        call_id=f"c{n}",
        queue=queue,
        enqueued_at=at,
        outcome=outcome,
        answered_at=at + timedelta(seconds=answer) if answer is not None else None,
        ended_at=at + timedelta(seconds=end if end is not None else abandon or 0)
        if (end is not None or abandon is not None)
        else None,
        abandoned_at=at + timedelta(seconds=abandon) if abandon is not None else None,
        agent_id=agent,
    )


def one_queue(calls: list[ReportCall], as_of: datetime = T0 + timedelta(hours=1)) -> ReportRow:
    report = build_report(
        GroupBy.QUEUE, DAY, DAY, UTC_ZONE, calls=calls, targets=TARGETS, as_of=as_of, queue="billing"
    )
    assert len(report.rows) == 1
    return report.rows[0]


CASES: list[tuple[str, list[ReportCall], dict[str, Any], datetime]] = [
    (
        "answered within the target counts for the service level",
        [call(1, answer=10, end=70)],
        {"offered": 1, "answered": 1, "answered_within_target": 1, "service_level": 1.0,
         "average_speed_of_answer_seconds": 10.0, "average_handle_time_seconds": 90.0, "handled": 1},
        T0 + timedelta(hours=1),
    ),
    (
        "answered after the target is a miss",
        [call(1, answer=30, end=90)],
        {"answered": 1, "answered_within_target": 0, "service_level": 0.0,
         "average_speed_of_answer_seconds": 30.0},
        T0 + timedelta(hours=1),
    ),
    (
        "an abandon after the short threshold is a miss and an abandon",
        [call(1, abandon=8)],
        {"offered": 1, "abandoned": 1, "short_abandoned": 0, "service_level": 0.0,
         "average_speed_of_answer_seconds": None},
        T0 + timedelta(hours=1),
    ),
    (
        "a short abandon is offered but counts nowhere else",
        [call(1, abandon=3)],
        {"offered": 1, "abandoned": 0, "short_abandoned": 1, "service_level": None},
        T0 + timedelta(hours=1),
    ),
    (
        "a caller still waiting within the target is not yet counted",
        [call(1)],
        {"offered": 1, "pending": 1, "service_level": None},
        T0 + timedelta(seconds=10),
    ),
    (
        "a caller still waiting past the target is already a miss",
        [call(1)],
        {"offered": 1, "pending": 1, "service_level": 0.0},
        T0 + timedelta(seconds=60),
    ),
    (
        "a call still connected is answered but has no handle time yet",
        [call(1, answer=5)],
        {"answered": 1, "handled": 0, "average_handle_time_seconds": None, "service_level": 1.0},
        T0 + timedelta(hours=1),
    ),
    (
        "mixed: one of three within target",
        [call(1, answer=5, end=65), call(2, answer=40, end=100), call(3, abandon=12), call(4, abandon=1)],
        {"offered": 4, "answered": 2, "abandoned": 1, "short_abandoned": 1,
         "service_level": pytest.approx(1 / 3), "average_speed_of_answer_seconds": 22.5,
         "average_handle_time_seconds": 90.0, "service_level_target": 0.8},
        T0 + timedelta(hours=1),
    ),
]  # fmt: skip


@pytest.mark.parametrize(("case", "calls", "expected", "as_of"), CASES, ids=[c[0] for c in CASES])
def test_queue_row_figures(
    case: str, calls: list[ReportCall], expected: dict[str, Any], as_of: datetime
) -> None:
    row = one_queue(calls, as_of)
    for name, value in expected.items():
        assert getattr(row, name) == value, f"{case}: {name}"


def test_days_are_cut_in_the_viewers_zone_and_every_day_gets_a_row() -> None:
    evening_utc = datetime(2026, 1, 5, 20, 0, tzinfo=UTC)  # 05:00 on the 6th in Seoul
    calls = [call(1, answer=5, end=30), call(2, at=evening_utc, answer=5, end=30)]
    in_utc = build_report(
        GroupBy.DAY, DAY, date(2026, 1, 7), UTC_ZONE, calls=calls, targets=TARGETS, as_of=T0
    )
    in_seoul = build_report(GroupBy.DAY, DAY, date(2026, 1, 7), SEOUL, calls=calls, targets=TARGETS, as_of=T0)
    assert [(r.key, r.offered) for r in in_utc.rows] == [
        ("2026-01-05", 2),
        ("2026-01-06", 0),
        ("2026-01-07", 0),
    ]
    assert [(r.key, r.offered) for r in in_seoul.rows] == [
        ("2026-01-05", 1),
        ("2026-01-06", 1),
        ("2026-01-07", 0),
    ]
    assert in_utc.total.offered == in_seoul.total.offered == 2


def test_records_outside_the_period_are_left_out() -> None:
    before = call(1, at=datetime(2026, 1, 4, 23, 59, tzinfo=UTC), answer=1, end=2)
    after = call(2, at=datetime(2026, 1, 6, 0, 0, tzinfo=UTC), answer=1, end=2)
    inside = call(3, answer=1, end=2)
    report = build_report(
        GroupBy.DAY, DAY, DAY, UTC_ZONE, calls=[before, after, inside], targets=TARGETS, as_of=T0,
        runs=[SelfServiceRun(T0 - timedelta(days=1), True), SelfServiceRun(T0, False)],
        ratings=[Rating(T0 + timedelta(days=1), "billing", "a1", 5), Rating(T0, "billing", "a1", 1)],
    )  # fmt: skip
    assert [r.key for r in report.rows] == ["2026-01-05"]
    assert report.total.offered == 1
    assert (report.total.deflection_started, report.total.deflection_resolved) == (1, 0)
    assert (report.total.csat_responses, report.total.csat_satisfied) == (1, 0)


def test_agent_rows_keep_calls_nobody_took_in_a_none_row_last() -> None:
    calls = [
        call(1, answer=5, end=65, agent="a2"),
        call(2, answer=5, end=35, agent="a1"),
        call(3, answer=50, end=80, agent="a1"),
        call(4, abandon=30),
    ]
    report = build_report(GroupBy.AGENT, DAY, DAY, UTC_ZONE, calls=calls, targets=TARGETS, as_of=T0)
    assert [(r.key, r.offered, r.answered) for r in report.rows] == [
        ("a1", 2, 2),
        ("a2", 1, 1),
        (NONE_KEY, 1, 0),
    ]
    a1 = report.rows[0]
    assert a1.service_level == 0.5
    assert a1.average_handle_time_seconds == pytest.approx((30 + 30 + 30 + 30) / 2)
    assert a1.service_level_target is None  # agents take calls of several queues: no single goal
    assert a1.deflection_started is None  # self-service belongs to no agent


def test_queue_rows_list_every_configured_queue_with_its_goal() -> None:
    calls = [call(1, queue="sales", answer=45, end=60), call(2, queue="old", answer=1, end=2)]
    report = build_report(GroupBy.QUEUE, DAY, DAY, UTC_ZONE, calls=calls, targets=TARGETS, as_of=T0)
    rows = {r.key: r for r in report.rows}
    assert list(rows) == ["billing", "old", "sales"]
    assert rows["billing"].offered == 0 and rows["billing"].service_level is None
    assert rows["sales"].service_level == 1.0  # 45 s is within sales' 60 s
    assert rows["sales"].service_level_target == 0.9
    assert rows["old"].service_level == 1.0 and rows["old"].service_level_target is None  # default 20 s


def test_deflection_is_per_day_and_dropped_under_a_queue_filter() -> None:
    runs = [SelfServiceRun(T0, True), SelfServiceRun(T0, False), SelfServiceRun(T0 + timedelta(days=1), True)]
    by_day = build_report(
        GroupBy.DAY, DAY, date(2026, 1, 6), UTC_ZONE, calls=[], runs=runs, targets=TARGETS, as_of=T0
    )
    assert [(r.deflection_started, r.deflection_resolved, r.deflection_rate) for r in by_day.rows] == [
        (2, 1, 0.5),
        (1, 1, 1.0),
    ]
    assert by_day.total.deflection_rate == pytest.approx(2 / 3)
    filtered = build_report(
        GroupBy.DAY, DAY, date(2026, 1, 6), UTC_ZONE, calls=[], runs=runs, targets=TARGETS, as_of=T0,
        queue="billing",
    )  # fmt: skip
    assert all(r.deflection_started is None for r in [*filtered.rows, filtered.total])


def test_csat_counts_ratings_of_four_and_five_by_queue_agent_and_end_day() -> None:
    ratings = [
        Rating(T0, "billing", "a1", 5),
        Rating(T0, "billing", "a1", 4),
        Rating(T0, "billing", "a2", 2),
        Rating(T0, "sales", "a2", None),  # no answer: not a response
        Rating(T0, "sales", "a3", 1),
    ]
    by_queue = build_report(
        GroupBy.QUEUE, DAY, DAY, UTC_ZONE, calls=[], ratings=ratings, targets=TARGETS, as_of=T0
    )
    assert {r.key: (r.csat_satisfied, r.csat_responses) for r in by_queue.rows} == {
        "billing": (2, 3),
        "sales": (0, 1),
    }
    by_agent = build_report(
        GroupBy.AGENT, DAY, DAY, UTC_ZONE, calls=[], ratings=ratings, targets=TARGETS, as_of=T0
    )
    assert {r.key: r.csat for r in by_agent.rows} == {"a1": 1.0, "a2": 0.0, "a3": 0.0}
    only_billing = build_report(
        GroupBy.DAY, DAY, DAY, UTC_ZONE, calls=[], ratings=ratings, targets=TARGETS, as_of=T0, queue="billing"
    )
    assert only_billing.total.csat == pytest.approx(2 / 3)


def test_period_bounds_follow_the_zone_across_a_daylight_saving_change() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    start, end = period_bounds(date(2026, 3, 29), date(2026, 3, 29), berlin)  # clocks go forward that night
    assert (end - start) == timedelta(hours=23)
    assert start.astimezone(UTC) == datetime(2026, 3, 28, 23, 0, tzinfo=UTC)


SORTS = [
    ("key", False, ["a", "b", "c"]),
    ("key", True, ["c", "b", "a"]),
    ("offered", True, ["b", "c", "a"]),
    ("service_level", False, ["c", "a", "b"]),  # b has none: last either way
    ("service_level", True, ["a", "c", "b"]),
]


@pytest.mark.parametrize(("field", "descending", "expected"), SORTS)
def test_rows_sort_by_an_allowed_field_with_empty_values_and_nobody_last(
    field: str, descending: bool, expected: list[str]
) -> None:
    rows = [
        ReportRow("a", offered=1, service_level=0.9),
        ReportRow("b", offered=5, service_level=None),
        ReportRow("c", offered=3, service_level=0.5),
        ReportRow(NONE_KEY, offered=9, service_level=1.0),
    ]
    assert [r.key for r in sort_rows(rows, field, descending=descending)] == [*expected, NONE_KEY]


@pytest.mark.parametrize("field", ["call_id; DROP TABLE calls", "__class__", "queue", ""])
def test_sorting_by_anything_else_is_refused(field: str) -> None:
    with pytest.raises(ValueError, match="cannot sort"):
        sort_rows([ReportRow("a")], field)
