"""Admin page for absences: current and upcoming ones, plan one (times in the viewer's zone), cancel one."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter
from fastapi import Path as PathParam
from starlette.requests import Request
from starlette.responses import Response

from acd.errors import AcdError
from acd.model import AbsenceKind
from switchboard.web.admin.common import AdminServices, done, read_form, refusal
from switchboard.web.admin.forms import AbsenceForm, FormError, text, zone_named
from switchboard.web.shell import viewer_zone

AbsenceId = Annotated[str, PathParam(min_length=1, max_length=64)]
KINDS = tuple(k.value for k in AbsenceKind)


def add_absence_pages(router: APIRouter, services: AdminServices) -> None:
    """``/admin/absences`` and its forms."""
    s = services

    async def page(
        request: Request,
        *,
        form: AbsenceForm | None = None,
        zone_name: str | None = None,
        error: str | None = None,
        status: int = 200,
    ) -> Response:
        config = await s.config()
        now = s.clock.now()
        shown = sorted((a for a in config.absences if a.ends_at > now), key=lambda a: (a.starts_at, a.id))
        values: dict[str, Any] = {
            "absences": [(a, config.agents.get(a.agent_id), a.covers(now)) for a in shown],
            "agents": [config.agents[a] for a in sorted(config.agents)],
            "kinds": KINDS,
            "form": form or AbsenceForm(),
            "zone": zone_name or viewer_zone(request).key,
        }
        return s.render_form(request, "admin/absences.html", values, error=error, status=status)

    @router.get("/absences")
    @s.page
    async def absences_page(request: Request) -> Response:
        """Absences now and to come, by start; past ones are not shown."""
        return await page(request)

    @router.post("/absences")
    @s.page
    async def add_absence(request: Request) -> Response:
        """Plan an absence; From and Until are read in the zone the page showed them in."""
        posted = await read_form(request)
        form = AbsenceForm.read(posted)
        zone = zone_named(text(posted, "tz", 64)) or viewer_zone(request)
        try:
            await s.editor.add_absence(form.fields(zone))
        except (FormError, AcdError) as exc:
            message, status = refusal(exc)
            return await page(request, form=form, zone_name=zone.key, error=message, status=status)
        return done("/admin/absences", "absence-added")

    @router.post("/absences/{absence_id}/delete")
    @s.page
    async def delete_absence(request: Request, absence_id: AbsenceId) -> Response:
        """Cancel a planned absence."""
        try:
            await s.editor.delete_absence(absence_id)
        except AcdError as exc:
            message, status = refusal(exc)
            return await page(request, error=message, status=status)
        return done("/admin/absences", "absence-deleted")
