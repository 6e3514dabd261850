"""Business hours (time zones, DST, holidays, overnight), VIP lists, variable tests, regions from numbers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ivr.flows.model import BusinessHours, FlowSpec, Predicate
from ivr.runtime.conditions import VipDirectory, evaluate, is_open
from ivr.runtime.region import RegionMap, normalise_number
from switchboard.clock import ManualClock

PARIS = BusinessHours.model_validate(
    {
        "timezone": "Europe/Paris",
        "weekly": {"mon-fri": ["08:30-12:00", "13:30-18:00"], "sat": "09:00-12:00"},
        "holidays": ["2026-05-01", {"date": "2026-12-24", "hours": ["09:00-12:00"]}],
    }
)
TOKYO = BusinessHours.model_validate({"timezone": "Asia/Tokyo", "weekly": {"daily": "09:00-21:00"}})
NIGHT = BusinessHours.model_validate({"timezone": "America/New_York", "weekly": {"fri": "22:00-06:00"}})


@pytest.mark.parametrize(
    ("utc", "hours", "expected"),
    [
        # Paris is UTC+1 in winter, UTC+2 in summer
        ("2026-01-05T07:29", PARIS, False),  # Monday 08:29 Paris
        ("2026-01-05T07:30", PARIS, True),  # 08:30
        ("2026-01-05T11:15", PARIS, False),  # 12:15 lunch
        ("2026-01-05T16:59", PARIS, True),  # 17:59
        ("2026-01-05T17:00", PARIS, False),  # 18:00 closed
        ("2026-07-06T06:45", PARIS, True),  # 08:45 summer time
        ("2026-07-06T16:30", PARIS, False),  # 18:30 summer time
        ("2026-03-29T08:30", PARIS, False),  # Sunday, the DST change day
        ("2026-01-10T09:00", PARIS, True),  # Saturday 10:00
        ("2026-05-01T10:00", PARIS, False),  # Labour Day, a Friday
        ("2026-12-24T09:30", PARIS, True),  # Christmas Eve special hours 10:30
        ("2026-12-24T12:00", PARIS, False),  # 13:00, closed early
        ("2026-01-05T23:59", TOKYO, False),  # Tuesday 08:59 in Tokyo
        ("2026-01-06T00:00", TOKYO, True),  # 09:00 Tokyo
        ("2026-01-06T12:00", TOKYO, False),  # 21:00 Tokyo
        ("2026-01-10T03:30", NIGHT, True),  # Friday 22:30 New York
        ("2026-01-10T10:59", NIGHT, True),  # Saturday 05:59: the Friday night range goes on
        ("2026-01-10T11:00", NIGHT, False),  # Saturday 06:00
        ("2026-01-11T03:30", NIGHT, False),  # Saturday 22:30
    ],
)
def test_business_hours_across_time_zones_and_holidays(utc, hours, expected):
    when = datetime.fromisoformat(utc).replace(tzinfo=UTC)
    assert is_open(hours, when) is expected


async def test_condition_node_follows_a_manual_clock_through_the_day(kit, tmp_path):
    flows = kit.flows(
        tmp_path / "f",
        main="""\
        start: open
        hours:
          office: {timezone: Asia/Tokyo, weekly: {mon-fri: "09:00-18:00"}, holidays: [2026-01-07]}
        nodes:
          open: {kind: condition, if: {open: office}, then: day, else: night}
          day: {kind: queue, queue: day}
          night: {kind: queue, queue: night}
        """,
    )
    clock = ManualClock(datetime(2026, 1, 5, 23, 30, tzinfo=UTC))  # Tuesday 08:30 in Tokyo
    runner = kit.runner(clock)
    seen = []
    for _ in range(4):
        await runner.run(kit.channel(), flows, "main")
        seen.append(kit.queue.requests[-1].queue)
        await clock.advance(3600)  # 09:30, 10:30 ...
    await clock.advance(24 * 3600)  # Wednesday 2026-01-07: a holiday
    await runner.run(kit.channel(), flows, "main")
    seen.append(kit.queue.requests[-1].queue)
    assert seen == ["night", "day", "day", "day", "night"]


def spec_with(**extra) -> FlowSpec:
    return FlowSpec.model_validate({"start": "h", "nodes": {"h": {"kind": "hangup"}}, **extra})


@pytest.mark.parametrize(
    ("caller", "expected"),
    [
        ("+15557770100", True),
        ("(555) 777-0100", True),
        ("0015557770100", True),
        ("+15557770199", False),
        ("anonymous", False),
        ("", False),
    ],
)
def test_vip_list_matches_numbers_in_any_common_format(caller, expected):
    spec = spec_with(vip_lists={"gold": ["+1 555 777 0100", "+44 20 7123 0100"]})
    vips = VipDirectory(spec.vip_lists)
    pred = Predicate.model_validate({"vip": "gold"})
    e164 = normalise_number(caller)
    assert (
        evaluate(
            pred, spec=spec, now=datetime.now(UTC), caller_e164=e164, variables=lambda n: None, vips=vips
        )
        is expected
    )


@pytest.mark.parametrize(
    ("test", "value", "expected"),
    [
        ({"eq": "Gold"}, "gold", True),
        ({"eq": 5}, "5", True),
        ({"ne": "gold"}, None, True),
        ({"in": ["a", "b"]}, "B", True),
        ({"in": ["a", "b"]}, "c", False),
        ({"matches": "[0-9]{4}"}, "1234", True),
        ({"matches": "[0-9]{4}"}, "12345", False),
        ({"gt": 10}, "11", True),
        ({"gt": 10}, "ten", False),
        ({"le": 10}, "10", True),
        ({"lt": 0}, "-1", True),
        ({"ge": 1.5}, "1.5", True),
        ({"set": True}, "", False),
        ({"set": False}, None, True),
        ({"eq": True}, "true", True),
    ],
)
def test_variable_tests(test, value, expected):
    pred = Predicate.model_validate({"var": "x", **test})
    assert (
        evaluate(
            pred,
            spec=spec_with(),
            now=datetime.now(UTC),
            caller_e164=None,
            variables=lambda n: value,
            vips=VipDirectory({}),
        )
        is expected
    )


def test_predicates_compose():
    pred = Predicate.model_validate(
        {"any": [{"var": "a", "eq": 1}, {"not": {"all": [{"var": "b", "set": True}]}}]}
    )
    values = {"a": "2", "b": "x"}
    assert (
        evaluate(
            pred,
            spec=spec_with(),
            now=datetime.now(UTC),
            caller_e164=None,
            variables=values.get,
            vips=VipDirectory({}),
        )
        is False
    )
    values["b"] = ""
    assert (
        evaluate(
            pred,
            spec=spec_with(),
            now=datetime.now(UTC),
            caller_e164=None,
            variables=values.get,
            vips=VipDirectory({}),
        )
        is True
    )


# ---- regions -----------------------------------------------------------------------------------------------
MAP = RegionMap(
    {
        "US": "americas",
        "CA": "americas",
        "BR": "americas",
        "GB": "emea",
        "FR": "emea",
        "DE": "emea",
        "JP": "apac",
        "AU": "apac",
        "+1212": "new-york",
        "+3375": "paris",
    }
)


@pytest.mark.parametrize(
    ("number", "region"),
    [
        ("+14155550100", "americas"),  # US
        ("+12125550100", "new-york"),  # an area code beats the country
        ("+14165550100", "americas"),  # Canada
        ("+5511912345678", "americas"),  # Brazil
        ("+442071234567", "emea"),  # UK
        ("+33142685300", "emea"),  # France
        ("+33751234567", "paris"),  # a French prefix mapped on its own
        ("00493012345678", "emea"),  # Germany, international prefix written 00
        ("+81312345678", "apac"),  # Japan
        ("+61291234567", "apac"),  # Australia
        ("+27211234567", None),  # South Africa: not in the map, no default
        ("4155550100", "americas"),  # national US number, default country US
        ("anonymous", None),
        ("<unknown>", None),
        ("", None),
    ],
)
def test_region_from_the_caller_number(number, region):
    assert MAP.region_for(number) == region


def test_region_map_default_and_other_home_country():
    uk = RegionMap({"GB": "uk", "default": "rest"}, default_country="GB")
    assert uk.region_for("020 7123 4567") == "uk"
    assert uk.region_for("+81312345678") == "rest"
    assert uk.region_for("withheld") == "rest"


def test_region_map_rejects_bad_keys():
    with pytest.raises(ValueError, match="neither a country code"):
        RegionMap({"England": "emea"})


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_any_caller_id_normalises_without_error(text):
    result = normalise_number(text)
    assert result is None or (result.startswith("+") and result[1:].isdigit() and len(result) <= 16)
    MAP.region_for(text)


@pytest.mark.parametrize(
    ("number", "country"),
    [
        ("+14155550100", "US"),
        ("+14165550100", "CA"),
        ("+18762345678", "JM"),  # Jamaica shares +1 with the US
        ("+441481234567", "GG"),  # Guernsey shares +44 with the UK
        ("+442071234567", "GB"),
        ("+77012345678", "KZ"),  # Kazakhstan shares +7 with Russia
        ("+79161234567", "RU"),
        ("+61891621234", "CC"),  # Cocos Islands share +61 with Australia
        ("+61291234567", "AU"),
        ("+33142685300", "FR"),  # one country per calling code
        ("+15551234567", "US"),  # an unassigned range belongs to the code's main country
    ],
)
def test_country_of_numbers_sharing_a_calling_code(number, country):
    from ivr.runtime.region import country_of

    assert country_of(number) == country
    assert country_of(number) == country  # and again, from what the first lookup learnt

