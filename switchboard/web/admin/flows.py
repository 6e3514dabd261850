"""Admin page for call flows: each file's status and problems, check a file or a draft, reload now."""

from __future__ import annotations

import asyncio
import re
from typing import Annotated, Any

from fastapi import APIRouter
from fastapi import Path as PathParam
from starlette.requests import Request
from starlette.responses import Response

from ivr.api import FlowFileOut, FlowProblemOut, ReloadOut, reload_now
from ivr.flows.registry import UnknownFlowFile
from ivr.flows.types import NAME_PATTERN
from switchboard.web.admin.common import AdminServices, PageError, read_form
from switchboard.web.admin.forms import text

FlowName = Annotated[str, PathParam(pattern=NAME_PATTERN)]


def add_flow_pages(router: APIRouter, services: AdminServices) -> None:
    """``/admin/flows``: the list, ``/reload``, ``/{name}/validate`` and ``/validate`` (a draft)."""
    s = services
    flows = services.flows

    def page(
        request: Request,
        *,
        checked: dict[str, Any] | None = None,
        report: ReloadOut | None = None,
        draft: dict[str, str] | None = None,
        error: str | None = None,
        status: int = 200,
    ) -> Response:
        values: dict[str, Any] = {
            "files": report.flows if report else [FlowFileOut.of(f) for f in flows.files()],
            "reloaded_at": flows.reloaded_at,
            "checked": checked,
            "report": report,
            "draft": {"name": "", "text": "", **(draft or {})},
            "max_bytes": flows.max_bytes,
            "error": error,
        }
        return s.render(request, "admin/flows.html", values, status=status)

    def result(name: str, problems: list[Any], what: str) -> dict[str, Any]:
        return {"name": name, "what": what, "problems": [FlowProblemOut.of(p) for p in problems]}

    @router.get("/flows")
    async def flows_page(request: Request) -> Response:
        """Every flow file: loaded or failed (and whether an older version still runs), its problems."""
        return page(request)

    @router.post("/flows/reload")
    async def reload_flows(request: Request) -> Response:
        """Re-read the directory now and show what changed; a bad file keeps the good version running."""
        report, files = await reload_now(flows)
        return page(request, report=ReloadOut.of(report, files))

    @router.post("/flows/validate")
    async def validate_draft(request: Request) -> Response:
        """Check pasted flow text as flow ``name``, without saving or loading anything."""
        posted = await read_form(request)
        name = text(posted, "name", 64)
        raw = posted.get("text")
        body = raw if isinstance(raw, str) else ""
        draft = {"name": name, "text": body[: flows.max_bytes + 1]}
        if not re.fullmatch(NAME_PATTERN, name):
            error = "Flow name: letters, digits, '-' and '_', up to 64 (the file name without .yaml)."
            return page(request, draft=draft, error=error, status=400)
        data = body.replace("\r\n", "\n").encode("utf-8")
        if len(data) > flows.max_bytes:
            error = f"The flow text is larger than {flows.max_bytes} bytes."
            return page(request, draft=draft, error=error, status=413)
        problems = await asyncio.to_thread(flows.check, name, data)
        return page(request, checked=result(name, problems, "draft"), draft=draft)

    @router.post("/flows/{name}/validate")
    @s.page
    async def validate_file(request: Request, name: FlowName) -> Response:
        """Check one flow file as it is on disk now (for example before a reload)."""
        try:
            problems = await asyncio.to_thread(flows.check, name)
        except UnknownFlowFile:
            raise PageError("No such flow", "There is no flow file of that name.", 404) from None
        return page(request, checked=result(name, problems, "file"))
