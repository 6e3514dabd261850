"""Business hours: weekly ranges in a time zone, holidays and special days."""

from __future__ import annotations

import re
from datetime import date
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, PrivateAttr, field_validator, model_validator

from ivr.flows.types import Strict

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_RANGE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


class Holiday(Strict):
    """A closed day, or a day with special hours."""

    date: date
    hours: list[str] = Field(default_factory=list, description="Open ranges that day; empty = closed")
    name: str | None = Field(None, max_length=64)


class BusinessHours(Strict):
    """Weekly opening hours in a time zone, with holidays."""

    timezone: str = Field(description="IANA zone, e.g. Europe/Paris")
    weekly: dict[str, str | list[str]] = Field(
        description="Day or day range ('mon-fri', 'sat', 'mon,wed') to 'HH:MM-HH:MM' range(s); 'closed'"
    )
    holidays: list[date | Holiday] = Field(default_factory=list)
    _days: dict[int, tuple[tuple[int, int], ...]] = PrivateAttr(default_factory=dict)
    _special: dict[date, tuple[tuple[int, int], ...]] = PrivateAttr(default_factory=dict)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone '{value}'") from None
        return value

    @model_validator(mode="after")
    def _parse(self) -> BusinessHours:
        days: dict[int, list[tuple[int, int]]] = {}
        for spec, ranges in self.weekly.items():
            for day in parse_days(spec):
                days.setdefault(day, []).extend(parse_ranges(ranges))
        self._days = {d: tuple(sorted(r)) for d, r in days.items()}
        special: dict[date, tuple[tuple[int, int], ...]] = {}
        for item in self.holidays:
            if isinstance(item, date):
                special[item] = ()
            else:
                special[item.date] = tuple(sorted(parse_ranges(item.hours)))
        self._special = special
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def ranges_for(self, day: date) -> tuple[tuple[int, int], ...]:
        """Open ranges (minutes from local midnight) on a local date, holidays applied."""
        if day in self._special:
            return self._special[day]
        return self._days.get(day.weekday(), ())


def parse_days(spec: str) -> list[int]:
    """'mon-fri' -> [0..4]; 'sat,sun' -> [5, 6]; 'daily' -> all."""
    out: list[int] = []
    text = spec.strip().lower()
    if text in ("daily", "every day", "all"):
        return list(range(7))
    for part in text.split(","):
        part = part.strip()
        if "-" in part:
            first, _, last = part.partition("-")
            a, b = _day(first), _day(last)
            out.extend(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
        else:
            out.append(_day(part))
    return out


def _day(text: str) -> int:
    key = text.strip()[:3]
    if key not in DAY_NAMES:
        raise ValueError(f"unknown day '{text.strip()}' (use mon, tue, wed, thu, fri, sat, sun)")
    return DAY_NAMES.index(key)


def parse_ranges(ranges: str | list[str]) -> list[tuple[int, int]]:
    """'08:00-18:00' -> [(480, 1080)]; an overnight '22:00-06:00' ends after midnight (1320, 1800)."""
    items = [ranges] if isinstance(ranges, str) else list(ranges)
    out: list[tuple[int, int]] = []
    for item in items:
        if item.strip().lower() == "closed":
            continue
        m = _RANGE.match(item)
        if not m:
            raise ValueError(f"bad time range '{item}' (use HH:MM-HH:MM)")
        h1, m1, h2, m2 = (int(g) for g in m.groups())
        if h1 > 23 or m1 > 59 or h2 > 24 or m2 > 59 or (h2 == 24 and m2 != 0):
            raise ValueError(f"bad time in range '{item}'")
        start, end = h1 * 60 + m1, h2 * 60 + m2
        if end == start:
            raise ValueError(f"empty time range '{item}'")
        out.append((start, end if end > start else end + 24 * 60))
    return out
