"""Admin page for the declared skills and regions: add one, delete one nobody uses."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter
from fastapi import Path as PathParam
from starlette.requests import Request
from starlette.responses import Response

from acd.config_edit import NameKind
from acd.errors import AcdError
from acd.model import NAME_RE
from switchboard.web.admin.common import AdminServices, done, read_form, refusal
from switchboard.web.admin.forms import text

Name = Annotated[str, PathParam(pattern=NAME_RE.pattern)]
NAME_KINDS: dict[str, NameKind] = {"skills": "skills", "regions": "regions"}
KIND_WORD = {"skills": "skill", "regions": "region"}


def add_name_pages(router: APIRouter, services: AdminServices) -> None:
    """``/admin/skills`` (skills and regions), ``/admin/{skills,regions}`` and their ``/{name}/delete``."""
    s = services

    async def names_page(
        request: Request, *, error: str | None = None, typed: dict[str, str] | None = None, status: int = 200
    ) -> Response:
        config = await s.config()
        used_skills = {k.skill for a in config.agents.values() for k in a.skills} | {
            q.skill for q in config.queues.values()
        }
        used_regions = {r for a in config.agents.values() for r in a.regions}
        values: dict[str, Any] = {
            "skills": sorted(config.skills),
            "regions": sorted(config.regions),
            "used": {"skills": used_skills, "regions": used_regions},
            "typed": {"skills": "", "regions": "", **(typed or {})},
        }
        return s.render_form(request, "admin/skills.html", values, error=error, status=status)

    @router.get("/skills")
    @s.page
    async def skills_page(request: Request) -> Response:
        """Declared skills and regions: add one, delete one nobody uses."""
        return await names_page(request)

    def name_pages(kind: NameKind) -> None:
        word = KIND_WORD[kind]

        @router.post(f"/{kind}", name=f"admin_add_{word}")
        @s.page
        async def add_name(request: Request) -> Response:
            name = text(await read_form(request), "name", 64)
            if not NAME_RE.fullmatch(name):
                error = (
                    f"A {word} name is lower-case letters, digits and '_.-', up to 64, "
                    "starting with a letter or digit."
                )
                return await names_page(request, error=error, typed={kind: name}, status=400)
            try:
                await s.editor.add_name(kind, name)
            except AcdError as exc:
                message, status = refusal(exc)
                return await names_page(request, error=message, typed={kind: name}, status=status)
            return done("/admin/skills", f"{word}-added")

        @router.post(f"/{kind}/{{name}}/delete", name=f"admin_delete_{word}")
        @s.page
        async def delete_name(request: Request, name: Name) -> Response:
            try:
                await s.editor.delete_name(kind, name)
            except AcdError as exc:
                message, status = refusal(exc)
                return await names_page(request, error=message, status=status)
            return done("/admin/skills", f"{word}-deleted")

    for kind in NAME_KINDS.values():
        name_pages(kind)
