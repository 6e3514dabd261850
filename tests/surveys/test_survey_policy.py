"""Survey policy without a database: eligibility, countries, quiet hours across time zones, backoff."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from surveys.model import SkipReason
from surveys.phone import parse_number
from surveys.policy import (
    PolicyConfig,
    QuietHours,
    eligible,
    hour_bucket,
    next_allowed_time,
    plan_survey,
    prefix_of,
    retry_delay,
)
from surveys.ports import CallEnded

QUIET = QuietHours(time(21, 0), time(9, 0))


def config(**changes: object) -> PolicyConfig:
    values: dict[str, object] = {
        "enabled": True,
        "delay": timedelta(minutes=5),
        "quiet": QUIET,
        "default_timezone": "UTC",
        "allowed_countries": frozenset({"US", "FR", "KR", "RU", "GB"}),
        "self_service_outcomes": frozenset(),
        "expire_after": timedelta(hours=24),
    }
    values.update(changes)
    return PolicyConfig(**values)  # type: ignore[arg-type]


def call(ended_at: datetime, *, agent: str | None = "a1", outcome: str | None = "queue") -> CallEnded:
    return CallEnded("c1", "+12125550123", agent, "billing", "billing", outcome, "en", ended_at)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("number", "ended", "due"),
    [
        # New York, 10:00 local: just the 5-minute delay.
        ("+12125550123", utc(2026, 1, 5, 15, 0), utc(2026, 1, 5, 15, 5)),
        # New York, 20:58 local: the delay lands in quiet hours -> 09:00 next morning (14:00 UTC).
        ("+12125550123", utc(2026, 1, 6, 1, 58), utc(2026, 1, 6, 14, 0)),
        # Paris, 23:30 local -> 09:00 Paris (08:00 UTC).
        ("+33612345678", utc(2026, 1, 5, 22, 30), utc(2026, 1, 6, 8, 0)),
        # Seoul, 07:00 local (22:00 UTC the day before) -> 09:00 KST = 00:00 UTC.
        ("+821012345678", utc(2026, 1, 4, 22, 0), utc(2026, 1, 5, 0, 0)),
        # Los Angeles at 06:00 local, while it is already 09:00 in New York: LA's morning decides.
        ("+14155550123", utc(2026, 1, 5, 14, 0), utc(2026, 1, 5, 17, 0)),
        # New York on the spring-forward night: 01:30 EST -> 09:00 EDT = 13:00 UTC.
        ("+12125550123", utc(2026, 3, 8, 6, 30), utc(2026, 3, 8, 13, 0)),
    ],
)
def test_survey_waits_for_daytime_in_the_callers_time_zone(
    number: str, ended: datetime, due: datetime
) -> None:
    phone = parse_number(number, "US")
    plan = plan_survey(call(ended), phone, config())
    assert plan.skip is None
    assert plan.due_at == due


def test_number_spanning_many_zones_waits_until_daytime_in_all_of_them() -> None:
    phone = parse_number("+79161234567", "US")  # a Russian mobile: phonenumbers lists 16 zones
    assert len(phone.time_zones) > 5
    due = next_allowed_time(utc(2026, 1, 5, 12, 0), phone.time_zones, QUIET)
    for zone in phone.time_zones:
        assert not QUIET.contains(due.astimezone(ZoneInfo(zone)).time()), zone


def test_unknown_time_zone_falls_back_to_the_configured_zone() -> None:
    due = next_allowed_time(utc(2026, 1, 5, 23, 0), ("Asia/Tokyo",), QUIET)
    assert due.astimezone(ZoneInfo("Asia/Tokyo")).time() >= time(9, 0)
    # A plan for a number without zones uses default_timezone.
    phone = parse_number("+12125550123", "US")
    bare = type(phone)(phone.e164, phone.region, (), True)
    plan = plan_survey(call(utc(2026, 1, 5, 23, 0)), bare, config(default_timezone="Europe/Paris"))
    assert plan.due_at == utc(2026, 1, 6, 8, 0)


@pytest.mark.parametrize(
    ("start", "end", "local", "quiet"),
    [
        (time(21), time(9), time(22), True),
        (time(21), time(9), time(3), True),
        (time(21), time(9), time(9), False),
        (time(21), time(9), time(20, 59), False),
        (time(0), time(7), time(6, 59), True),
        (time(0), time(7), time(7), False),
        (time(8), time(8), time(3), False),  # equal ends: no quiet hours at all
    ],
)
def test_quiet_hours_wrap_midnight_or_not(start: time, end: time, local: time, quiet: bool) -> None:
    assert QuietHours(start, end).contains(local) is quiet


@given(
    moment=st.datetimes(
        min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC)
    ),
    zone=st.sampled_from(
        [
            "America/New_York",
            "Europe/Paris",
            "Asia/Seoul",
            "Australia/Lord_Howe",
            "Asia/Kathmandu",
            "America/St_Johns",
            "Pacific/Chatham",
            "UTC",
        ]
    ),
    start=st.integers(0, 23),
    end=st.integers(0, 23),
)
@settings(max_examples=200, deadline=None)
def test_next_allowed_time_is_never_earlier_never_quiet_and_within_a_day(
    moment: datetime, zone: str, start: int, end: int
) -> None:
    quiet = QuietHours(time(start), time(end))
    due = next_allowed_time(moment, (zone,), quiet)
    assert due >= moment
    assert due - moment <= timedelta(hours=25)  # a DST shift can add an hour
    assert not quiet.contains(due.astimezone(ZoneInfo(zone)).time())


def test_only_agent_handled_calls_are_surveyed_unless_self_service_is_opted_in() -> None:
    ended = utc(2026, 1, 5, 15, 0)
    assert eligible(call(ended), config())
    assert not eligible(call(ended, agent=None, outcome="resolved"), config())
    assert eligible(
        call(ended, agent=None, outcome="resolved"), config(self_service_outcomes=frozenset({"resolved"}))
    )
    assert not eligible(
        call(ended, agent=None, outcome="hangup"), config(self_service_outcomes=frozenset({"resolved"}))
    )


@pytest.mark.parametrize(
    ("number", "cfg", "reason"),
    [
        ("+12125550123", config(enabled=False), SkipReason.DISABLED),
        ("+447911123456", config(allowed_countries=frozenset({"US"})), SkipReason.COUNTRY_NOT_ALLOWED),
        ("+18005550199", config(), SkipReason.NOT_MOBILE),  # US toll-free
        # Quiet hours longer than the expiry: the survey would arrive too late to mean anything.
        ("+12125550123", config(expire_after=timedelta(hours=2)), SkipReason.TOO_LATE),
    ],
)
def test_policy_skips_with_a_reason(number: str, cfg: PolicyConfig, reason: SkipReason) -> None:
    plan = plan_survey(call(utc(2026, 1, 6, 3, 0)), parse_number(number, "US"), cfg)
    assert plan.skip is reason


def test_retry_delay_doubles_up_to_the_cap() -> None:
    assert [retry_delay(n, 30, 600) for n in range(1, 8)] == [30, 60, 120, 240, 480, 600, 600]
    assert retry_delay(10_000, 30, 600) == 600


def test_prefix_and_hour_bucket() -> None:
    assert prefix_of("+12125550123", 7) == "1212555"
    assert hour_bucket(utc(2026, 1, 5, 15, 42, 7)) == utc(2026, 1, 5, 15, 0)
