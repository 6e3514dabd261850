"""Supervisor alert rules (acd/alerts.py): table-driven, no I/O."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from acd.alerts import Alert, AlertKind, AlertRules, QueueObservation, alert_id, evaluate, observe
from acd.metrics import Occupancy, Window, queue_metrics
from acd.model import CallStatus, Queue, WaitingCall

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
RULES = AlertRules(wait_threshold_seconds=120, wait_clear_ratio=0.9, service_level_min_calls=10)
CALM = QueueObservation("sales", 0.95, 0.8, 20, counted=40, waiting=1, longest_wait_seconds=5,
                        waiting_over_threshold=0)  # fmt: skip
SL = alert_id(AlertKind.SERVICE_LEVEL, "sales")
WAIT = alert_id(AlertKind.LONG_WAIT, "sales")


def active(*ids: str) -> dict[str, Alert]:
    out = {}
    for key in ids:
        kind = AlertKind(key.split(":")[0])
        out[key] = Alert(key, kind, "sales", "earlier", 0.5, 0.8, NOW - timedelta(minutes=5))
    return out


CASES = [
    # (case, alerts active before, observation changes, rules, raised ids, cleared ids)
    ("calm queue: nothing", (), {}, RULES, [], []),
    ("service level below target with enough calls raises", (), {"service_level": 0.7}, RULES, [SL], []),
    ("below target but too few calls yet: nothing", (), {"service_level": 0.0, "counted": 3}, RULES, [], []),
    ("exactly at target: nothing", (), {"service_level": 0.8}, RULES, [], []),
    ("active and back at target but inside the margin: stays", (SL,), {"service_level": 0.81}, RULES, [], []),
    ("active and still below: stays, not raised again", (SL,), {"service_level": 0.5}, RULES, [], []),
    ("active and past target plus margin: clears", (SL,), {"service_level": 0.83}, RULES, [], [SL]),
    ("active and a new day with too few calls: clears", (SL,), {"service_level": 0.0, "counted": 1}, RULES,
     [], [SL]),
    ("a caller past the wait threshold raises", (),
     {"longest_wait_seconds": 121, "waiting_over_threshold": 1}, RULES, [WAIT], []),
    ("exactly at the threshold: nothing", (), {"longest_wait_seconds": 120}, RULES, [], []),
    ("active, longest wait dropped but above the clear level: stays", (WAIT,), {"longest_wait_seconds": 110},
     RULES, [], []),
    ("active, longest wait well below: clears", (WAIT,), {"longest_wait_seconds": 100}, RULES, [], [WAIT]),
    ("wait threshold 0 turns the rule off", (), {"longest_wait_seconds": 10_000},
     replace(RULES, wait_threshold_seconds=0), [], []),
    ("both rules at once", (), {"service_level": 0.1, "longest_wait_seconds": 500}, RULES, [SL, WAIT], []),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "before", "changes", "rules", "raised", "cleared"), CASES, ids=[c[0] for c in CASES]
)
def test_rules(
    case: str,
    before: tuple[str, ...],
    changes: dict[str, float],
    rules: AlertRules,
    raised: list[str],
    cleared: list[str],
) -> None:
    result = evaluate(active(*before), [replace(CALM, **changes)], rules, NOW)
    assert sorted(a.id for a in result.raised) == sorted(raised), case
    assert sorted(a.id for a in result.cleared) == sorted(cleared), case
    assert {a.id for a in result.active} == (set(before) | set(raised)) - set(cleared), case


def test_an_alert_of_a_queue_no_longer_configured_is_cleared() -> None:
    gone = {"long_wait:old": Alert("long_wait:old", AlertKind.LONG_WAIT, "old", "x", 200, 120, NOW)}
    result = evaluate(gone, [CALM], RULES, NOW)
    assert [a.id for a in result.cleared] == ["long_wait:old"]
    assert result.active == ()


def test_hovering_at_the_threshold_raises_once_and_clears_once() -> None:
    longest = [50, 125, 119, 130, 115, 111, 140, 90, 125]
    state: dict[str, Alert] = {}
    raised = cleared = 0
    for i, seconds in enumerate(longest):
        obs = replace(CALM, longest_wait_seconds=seconds, waiting_over_threshold=int(seconds > 120))
        result = evaluate(state, [obs], RULES, NOW + timedelta(seconds=i))
        raised += len(result.raised)
        cleared += len(result.cleared)
        state = {a.id: a for a in result.active}
    # up at 125, stays through 119..111 (above 108), down at 90, up again at 125
    assert (raised, cleared) == (2, 1)
    assert state[WAIT].raised_at == NOW + timedelta(seconds=8)


def test_alert_messages_name_the_queue_and_the_figures() -> None:
    busy = replace(CALM, service_level=0.62, longest_wait_seconds=185, waiting_over_threshold=3)
    result = evaluate({}, [busy], RULES, NOW)
    messages = {a.kind: a.message for a in result.raised}
    assert messages[AlertKind.SERVICE_LEVEL] == (
        "Queue sales: service level today 62% is below the target 80% (answered within 20 s, 40 calls)"
    )
    assert messages[AlertKind.LONG_WAIT] == (
        "Queue sales: 3 callers have waited longer than 2 min 0 s (longest 3 min 5 s)"
    )


def test_alert_json_round_trip_and_malformed_values_are_refused() -> None:
    alert = evaluate({}, [replace(CALM, service_level=0.5)], RULES, NOW).raised[0]
    assert Alert.from_json(alert.to_json()) == replace(alert, value=round(alert.value, 4))
    assert alert.to_json()["raised_at"] == "2026-01-05T09:00:00Z"
    for broken in (
        {},
        {**alert.to_json(), "kind": "fire"},
        {**alert.to_json(), "raised_at": "2026-01-05T09:00"},
    ):
        with pytest.raises((KeyError, ValueError)):
            Alert.from_json(broken)


def waiting(call_id: str, queue: str, waited: float, status: CallStatus = CallStatus.WAITING) -> WaitingCall:
    return WaitingCall(
        call_id=call_id, queue=queue, skill=queue, channel=f"PJSIP/x-{call_id}", uniqueid=call_id,
        enqueued_at=NOW - timedelta(seconds=waited), status=status,
    )  # fmt: skip


def test_observe_counts_only_this_queues_callers_still_waiting_past_the_threshold() -> None:
    calls = [
        waiting("1", "sales", 130),
        waiting("2", "sales", 200),
        waiting("3", "sales", 30),
        waiting("4", "billing", 300),
        waiting("5", "sales", 400, CallStatus.RINGING),  # being connected: not waiting any more
    ]
    metrics = queue_metrics(
        Queue("sales", "sales"), [], calls, Occupancy(), Window("today", NOW.replace(hour=0), NOW)
    )
    obs = observe(metrics, calls, RULES, NOW)
    assert (obs.waiting, obs.waiting_over_threshold, obs.longest_wait_seconds) == (3, 2, 200)
    assert obs.counted == 0 and obs.service_level is None
