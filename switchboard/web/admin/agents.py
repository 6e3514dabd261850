"""Admin pages for agents (list, add, edit, delete) and for the skills and regions they use."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter
from fastapi import Path as PathParam
from starlette.requests import Request
from starlette.responses import Response

from acd.config_edit import NameKind
from acd.errors import AcdError, StoreError
from acd.model import AGENT_ID_RE, NAME_RE, AcdConfig
from switchboard.web.admin.common import (
    UNAVAILABLE,
    AdminServices,
    done,
    flash,
    read_form,
    refusal,
)
from switchboard.web.admin.forms import AgentForm, FormError, text, time_zones

AgentId = Annotated[str, PathParam(pattern=AGENT_ID_RE.pattern)]
Name = Annotated[str, PathParam(pattern=NAME_RE.pattern)]
NAME_KINDS: dict[str, NameKind] = {"skills": "skills", "regions": "regions"}
KIND_WORD = {"skills": "skill", "regions": "region"}


def add_agent_pages(router: APIRouter, services: AdminServices) -> None:
    """``/admin/agents`` (list, add, edit, delete) and ``/admin/skills`` (skills and regions)."""
    s = services

    def agent_form(
        request: Request,
        config: AcdConfig,
        form: AgentForm,
        *,
        new: bool,
        error: str | None = None,
        status: int = 200,
    ) -> Response:
        values: dict[str, Any] = {
            "form": form,
            "new": new,
            "skills": sorted(config.skills),
            "regions": sorted(config.regions),
            "others": [config.agents[a] for a in sorted(config.agents) if a != form.id],
            "time_zones": time_zones(),
            "flash": None if error else flash(request),
            "error": error,
        }
        return s.render(request, "admin/agent.html", values, status=status)

    def unavailable(request: Request) -> Response:
        return s.error_page(request, "Configuration unavailable", UNAVAILABLE, 503)

    def no_agent(request: Request) -> Response:
        return s.error_page(request, "No such agent", "That agent does not exist.", 404)

    @router.get("/agents")
    async def agents_page(request: Request) -> Response:
        """Every agent with skills, regions, languages, time zone and substitutes."""
        try:
            config = await s.config()
        except StoreError:
            return unavailable(request)
        values = {"agents": [config.agents[a] for a in sorted(config.agents)], "flash": flash(request)}
        return s.render(request, "admin/agents.html", values)

    @router.get("/agents/new")
    async def new_agent_page(request: Request) -> Response:
        """An empty agent form."""
        try:
            config = await s.config()
        except StoreError:
            return unavailable(request)
        return agent_form(request, config, AgentForm(), new=True)

    @router.post("/agents")
    async def add_agent(request: Request) -> Response:
        """Add the agent the form describes; on a refusal the form comes back as typed."""
        form = AgentForm.read(await read_form(request))
        try:
            await s.editor.add_agent(form.check_id(), form.fields())
        except (FormError, AcdError) as exc:
            return await refused(request, form, exc, new=True)
        return done("/admin/agents", "agent-added")

    @router.get("/agents/{agent_id}/edit")
    async def edit_agent_page(request: Request, agent_id: AgentId) -> Response:
        """The agent's form, filled in."""
        try:
            config = await s.config()
        except StoreError:
            return unavailable(request)
        agent = config.agents.get(agent_id)
        if agent is None:
            return no_agent(request)
        return agent_form(request, config, AgentForm.of(agent), new=False)

    @router.post("/agents/{agent_id}/edit")
    async def save_agent(request: Request, agent_id: AgentId) -> Response:
        """Replace the agent's configuration with the form's (its live state is kept)."""
        form = AgentForm.read(await read_form(request))
        form.id = agent_id
        try:
            await s.editor.replace_agent(agent_id, form.fields())
        except (FormError, AcdError) as exc:
            return await refused(request, form, exc, new=False)
        return done(f"/admin/agents/{agent_id}/edit", "agent-saved")

    @router.post("/agents/{agent_id}/delete")
    async def delete_agent(request: Request, agent_id: AgentId) -> Response:
        """Delete the agent (and their absences) once the box is ticked."""
        posted = await read_form(request)
        try:
            config = await s.config()
        except StoreError:
            return unavailable(request)
        agent = config.agents.get(agent_id)
        if agent is None:
            return no_agent(request)
        form = AgentForm.of(agent)
        if text(posted, "confirm", 5) != "yes":
            return agent_form(
                request, config, form, new=False, error="Tick the box to confirm the deletion.", status=400
            )
        try:
            await s.editor.delete_agent(agent_id)
        except AcdError as exc:
            return await refused(request, form, exc, new=False)
        return done("/admin/agents", "agent-deleted")

    async def refused(request: Request, form: AgentForm, exc: FormError | AcdError, *, new: bool) -> Response:
        message, status = refusal(exc)
        try:
            config = await s.config()
        except StoreError:
            return unavailable(request)
        if not new and form.id not in config.agents:
            return no_agent(request)
        return agent_form(request, config, form, new=new, error=message, status=status)

    # ---- skills and regions ----

    async def names_page(
        request: Request, *, error: str | None = None, typed: dict[str, str] | None = None, status: int = 200
    ) -> Response:
        try:
            config = await s.config()
        except StoreError:
            return unavailable(request)
        used_skills = {k.skill for a in config.agents.values() for k in a.skills} | {
            q.skill for q in config.queues.values()
        }
        used_regions = {r for a in config.agents.values() for r in a.regions}
        values: dict[str, Any] = {
            "skills": sorted(config.skills),
            "regions": sorted(config.regions),
            "used": {"skills": used_skills, "regions": used_regions},
            "typed": {"skills": "", "regions": "", **(typed or {})},
            "flash": None if error else flash(request),
            "error": error,
        }
        return s.render(request, "admin/skills.html", values, status=status)

    @router.get("/skills")
    async def skills_page(request: Request) -> Response:
        """Declared skills and regions: add one, delete one nobody uses."""
        return await names_page(request)

    def name_pages(kind: NameKind) -> None:
        word = KIND_WORD[kind]

        @router.post(f"/{kind}", name=f"admin_add_{word}")
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
        async def delete_name(request: Request, name: Name) -> Response:
            try:
                await s.editor.delete_name(kind, name)
            except AcdError as exc:
                message, status = refusal(exc)
                return await names_page(request, error=message, status=status)
            return done("/admin/skills", f"{word}-deleted")

    for kind in NAME_KINDS.values():
        name_pages(kind)
