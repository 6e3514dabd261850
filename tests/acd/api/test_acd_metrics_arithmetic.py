"""Queue metrics arithmetic, table-driven: service level, abandons, ASA, AHT, occupancy, windows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from acd.metrics import (
    CallRecord,
    Occupancy,
    Window,
    agent_state_counts,
    occupancy_sample,
    queue_metrics,
    window_minutes,
    window_today,
)
from acd.metrics_io import AcdMetrics
from acd.model import AgentState, AgentStatus, CallStatus, Queue, WaitingCall
from switchboard.clock import ManualClock
from switchboard.settings import AcdSettings, ConfigError
from tests.acd.conftest import make_config

QUEUE = Queue("billing", "billing", service_level_percent=80, service_level_seconds=20, wrap_up_seconds=10)
T0 = ManualClock().now()  # 2026-01-05 09:00 UTC: the window ends here
WINDOW_START = T0 - timedelta(hours=1)


@dataclass(frozen=True)
class R:
    """A call record relative to T0: enqueued ``at`` seconds before it; answer/gone after ``wait``."""

    at: float
    outcome: str
    wait: float | None = None
    talk: float | None = None
    queue: str = "billing"

    def record(self, n: int) -> CallRecord:
        enq = T0 - timedelta(seconds=self.at)
        answered = enq + timedelta(seconds=self.wait) if self.outcome in ("connected", "completed") else None
        ended = answered + timedelta(seconds=self.talk) if answered and self.talk is not None else None
        gone = enq + timedelta(seconds=self.wait) if self.outcome == "abandoned" else None
        return CallRecord(f"c{n}", self.queue, enq, self.outcome, answered, ended or gone, gone)


# fmt: off
MIXED = [
    R(3000, "completed", wait=10, talk=100),  # within target; handle 110
    R(2500, "completed", wait=30, talk=200),  # late; handle 210
    R(2000, "abandoned", wait=3),             # short abandon: counts nowhere
    R(1500, "abandoned", wait=40),            # abandoned after target
    R(1000, "abandoned", wait=10),            # abandoned before target, after the short threshold: a miss
    R(25, "waiting"),                         # waited 25 s > 20 s: already missed
    R(5, "ringing"),                          # waited 5 s: not decided yet
    R(900, "connected", wait=20),             # answered exactly at the target: within; still talking
    R(800, "completed", wait=1, talk=50, queue="sales"),  # another queue
    R(4000, "completed", wait=1, talk=50),    # enqueued before the window
]
CASES: list[tuple[str, list[R], float, dict[str, Any]]] = [
    ("no calls", [], 5.0, dict(
        offered=0, answered=0, service_level=None, abandon_rate=None,
        average_speed_of_answer_seconds=None, average_handle_time_seconds=None)),
    ("mixed", MIXED, 5.0, dict(
        offered=8, answered=3, answered_within_target=2, abandoned=2, short_abandoned=1,
        pending_over_target=1, completed=2, service_level=2 / 6, abandon_rate=2 / 5,
        average_speed_of_answer_seconds=20.0, average_handle_time_seconds=160.0)),
    ("short threshold 0 counts every abandon", MIXED, 0.0, dict(
        abandoned=3, short_abandoned=0, service_level=2 / 7, abandon_rate=3 / 6)),
    ("long short threshold forgives early abandons", MIXED, 15.0, dict(
        abandoned=1, short_abandoned=2, service_level=2 / 5, abandon_rate=1 / 4)),
    ("all within target", [R(600, "completed", wait=5, talk=60), R(500, "connected", wait=19)], 5.0, dict(
        answered=2, service_level=1.0, abandon_rate=0.0, average_speed_of_answer_seconds=12.0,
        average_handle_time_seconds=70.0)),
    ("only a fresh waiting call: nothing decided", [R(5, "waiting")], 5.0, dict(
        offered=1, pending_over_target=0, service_level=None)),
    ("only a caller past the target", [R(21, "waiting")], 5.0, dict(
        offered=1, pending_over_target=1, service_level=0.0, abandon_rate=None)),
]
# fmt: on


@pytest.mark.parametrize(("records", "short", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_queue_metrics_arithmetic(records: list[R], short: float, expected: dict[str, Any]) -> None:
    rows = [r.record(n) for n, r in enumerate(records)]
    got = queue_metrics(QUEUE, rows, [], Occupancy(), _window(), short_abandon_seconds=short)
    for key, value in expected.items():
        actual = getattr(got, key)
        if isinstance(value, float):
            assert actual == pytest.approx(value), key
        else:
            assert actual == value, key
    assert got.service_level_target == 0.8 and got.service_level_seconds == 20.0


def _window() -> Window:
    return Window("1h", WINDOW_START, T0)


def _call(
    call_id: str, waited: float, *, queue: str = "billing", status: CallStatus = CallStatus.WAITING
) -> WaitingCall:
    return WaitingCall(
        call_id, queue, queue, "PJSIP/x", call_id, T0 - timedelta(seconds=waited), status=status
    )


def test_waiting_and_longest_wait_count_only_this_queues_waiting_calls() -> None:
    calls = [
        _call("w1", 12),
        _call("w2", 95.5),
        _call("r1", 300, status=CallStatus.RINGING),  # ringing an agent: no longer waiting
        _call("s1", 999, queue="sales"),
    ]
    got = queue_metrics(QUEUE, [], calls, Occupancy(), _window())
    assert (got.waiting, got.longest_wait_seconds) == (2, 95.5)
    empty = queue_metrics(QUEUE, [], [], Occupancy(), _window())
    assert (empty.waiting, empty.longest_wait_seconds) == (0, 0.0)


# (states of a1, a2, a3 -- all have the billing skill) -> (busy, staffed) agents for billing
OCCUPANCY_CASES = [
    (("on_call", "ready", "paused"), (1, 2)),
    (("wrap_up", "ringing", "ready"), (1, 3)),
    (("absent", "offline", "paused"), (0, 0)),
    (("on_call", "on_call", "wrap_up"), (3, 3)),
]


@pytest.mark.parametrize(
    ("states", "expected"), OCCUPANCY_CASES, ids=["-".join(c[0]) for c in OCCUPANCY_CASES]
)
def test_occupancy_sample_counts_busy_and_staffed_agents_of_the_queue_skill(
    states: tuple[str, ...], expected: tuple[int, int]
) -> None:
    config = make_config()
    statuses = {a: AgentStatus(a, AgentState(s)) for a, s in zip(("a1", "a2", "a3"), states, strict=True)}
    sample = occupancy_sample(config, statuses, 5.0)
    assert (sample["billing"].busy_seconds, sample["billing"].staffed_seconds) == (
        expected[0] * 5,
        expected[1] * 5,
    )
    # support has only a1; sales only a3
    assert sample["support"].staffed_seconds == (
        5.0 if states[0] in ("on_call", "wrap_up", "ringing", "ready") else 0
    )


def test_occupancy_ratio_is_busy_over_staffed_and_none_when_nobody_staffed() -> None:
    assert (Occupancy(10, 25) + Occupancy(5, 5)).ratio == pytest.approx(0.5)
    assert Occupancy().ratio is None
    got = queue_metrics(QUEUE, [], [], Occupancy(30, 40), _window())
    assert (got.occupancy, got.busy_seconds, got.staffed_seconds) == (0.75, 30, 40)


@pytest.mark.parametrize(
    ("timezone", "start"),
    [
        ("UTC", datetime(2026, 1, 5, 0, 0, tzinfo=UTC)),
        ("Asia/Seoul", datetime(2026, 1, 4, 15, 0, tzinfo=UTC)),  # 18:00 in Seoul: its midnight was 15:00 UTC
        ("America/New_York", datetime(2026, 1, 5, 5, 0, tzinfo=UTC)),
    ],
)
def test_today_starts_at_local_midnight(timezone: str, start: datetime) -> None:
    window = window_today(T0, timezone)
    assert (window.label, window.start, window.end) == ("today", start, T0)


def test_recent_window_covers_the_last_minutes() -> None:
    window = window_minutes(T0, 15)
    assert (window.label, window.end - window.start) == ("15m", timedelta(minutes=15))


def test_agent_state_counts_include_agents_redis_never_saw_as_offline() -> None:
    counts = agent_state_counts(make_config(), {"a1": AgentStatus("a1", AgentState.READY)})
    assert counts["ready"] == 1 and counts["offline"] == 2 and sum(counts.values()) == 3


def test_an_unknown_metrics_time_zone_stops_start_up_with_one_clear_line(service: Any) -> None:
    with pytest.raises(ConfigError, match="SWITCHBOARD_ACD_METRICS_TIMEZONE"):
        AcdMetrics(service, None, ManualClock(), AcdSettings(metrics_timezone="Mars/Olympus"))
