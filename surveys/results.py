"""CSAT results: per agent, queue, skill, IVR outcome or day; as rows for JSON and as CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from surveys.store import SurveyRecord
from switchboard.csv_cells import safe_cell as _safe_cell

SATISFIED_MIN = 4  # CSAT counts 4 and 5 out of 5 as satisfied (top-two-box)
NONE_KEY = "(none)"


class Dimension(StrEnum):
    """What results are grouped by."""

    AGENT = "agent"
    QUEUE = "queue"
    SKILL = "skill"
    IVR_OUTCOME = "ivr_outcome"
    DAY = "day"


@dataclass(frozen=True)
class ResultFilter:
    """Only surveys whose call matches every given value."""

    agent_id: str | None = None
    queue: str | None = None
    skill: str | None = None
    ivr_outcome: str | None = None

    def matches(self, record: SurveyRecord) -> bool:
        """Whether a survey passes the filter."""
        return all(
            wanted is None or wanted == actual
            for wanted, actual in (
                (self.agent_id, record.agent_id),
                (self.queue, record.queue),
                (self.skill, record.skill),
                (self.ivr_outcome, record.ivr_outcome),
            )
        )


@dataclass(frozen=True)
class CsatRow:
    """One group's figures; percentages are None when there is nothing to divide by."""

    key: str
    sent: int
    responses: int
    satisfied: int
    csat: float | None  # percent of responses rated 4 or 5
    average: float | None  # mean rating 1-5
    response_rate: float | None  # percent of sent surveys that got a rating


@dataclass(frozen=True)
class CsatReport:
    """Results for one grouping over one period."""

    by: Dimension
    since: datetime
    until: datetime
    timezone: str
    rows: list[CsatRow]
    total: CsatRow


def _key(record: SurveyRecord, by: Dimension, zone: ZoneInfo) -> str:
    if by is Dimension.DAY:
        return record.call_ended_at.astimezone(zone).date().isoformat()
    value = {
        Dimension.AGENT: record.agent_id,
        Dimension.QUEUE: record.queue,
        Dimension.SKILL: record.skill,
        Dimension.IVR_OUTCOME: record.ivr_outcome,
    }[by]
    return value or NONE_KEY


def _row(key: str, records: Iterable[SurveyRecord]) -> CsatRow:
    ratings = []
    sent = 0
    for record in records:
        sent += 1
        if record.rating is not None:
            ratings.append(record.rating)
    satisfied = sum(1 for r in ratings if r >= SATISFIED_MIN)
    return CsatRow(
        key=key,
        sent=sent,
        responses=len(ratings),
        satisfied=satisfied,
        csat=round(100.0 * satisfied / len(ratings), 1) if ratings else None,
        average=round(sum(ratings) / len(ratings), 2) if ratings else None,
        response_rate=round(100.0 * len(ratings) / sent, 1) if sent else None,
    )


def build_report(
    records: Iterable[SurveyRecord],
    by: Dimension,
    since: datetime,
    until: datetime,
    zone: ZoneInfo,
    filters: ResultFilter,
) -> CsatReport:
    """Group surveys that were sent (or answered) and compute CSAT per group, sorted by key."""
    kept = [r for r in records if filters.matches(r)]
    groups: dict[str, list[SurveyRecord]] = {}
    for record in kept:
        groups.setdefault(_key(record, by, zone), []).append(record)
    rows = [_row(key, groups[key]) for key in sorted(groups)]
    return CsatReport(
        by=by, since=since, until=until, timezone=zone.key, rows=rows, total=_row("total", kept)
    )


CSV_COLUMNS = (
    "key",
    "sent",
    "responses",
    "satisfied",
    "csat_percent",
    "average_rating",
    "response_rate_percent",
)


def report_csv(report: CsatReport) -> str:
    """The report as CSV (one header line, one line per group, then the total)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([report.by.value, *CSV_COLUMNS[1:]])
    for row in [*report.rows, report.total]:
        writer.writerow(
            [
                _safe_cell(row.key),
                row.sent,
                row.responses,
                row.satisfied,
                _num(row.csat),
                _num(row.average),
                _num(row.response_rate),
            ]
        )
    return out.getvalue()


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:g}"
