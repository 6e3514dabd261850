"""The reports: ``/reports`` (page with charts and a table), ``/api/reports`` (JSON), ``/api/reports.csv``.

Supervisors only. The three share one parameter check (params.py) and one computation (acd/reports.py);
days are cut in the viewer's time zone (the browser's ``sb_tz`` cookie, or ``tz``; default
``acd.metrics_timezone``), so "Monday" on the page is the viewer's Monday.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, JSONResponse, Response

from acd.errors import AcdError
from acd.metrics_io import published_config
from acd.reports import GroupBy, QueueTarget, Report, ReportRow, build_report, period_bounds, sort_rows
from acd.service import AcdService
from switchboard.clock import Clock
from switchboard.users.model import Role
from switchboard.web.auth import CurrentUser, require_role
from switchboard.web.reports.charts import Unit, build_charts, format_value
from switchboard.web.reports.export import report_csv, report_json
from switchboard.web.reports.params import ReportParamError, ReportParams, SortKey, parse, validate
from switchboard.web.reports.queries import ReportDataError, ReportQueries
from switchboard.web.shell import WebShell, viewer_zone

STATIC_DIR = Path(__file__).resolve().parent / "static"
STATIC_FILES = {p.name: p for p in STATIC_DIR.iterdir() if p.is_file()} if STATIC_DIR.is_dir() else {}
PAGE_PARAMS = frozenset({"from", "to", "group", "queue", "sort", "tz"})
SATISFIED_MIN = 4  # as surveys/results.py: ratings 4 and 5 of 5 are satisfied (top-two-box)

Supervisor = Annotated[CurrentUser, Depends(require_role(Role.SUPERVISOR))]
From = Annotated[date | None, Query(alias="from", description="First day (default: 6 days before to)")]
To = Annotated[date | None, Query(alias="to", description="Last day, inclusive (default: today)")]
QueueName = Annotated[str | None, Query(max_length=64, description="Only this configured queue")]
Zone = Annotated[str | None, Query(max_length=64, description="Time zone of the days (IANA name)")]
FoundReport = tuple[Report, ReportParams, dict[str, str]]

# (field, heading, unit) of the table's columns after the group's own; the field is also the sort key.
COLUMNS: tuple[tuple[str, str, Unit], ...] = (
    ("offered", "Offered", Unit.COUNT),
    ("answered", "Answered", Unit.COUNT),
    ("abandoned", "Abandoned", Unit.COUNT),
    ("service_level", "Service level", Unit.RATIO),
    ("average_speed_of_answer_seconds", "Avg. speed of answer", Unit.SECONDS),
    ("average_handle_time_seconds", "Avg. handle time", Unit.SECONDS),
    ("deflection_rate", "Self-service", Unit.RATIO),
    ("csat", "CSAT", Unit.RATIO),
)


@dataclass
class Reports:
    """What the report routes read: the ACD (queues, agents' names), the SQL record and the clock."""

    acd: AcdService
    queries: ReportQueries
    clock: Clock
    default_zone: str = "UTC"
    short_abandon_seconds: float = 5.0

    async def targets(self) -> tuple[dict[str, QueueTarget], dict[str, str]]:
        """Each configured queue's goal, and agents' names by id (shown beside agent rows only)."""
        config = await published_config(self.acd)
        targets = {
            name: QueueTarget(q.service_level_seconds, q.service_level_percent, q.wrap_up_seconds)
            for name, q in config.queues.items()
        }
        return targets, {agent_id: a.name for agent_id, a in config.agents.items() if a.name}

    async def build(self, params: ReportParams, targets: dict[str, QueueTarget]) -> Report:
        """The report the parameters ask for."""
        start, end = period_bounds(params.first, params.last, params.zone)
        calls = await self.queries.calls(start, end, params.queue)
        runs = await self.queries.runs(start, end) if params.queue is None else []
        ratings = await self.queries.ratings(start, end, params.queue)
        return build_report(
            params.group,
            params.first,
            params.last,
            params.zone,
            calls=calls,
            runs=runs,
            ratings=ratings,
            targets=targets,
            as_of=self.clock.now(),
            queue=params.queue,
            short_abandon_seconds=self.short_abandon_seconds,
            satisfied_min=SATISFIED_MIN,
        )


def _cell(row: ReportRow, field: str, unit: Unit) -> str:
    value = getattr(row, field)
    text = format_value(value, unit)
    if field == "service_level" and row.service_level_target is not None:
        text += f" (goal {format_value(row.service_level_target, Unit.RATIO)})"
    elif field == "deflection_rate" and row.deflection_started:
        text += f" ({row.deflection_resolved}/{row.deflection_started})"
    elif field == "csat" and row.csat_responses:
        text += f" ({row.csat_satisfied}/{row.csat_responses})"
    return text


def _table_row(row: ReportRow, names: dict[str, str]) -> dict[str, Any]:
    return {
        "key": row.key,
        "name": names.get(row.key, ""),
        "cells": [_cell(row, field, unit) for field, _, unit in COLUMNS],
    }


def make_report_routers(reports: Reports, shell: WebShell) -> list[APIRouter]:
    """The page (and its stylesheet) plus the JSON and CSV API."""
    router = APIRouter(include_in_schema=False)
    api = APIRouter(prefix="/api", tags=["reports"])

    def zone_of(request: Request) -> ZoneInfo:
        return viewer_zone(request, reports.default_zone)

    @router.get("/ui/reports/{name}")
    async def report_asset(name: Annotated[str, PathParam(max_length=64)], user: Supervisor) -> FileResponse:
        """The reports page's stylesheet (an allow-list: never a path from the request)."""
        path = STATIC_FILES.get(name)
        if path is None:
            raise HTTPException(404, "no such file")
        return FileResponse(path, media_type="text/css", headers={"cache-control": "private, max-age=3600"})

    @router.get("/reports")
    async def reports_page(request: Request, user: Supervisor) -> Response:
        """Figures per day, queue or agent: a chart per measure, the table, CSV and JSON links."""
        raw = {k: v for k, v in request.query_params.items() if k in PAGE_PARAMS}
        context: dict[str, Any] = {
            "form": {k: v[:64] for k, v in raw.items()},
            "problem": None,
            "params": None,
        }
        try:
            targets, names = await reports.targets()
        except AcdError as exc:
            problem = f"Configuration unavailable: {exc}"
            return _render(request, shell, {**context, "problem": problem}, 503)
        context["queues"] = sorted(targets)
        try:
            params = parse(raw, queues=targets, default_zone=zone_of(request), now=reports.clock.now())
        except ReportParamError as exc:
            return _render(request, shell, {**context, "error": str(exc)}, 422)
        context["params"] = params
        context["form"] = {
            "from": params.first.isoformat(),
            "to": params.last.isoformat(),
            "group": params.group.value,
            "queue": params.queue or "",
            "sort": params.sort_param,
        }
        try:
            report = await reports.build(params, targets)
        except ReportDataError as exc:
            return _render(request, shell, {**context, "problem": str(exc)}, 503)
        names = names if params.group is GroupBy.AGENT else {}
        charts, missing = build_charts(report.rows, params.group)
        ordered = sort_rows(report.rows, params.sort, descending=params.descending)
        context.update(
            report=report,
            charts=charts,
            missing=missing,
            rows=[_table_row(r, names) for r in ordered],
            total=_table_row(report.total, {}),
            columns=COLUMNS,
            group_heading={"day": "Day", "queue": "Queue", "agent": "Agent"}[params.group.value],
        )
        return _render(request, shell, context, 200)

    async def api_report(
        request: Request,
        first: From = None,
        last: To = None,
        group: GroupBy = GroupBy.DAY,
        queue: QueueName = None,
        tz: Zone = None,
        sort: SortKey = SortKey("key"),  # noqa: B008 (an enum member, not a call per request)
    ) -> tuple[Report, ReportParams, dict[str, str]]:
        """The query parameters of both API routes, checked, and the report they ask for."""
        try:
            targets, names = await reports.targets()
            params = validate(
                first=first, last=last, group=group, queue=queue, tz=tz, sort=sort.value, queues=targets,
                default_zone=zone_of(request), now=reports.clock.now(),
            )  # fmt: skip
            report = await reports.build(params, targets)
        except ReportParamError as exc:
            raise HTTPException(422, str(exc)) from None
        except (ReportDataError, AcdError) as exc:
            raise HTTPException(503, str(exc)) from None
        ordered = sort_rows(report.rows, params.sort, descending=params.descending)
        return replace(report, rows=ordered), params, (names if params.group is GroupBy.AGENT else {})

    # The role is checked first (dependencies resolve in order), then the report is built once. A default,
    # not an Annotated alias: annotations are strings here, and a local alias would not resolve.
    found_report = Depends(api_report)

    @api.get("/reports", summary="Report rows per day, queue or agent (JSON)")
    async def reports_json(user: Supervisor, found: FoundReport = found_report) -> JSONResponse:
        """Offered, answered, abandoned, service level, ASA, AHT, deflection and CSAT; ratios 0-1."""
        report, params, names = found
        return JSONResponse(report_json(report, params, names))

    @api.get("/reports.csv", summary="The same report as CSV", response_class=Response)
    async def reports_csv(user: Supervisor, found: FoundReport = found_report) -> Response:
        """One line per group and a total line; percentages 0-100, times in seconds."""
        report, params, names = found
        name = f"report-{params.group.value}-{params.first.isoformat()}-{params.last.isoformat()}.csv"
        return Response(
            report_csv(report, names),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    return [router, api]


def _render(request: Request, shell: WebShell, context: dict[str, Any], status: int) -> Response:
    values = {"error": None, "queues": [], **context}
    return shell.render(request, "reports.html", values, status_code=status)
