"""The report as JSON values and as CSV (every text cell defused against spreadsheet formulas)."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from acd.reports import Report, ReportRow
from switchboard.csv_cells import safe_cell
from switchboard.web.reports.params import ReportParams

CSV_COLUMNS = (
    "name",
    "offered",
    "answered",
    "answered_within_target",
    "abandoned",
    "short_abandoned",
    "pending",
    "service_level_percent",
    "service_level_target_percent",
    "average_speed_of_answer_seconds",
    "average_handle_time_seconds",
    "handled",
    "deflection_started",
    "deflection_resolved",
    "deflection_percent",
    "csat_responses",
    "csat_satisfied",
    "csat_percent",
)


def _round(value: Any) -> Any:
    return round(value, 4) if isinstance(value, float) else value


def row_json(row: ReportRow, names: Mapping[str, str]) -> dict[str, Any]:
    """One row: ratios 0-1, seconds; ``name`` is the agent's configured name (agents only)."""
    return {**{k: _round(v) for k, v in asdict(row).items()}, "name": names.get(row.key, "")}


def report_json(report: Report, params: ReportParams, names: Mapping[str, str]) -> dict[str, Any]:
    """The whole report for ``/api/reports``."""
    return {
        "group": report.group.value,
        "from": report.first.isoformat(),
        "to": report.last.isoformat(),
        "timezone": report.timezone,
        "queue": report.queue,
        "sort": params.sort_param,
        "rows": [row_json(r, names) for r in report.rows],
        "total": row_json(report.total, {}),
    }


def _percent(value: float | None) -> str:
    return "" if value is None else f"{value * 100:.1f}"


def _seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


def _count(value: int | None) -> str:
    return "" if value is None else str(value)


def report_csv(report: Report, names: Mapping[str, str]) -> str:
    """One header line, one line per row, then the total; percentages 0-100, times in seconds."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([report.group.value, *CSV_COLUMNS])
    for row in [*report.rows, report.total]:
        writer.writerow(
            [
                safe_cell(row.key),
                safe_cell(names.get(row.key, "") if row is not report.total else ""),
                row.offered,
                row.answered,
                row.answered_within_target,
                row.abandoned,
                row.short_abandoned,
                row.pending,
                _percent(row.service_level),
                _percent(row.service_level_target),
                _seconds(row.average_speed_of_answer_seconds),
                _seconds(row.average_handle_time_seconds),
                row.handled,
                _count(row.deflection_started),
                _count(row.deflection_resolved),
                _percent(row.deflection_rate),
                row.csat_responses,
                row.csat_satisfied,
                _percent(row.csat),
            ]
        )
    return out.getvalue()
