"""The reports' request parameters: every one allow-listed or parsed, never passed on as text.

``group`` and ``sort`` come from fixed lists, ``queue`` must be a configured queue, ``from``/``to`` are ISO
dates at most ``MAX_DAYS`` apart, ``tz`` must be an IANA zone name. Sorting happens in Python on the
computed rows, so no parameter ever reaches SQL as anything but a bound value.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from acd.reports import SORT_FIELDS, GroupBy

MAX_DAYS = 366
DEFAULT_DAYS = 7
ZONE_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+){0,2}$")
MAX_TEXT = 64

SortKey = StrEnum(  # type: ignore[misc]
    "SortKey", {name: name for f in sorted(SORT_FIELDS) for name in (f, f"-{f}")}
)
SortKey.__doc__ = "A report column to sort by; a leading '-' sorts descending."


class ReportParamError(ValueError):
    """A parameter that is not allowed; the message says what to fix."""


@dataclass(frozen=True)
class ReportParams:
    """A validated report request."""

    first: date
    last: date
    group: GroupBy
    queue: str | None
    zone: ZoneInfo
    sort: str  # an allow-listed field
    descending: bool

    @property
    def sort_param(self) -> str:
        return ("-" if self.descending else "") + self.sort

    def query(self, **changes: str) -> str:
        """This request as a query string (for the CSV link, sort links), with ``changes`` applied."""
        values = {
            "from": self.first.isoformat(),
            "to": self.last.isoformat(),
            "group": self.group.value,
            "queue": self.queue or "",
            "tz": self.zone.key,
            "sort": self.sort_param,
            **changes,
        }
        return urlencode({k: v for k, v in values.items() if v})


EARLIEST = date(1970, 1, 1)  # no call record is older; far enough from date.min for any window
LATEST = date(9998, 12, 31)


def _zone(name: str | None, default: ZoneInfo) -> ZoneInfo:
    if not name:
        return default
    if len(name) > MAX_TEXT or not ZONE_RE.fullmatch(name):
        raise ReportParamError("tz must be a time zone name such as Europe/Berlin")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ReportParamError("tz must be a time zone name such as Europe/Berlin") from None


def validate(
    *,
    first: date | None,
    last: date | None,
    group: GroupBy,
    queue: str | None,
    tz: str | None,
    sort: str | None,
    queues: Collection[str],
    default_zone: ZoneInfo,
    now: datetime,
) -> ReportParams:
    """Check a request's values; ``queues`` is the allow-list of queue names (defaults: the last 7 days)."""
    zone = _zone(tz, default_zone)
    for name, value in (("from", first), ("to", last)):
        if value is not None and not EARLIEST <= value <= LATEST:
            # date arithmetic and time-zone windows overflow near the ends of the calendar
            raise ReportParamError(f"{name} must be between {EARLIEST} and {LATEST}")
    end = last or now.astimezone(zone).date()
    start = first or max(EARLIEST, end - timedelta(days=DEFAULT_DAYS - 1))
    if start > end:
        raise ReportParamError("from must not be after to")
    if (end - start).days + 1 > MAX_DAYS:
        raise ReportParamError(f"at most {MAX_DAYS} days at a time")
    if queue and queue not in queues:
        raise ReportParamError("queue must be one of the configured queues")
    sort_text = sort or "key"
    descending = sort_text.startswith("-")
    field = sort_text[1:] if descending else sort_text
    if field not in SORT_FIELDS:
        raise ReportParamError(
            "sort must be one of: " + ", ".join(sorted(SORT_FIELDS)) + " (- for descending)"
        )
    return ReportParams(start, end, group, queue or None, zone, field, descending)


def parse(
    raw: Mapping[str, str], *, queues: Collection[str], default_zone: ZoneInfo, now: datetime
) -> ReportParams:
    """A page's query string (text) into validated parameters."""

    def text(name: str) -> str | None:
        value = raw.get(name)
        if value is None or value == "":
            return None
        if len(value) > MAX_TEXT:
            raise ReportParamError(f"'{name}' is too long")
        return value

    def day(name: str) -> date | None:
        value = text(name)
        if value is None:
            return None
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise ReportParamError(f"'{name}' must be a date like 2026-01-31") from None

    group_text = text("group") or GroupBy.DAY.value
    try:
        group = GroupBy(group_text)
    except ValueError:
        raise ReportParamError("group must be one of: day, queue, agent") from None
    return validate(
        first=day("from"),
        last=day("to"),
        group=group,
        queue=text("queue"),
        tz=text("tz"),
        sort=text("sort"),
        queues=queues,
        default_zone=default_zone,
        now=now,
    )
