"""The admin pages under ``/admin``: agents, skills and regions, queues, absences, call flows (admins only).

    routers = build_admin(shell, editor, flows, clock)   # also adds the templates and the navigation

Plain HTML forms: POST, then a redirect with a flash key; a refused form comes back with the error and
what was typed. Edits go through the same ConfigEditor as the JSON API, so both obey the same rules.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException
from fastapi import Path as PathParam
from fastapi.responses import FileResponse

from acd.config_edit import ConfigEditor
from ivr.flows.registry import FlowRegistry
from switchboard.clock import Clock
from switchboard.users.model import Role
from switchboard.web.admin.absences import add_absence_pages
from switchboard.web.admin.agents import add_agent_pages
from switchboard.web.admin.common import STATIC_DIR, TEMPLATES, AdminServices
from switchboard.web.admin.flows import add_flow_pages
from switchboard.web.admin.forms import plain_number
from switchboard.web.admin.queues import add_queue_pages
from switchboard.web.admin.skills import add_name_pages
from switchboard.web.auth import role_router
from switchboard.web.shell import WebShell

STATIC_FILES = {p.name: p for p in STATIC_DIR.iterdir() if p.is_file()} if STATIC_DIR.is_dir() else {}
MEDIA_TYPES = {".css": "text/css", ".js": "text/javascript"}


def build_admin(shell: WebShell, editor: ConfigEditor, flows: FlowRegistry, clock: Clock) -> list[APIRouter]:
    """The admin pages' router; registers their templates and navigation entries on ``shell``."""
    shell.add_template_dir(TEMPLATES)
    shell.env.filters.setdefault("plain_number", plain_number)
    shell.add_nav("Agents", "/admin/agents", Role.ADMIN, order=800)
    shell.add_nav("Queues", "/admin/queues", Role.ADMIN, order=810)
    shell.add_nav("Absences", "/admin/absences", Role.ADMIN, order=820)
    shell.add_nav("Flows", "/admin/flows", Role.ADMIN, order=830)
    services = AdminServices(shell, editor, flows, clock)
    router = role_router(Role.ADMIN, prefix="/admin", include_in_schema=False)

    @router.get("/static/{name}")
    async def admin_asset(name: Annotated[str, PathParam(max_length=64)]) -> FileResponse:
        """The admin pages' stylesheet (an allow-list: never a path from the request)."""
        path = STATIC_FILES.get(name)
        if path is None:
            raise HTTPException(404, "no such file")
        return FileResponse(
            path,
            media_type=MEDIA_TYPES.get(path.suffix, "application/octet-stream"),
            headers={"cache-control": "private, max-age=3600"},
        )

    add_agent_pages(router, services)
    add_name_pages(router, services)
    add_queue_pages(router, services)
    add_absence_pages(router, services)
    add_flow_pages(router, services)
    return [router]
