"""Reports for supervisors (per day, queue and agent; charts, table, CSV, JSON) for the composition root.

routers = build_reports(ctl, shell)  # before the app is created with that shell
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter

from switchboard.users.model import Role
from switchboard.web.reports.queries import ReportQueries
from switchboard.web.reports.routes import Reports, make_report_routers
from switchboard.web.shell import WebShell

TEMPLATES = Path(__file__).resolve().parent / "templates"


def build_reports(ctl: Any, shell: WebShell) -> list[APIRouter]:
    """The reports' routers; adds their templates and the "Reports" link for supervisors to ``shell``."""
    shell.add_template_dir(TEMPLATES)
    shell.add_nav("Reports", "/reports", Role.SUPERVISOR, order=15)
    settings = ctl.settings.acd
    reports = Reports(
        ctl.acd,
        ReportQueries(ctl.sessions),
        ctl.clock,
        default_zone=settings.metrics_timezone,
        short_abandon_seconds=settings.short_abandon_seconds,
    )
    return make_report_routers(reports, shell)
