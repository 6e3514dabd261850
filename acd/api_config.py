"""ACD configuration routes: supervisors read it, admins create, replace and delete.

Agents, skills, regions, queues and absences. Every write rebuilds the whole configuration (so every
reference must resolve), saves it to SQL in one transaction, then publishes it to Redis so every
controller routes with it. Edits in one process are serialised; the transaction keeps the record whole
even when two controllers edit at once (the later save wins).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import Response

from acd.api_common import (
    ERRORS,
    TAG_ADMIN,
    AbsencePath,
    AgentPath,
    ConfigConflict,
    NamePath,
    acd_errors,
    check_known,
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
from acd.errors import AcdValidationError, UnknownAgentError
from acd.metrics_io import published_config
from acd.model import AGENT_ID_RE, Absence, AcdConfig, Agent, AgentSkill, Queue, RelaxationStep
from acd.repository import AcdRepository
from acd.service import AcdService
from switchboard.ids import new_id
from switchboard.users.model import Role


def make_config_routers(
    service: AcdService,
    repository: AcdRepository | None,
    *,
    require_role: Callable[..., Any],
) -> list[APIRouter]:
    """Configuration reads (supervisor) under ``/api/acd/config`` and writes (admin) beside them."""
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
    edit_lock = asyncio.Lock()

    # ---- configuration: reads (supervisors) ----

    async def current() -> AcdConfig:
        if repository is not None:
            return await repository.load_config()
        return await published_config(service)

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

    # ---- configuration: writes (admins) ----

    async def edit(change: Callable[[AcdConfig], AcdConfig]) -> AcdConfig:
        """Apply ``change`` to the stored configuration, save it, publish it; one edit at a time here."""
        if repository is None:
            raise HTTPException(503, "this controller has no database to store the configuration in")
        with acd_errors():
            async with edit_lock:
                new = await repository.edit_config(change)
                await service.load()
        return new

    def rebuilt(config: AcdConfig, *, conflict: bool = False, **changes: Any) -> AcdConfig:
        try:
            return replace(config, **changes)
        except AcdValidationError as exc:
            if conflict:
                raise ConfigConflict(f"refused, the configuration would become inconsistent: {exc}") from None
            raise

    def agent_from(agent_id: str, body: AgentFields, config: AcdConfig) -> Agent:
        check_known(body.skills, config.skills, "skill", "skills")
        check_known(body.regions, config.regions, "region", "regions")
        return Agent(
            id=agent_id,
            name=body.name,
            endpoint=body.endpoint,
            skills=tuple(AgentSkill(k, v) for k, v in body.skills.items()),
            regions=frozenset(body.regions),
            languages=frozenset(body.languages),
            timezone=body.timezone,
            substitutes=tuple(body.substitutes),
        )

    @admin_router.post("/agents", status_code=201, summary="Add an agent", responses={409: {}})
    async def create_agent(body: AgentIn) -> AgentOut:
        """Add an agent. Skills and regions must be declared first; substitutes must be agents."""

        def change(config: AcdConfig) -> AcdConfig:
            if body.id in config.agents:
                raise ConfigConflict(
                    f"agent {body.id!r} already exists; PUT /api/acd/config/agents/{body.id}"
                )
            return rebuilt(config, agents={**config.agents, body.id: agent_from(body.id, body, config)})

        return AgentOut.of((await edit(change)).agents[body.id])

    @admin_router.put("/agents/{agent_id}", summary="Replace an agent", responses={404: {}})
    async def replace_agent(agent_id: AgentPath, body: AgentFields) -> AgentOut:
        """Replace an existing agent's configuration (its live state is kept)."""

        def change(config: AcdConfig) -> AcdConfig:
            if agent_id not in config.agents:
                raise UnknownAgentError(f"unknown agent {agent_id!r}; POST /api/acd/config/agents adds one")
            return rebuilt(config, agents={**config.agents, agent_id: agent_from(agent_id, body, config)})

        return AgentOut.of((await edit(change)).agents[agent_id])

    @admin_router.delete(
        "/agents/{agent_id}", status_code=204, summary="Delete an agent", responses={404: {}}
    )
    async def delete_agent(agent_id: AgentPath) -> Response:
        """Delete an agent and their absences; refused (409) while another agent names them as substitute."""

        def change(config: AcdConfig) -> AcdConfig:
            if agent_id not in config.agents:
                raise UnknownAgentError(f"unknown agent {agent_id!r}")
            return rebuilt(
                config,
                conflict=True,
                agents={k: v for k, v in config.agents.items() if k != agent_id},
                absences=tuple(a for a in config.absences if a.agent_id != agent_id),
            )

        await edit(change)
        return Response(status_code=204)

    def name_routes(kind: str, field: str) -> None:
        @admin_router.post(
            f"/{kind}",
            status_code=201,
            name=f"add_{kind}",
            summary=f"Declare a {kind[:-1]}",
            responses={409: {}},
        )
        async def add(body: NameIn) -> list[str]:
            """Declare a name agents and queues may then use; returns every declared name."""

            def change(config: AcdConfig) -> AcdConfig:
                names: frozenset[str] = getattr(config, field)
                if body.name in names:
                    raise ConfigConflict(f"{kind[:-1]} {body.name!r} already exists")
                return rebuilt(config, **{field: names | {body.name}})

            return sorted(getattr(await edit(change), field))

        @admin_router.delete(
            f"/{kind}/{{name}}",
            status_code=204,
            name=f"delete_{kind}",
            summary=f"Delete a {kind[:-1]}",
            responses={404: {}, 409: {}},
        )
        async def remove(name: NamePath) -> Response:
            """Delete a name; refused (409) while an agent or queue still uses it."""

            def change(config: AcdConfig) -> AcdConfig:
                names: frozenset[str] = getattr(config, field)
                if name not in names:
                    raise HTTPException(404, f"unknown {kind[:-1]} {name!r}")
                return rebuilt(config, conflict=True, **{field: names - {name}})

            await edit(change)
            return Response(status_code=204)

    name_routes("skills", "skills")
    name_routes("regions", "regions")

    def queue_from(name: str, body: QueueFields, config: AcdConfig) -> Queue:
        check_known([body.skill], config.skills, "skill", "skills")
        return Queue(
            name=name,
            skill=body.skill,
            service_level_percent=body.service_level_percent,
            service_level_seconds=body.service_level_seconds,
            wrap_up_seconds=body.wrap_up_seconds,
            ring_timeout_seconds=body.ring_timeout_seconds,
            max_attempts=body.max_attempts,
            strategy=body.strategy,  # type: ignore[arg-type]
            min_proficiency=body.min_proficiency,
            announce_every_seconds=body.announce_every_seconds,
            steps=tuple(RelaxationStep(s.after_seconds, s.action, s.value) for s in body.steps),  # type: ignore[arg-type]
        )

    @admin_router.post("/queues", status_code=201, summary="Add a queue", responses={409: {}})
    async def create_queue(body: QueueIn) -> QueueOut:
        """Add a queue for a declared skill (overflow steps must name existing queues)."""

        def change(config: AcdConfig) -> AcdConfig:
            if body.name in config.queues:
                raise ConfigConflict(
                    f"queue {body.name!r} already exists; PUT /api/acd/config/queues/{body.name}"
                )
            return rebuilt(config, queues={**config.queues, body.name: queue_from(body.name, body, config)})

        return QueueOut.of((await edit(change)).queues[body.name])

    @admin_router.put("/queues/{name}", summary="Replace a queue", responses={404: {}})
    async def replace_queue(name: NamePath, body: QueueFields) -> QueueOut:
        """Replace an existing queue's configuration (calls waiting in it keep their place)."""

        def change(config: AcdConfig) -> AcdConfig:
            if name not in config.queues:
                raise HTTPException(404, f"unknown queue {name!r}; POST /api/acd/config/queues adds one")
            return rebuilt(config, queues={**config.queues, name: queue_from(name, body, config)})

        return QueueOut.of((await edit(change)).queues[name])

    @admin_router.delete(
        "/queues/{name}", status_code=204, summary="Delete a queue", responses={404: {}, 409: {}}
    )
    async def delete_queue(name: NamePath) -> Response:
        """Delete a queue; refused (409) while calls wait in it or another queue overflows into it."""

        def change(config: AcdConfig) -> AcdConfig:
            if name not in config.queues:
                raise HTTPException(404, f"unknown queue {name!r}")
            return rebuilt(
                config, conflict=True, queues={k: v for k, v in config.queues.items() if k != name}
            )

        with acd_errors():
            if any(c.queue == name for c in await service.store.all_calls()):
                raise ConfigConflict(f"calls are still in queue {name!r}; delete it once it is empty")
        await edit(change)
        return Response(status_code=204)

    def absence_from(absence_id: str, body: AbsenceFields, config: AcdConfig) -> Absence:
        if body.agent_id not in config.agents:
            raise AcdValidationError(f"the absence names unknown agent {body.agent_id!r}")
        return Absence(absence_id, body.agent_id, body.kind, body.starts_at, body.ends_at, body.note)  # type: ignore[arg-type]

    @admin_router.post("/absences", status_code=201, summary="Plan an absence")
    async def create_absence(body: AbsenceFields) -> AbsenceOut:
        """Plan an absence (sick, leave, training) of an agent; ``ends_at`` must be after ``starts_at``."""
        absence_id = new_id()

        def change(config: AcdConfig) -> AcdConfig:
            return rebuilt(config, absences=(*config.absences, absence_from(absence_id, body, config)))

        new = await edit(change)
        return AbsenceOut.of(next(a for a in new.absences if a.id == absence_id))

    @admin_router.put("/absences/{absence_id}", summary="Replace an absence", responses={404: {}})
    async def replace_absence(absence_id: AbsencePath, body: AbsenceFields) -> AbsenceOut:
        """Replace a planned absence."""

        def change(config: AcdConfig) -> AcdConfig:
            if not any(a.id == absence_id for a in config.absences):
                raise HTTPException(404, f"unknown absence {absence_id!r}")
            kept = tuple(a for a in config.absences if a.id != absence_id)
            return rebuilt(config, absences=(*kept, absence_from(absence_id, body, config)))

        new = await edit(change)
        return AbsenceOut.of(next(a for a in new.absences if a.id == absence_id))

    @admin_router.delete(
        "/absences/{absence_id}", status_code=204, summary="Cancel an absence", responses={404: {}}
    )
    async def delete_absence(absence_id: AbsencePath) -> Response:
        """Cancel a planned absence."""

        def change(config: AcdConfig) -> AcdConfig:
            if not any(a.id == absence_id for a in config.absences):
                raise HTTPException(404, f"unknown absence {absence_id!r}")
            return rebuilt(config, absences=tuple(a for a in config.absences if a.id != absence_id))

        await edit(change)
        return Response(status_code=204)

    return [supervisor_router, admin_router]
