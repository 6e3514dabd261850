"""The supervisor and agent pages (wallboard, agent desk, call detail, recordings) for the composition root.

pages = build_pages(ctl)
app = create_web_app(settings, users, routers=[*routers, *pages.routers], shell=pages.shell, ...)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import APIRouter

from acd.metrics_io import AcdMetrics
from switchboard.users.model import Role
from switchboard.web.auth import require_role
from switchboard.web.pages.live import Live
from switchboard.web.pages.queries import PageQueries
from switchboard.web.pages.routes import make_page_routers
from switchboard.web.shell import WebShell

TEMPLATES = Path(__file__).resolve().parent / "templates"


@dataclass
class Pages:
    """The pages' routers and the shell (navigation, landing pages, templates) they render with."""

    routers: list[APIRouter]
    shell: WebShell
    live: Live


def build_pages(ctl: Any, shell: WebShell | None = None) -> Pages:
    """Routers for the pages plus the other features' routers that are wired (recordings, surveys)."""
    shell = shell or WebShell()
    shell.add_template_dir(TEMPLATES)
    shell.add_nav("Wallboard", "/wallboard", Role.SUPERVISOR, order=10)
    shell.add_nav("Desk", "/desk", Role.AGENT, order=20)
    shell.add_nav("Recordings", "/recordings-search", Role.AGENT, order=30)
    shell.set_landing(Role.AGENT, "/desk")
    shell.set_landing(Role.SUPERVISOR, "/wallboard")
    metrics = ctl.acd_metrics or AcdMetrics(ctl.acd, ctl.sessions, ctl.clock)
    live = Live(ctl.acd, metrics, PageQueries(ctl.sessions), ctl.clock, getattr(ctl, "alerts", None))
    recordings = getattr(ctl, "recordings", None)
    surveys = getattr(ctl, "surveys", None)
    routers = make_page_routers(live, shell, recordings.service if recordings is not None else None)
    if recordings is not None:
        routers.append(recordings.router(require_role))
    if surveys is not None:
        from surveys.api import make_router as make_surveys_router

        routers.append(
            make_surveys_router(surveys, ctl.settings.surveys, supervisor=require_role(Role.SUPERVISOR))
        )
    return Pages(routers, shell, live)
