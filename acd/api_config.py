"""ACD configuration routes: supervisors read it, admins create, replace and delete.

Agents, skills, regions, queues and absences. Every write goes through acd/config_edit.py's
ConfigEditor (shared with the admin pages): it rebuilds the whole configuration (so every reference must
resolve), saves it to SQL in one transaction, then publishes it to Redis so every controller routes
with it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import Response

from acd.api_common import (
    ERRORS,
    TAG_ADMIN,
    AbsencePath,
    AgentPath,
    NamePath,
    acd_errors,
)
from acd.api_models import (
    AbsenceFields,
    AbsenceOut,
    AgentFields,
    AgentIn,
    AgentOut,
    NameIn,
    QueueFields,
    QueueIn,
    QueueOut,
)
from acd.config_edit import ConfigEditor, NameKind
from acd.errors import UnknownAgentError
from acd.model import AGENT_ID_RE
from acd.repository import AcdRepository
from acd.service import AcdService
from switchboard.users.model import Role


def make_config_routers(
    service: AcdService,
    repository: AcdRepository | None,
    *,
    require_role: Callable[..., Any],
    editor: ConfigEditor | None = None,
) -> list[APIRouter]:
    """Configuration reads (supervisor) under ``/api/acd/config`` and writes (admin) beside them.

    ``editor``: the one the admin pages use too, so edits from both are serialised together.
    """
    supervisor_router = APIRouter(
        prefix="/api/acd",
        tags=[TAG_ADMIN],
        dependencies=[Depends(require_role(Role.SUPERVISOR))],
        responses=ERRORS,
    )
    admin_router = APIRouter(
        prefix="/api/acd/config",
        tags=[TAG_ADMIN],
        dependencies=[Depends(require_role(Role.ADMIN))],
        responses=ERRORS,
    )
    edits = editor or ConfigEditor(service, repository)
    current = edits.current

    # ---- configuration: reads (supervisors) ----

    @supervisor_router.get("/config/agents", summary="Configured agents")
    async def list_agents() -> list[AgentOut]:
        """Every configured agent (skills with proficiency, regions, languages, substitutes)."""
        with acd_errors():
            config = await current()
        return [AgentOut.of(config.agents[a]) for a in sorted(config.agents)]

    @supervisor_router.get("/config/agents/{agent_id}", summary="One configured agent", responses={404: {}})
    async def get_agent(agent_id: AgentPath) -> AgentOut:
        """One agent's configuration."""
        with acd_errors():
            config = await current()
            if agent_id not in config.agents:
                raise UnknownAgentError(f"unknown agent {agent_id!r}")
            return AgentOut.of(config.agents[agent_id])

    @supervisor_router.get("/config/queues", summary="Configured queues")
    async def list_queues() -> list[QueueOut]:
        """Every configured queue with its target, timings, strategy and relaxation steps."""
        with acd_errors():
            config = await current()
        return [QueueOut.of(config.queues[q]) for q in sorted(config.queues)]

    @supervisor_router.get("/config/queues/{name}", summary="One configured queue", responses={404: {}})
    async def get_queue(name: NamePath) -> QueueOut:
        """One queue's configuration."""
        with acd_errors():
            config = await current()
        if name not in config.queues:
            raise HTTPException(404, f"unknown queue {name!r}")
        return QueueOut.of(config.queues[name])

    @supervisor_router.get("/config/skills", summary="Declared skills")
    async def list_skills() -> list[str]:
        """Skill names agents and queues may use."""
        with acd_errors():
            return sorted((await current()).skills)

    @supervisor_router.get("/config/regions", summary="Declared regions")
    async def list_regions() -> list[str]:
        """Region names agents may serve."""
        with acd_errors():
            return sorted((await current()).regions)

    @supervisor_router.get("/config/absences", summary="Planned absences")
    async def list_absences(
        agent_id: Annotated[str | None, Query(pattern=AGENT_ID_RE.pattern)] = None,
    ) -> list[AbsenceOut]:
        """Planned absences (sick, leave, training), optionally of one agent, by start."""
        with acd_errors():
            config = await current()
        chosen = [a for a in config.absences if agent_id is None or a.agent_id == agent_id]
        return [AbsenceOut.of(a) for a in sorted(chosen, key=lambda a: (a.starts_at, a.id))]

    # ---- configuration: writes (admins), through the editor the admin pages share ----

    @admin_router.post("/agents", status_code=201, summary="Add an agent", responses={409: {}})
    async def create_agent(body: AgentIn) -> AgentOut:
        """Add an agent. Skills and regions must be declared first; substitutes must be agents."""
        with acd_errors():
            return AgentOut.of(await edits.add_agent(body.id, body))

    @admin_router.put("/agents/{agent_id}", summary="Replace an agent", responses={404: {}})
    async def replace_agent(agent_id: AgentPath, body: AgentFields) -> AgentOut:
        """Replace an existing agent's configuration (its live state is kept)."""
        with acd_errors():
            return AgentOut.of(await edits.replace_agent(agent_id, body))

    @admin_router.delete(
        "/agents/{agent_id}", status_code=204, summary="Delete an agent", responses={404: {}}
    )
    async def delete_agent(agent_id: AgentPath) -> Response:
        """Delete an agent and their absences; refused (409) while another agent names them as substitute."""
        with acd_errors():
            await edits.delete_agent(agent_id)
        return Response(status_code=204)

    def name_routes(kind: NameKind) -> None:
        @admin_router.post(
            f"/{kind}",
            status_code=201,
            name=f"add_{kind}",
            summary=f"Declare a {kind[:-1]}",
            responses={409: {}},
        )
        async def add(body: NameIn) -> list[str]:
            """Declare a name agents and queues may then use; returns every declared name."""
            with acd_errors():
                return sorted(await edits.add_name(kind, body.name))

        @admin_router.delete(
            f"/{kind}/{{name}}",
            status_code=204,
            name=f"delete_{kind}",
            summary=f"Delete a {kind[:-1]}",
            responses={404: {}, 409: {}},
        )
        async def remove(name: NamePath) -> Response:
            """Delete a name; refused (409) while an agent or queue still uses it."""
            with acd_errors():
                await edits.delete_name(kind, name)
            return Response(status_code=204)

    name_routes("skills")
    name_routes("regions")

    @admin_router.post("/queues", status_code=201, summary="Add a queue", responses={409: {}})
    async def create_queue(body: QueueIn) -> QueueOut:
        """Add a queue for a declared skill (overflow steps must name existing queues)."""
        with acd_errors():
            return QueueOut.of(await edits.add_queue(body.name, body))

    @admin_router.put("/queues/{name}", summary="Replace a queue", responses={404: {}})
    async def replace_queue(name: NamePath, body: QueueFields) -> QueueOut:
        """Replace an existing queue's configuration (calls waiting in it keep their place)."""
        with acd_errors():
            return QueueOut.of(await edits.replace_queue(name, body))

    @admin_router.delete(
        "/queues/{name}", status_code=204, summary="Delete a queue", responses={404: {}, 409: {}}
    )
    async def delete_queue(name: NamePath) -> Response:
        """Delete a queue; refused (409) while calls wait in it or another queue overflows into it."""
        with acd_errors():
            await edits.delete_queue(name)
        return Response(status_code=204)

    @admin_router.post("/absences", status_code=201, summary="Plan an absence")
    async def create_absence(body: AbsenceFields) -> AbsenceOut:
        """Plan an absence (sick, leave, training) of an agent; ``ends_at`` must be after ``starts_at``."""
        with acd_errors():
            return AbsenceOut.of(await edits.add_absence(body))

    @admin_router.put("/absences/{absence_id}", summary="Replace an absence", responses={404: {}})
    async def replace_absence(absence_id: AbsencePath, body: AbsenceFields) -> AbsenceOut:
        """Replace a planned absence."""
        with acd_errors():
            return AbsenceOut.of(await edits.replace_absence(absence_id, body))

    @admin_router.delete(
        "/absences/{absence_id}", status_code=204, summary="Cancel an absence", responses={404: {}}
    )
    async def delete_absence(absence_id: AbsencePath) -> Response:
        """Cancel a planned absence."""
        with acd_errors():
            await edits.delete_absence(absence_id)
        return Response(status_code=204)

    return [supervisor_router, admin_router]
