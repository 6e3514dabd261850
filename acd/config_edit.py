"""Edits of the ACD configuration, shared by the JSON API (acd/api_config.py) and the admin pages.

Every edit rebuilds the whole configuration (so every reference must resolve), saves it to SQL in one
transaction, then publishes it to Redis so every controller routes with it. Edits in one process are
serialised by one lock; the transaction keeps the record whole even when two controllers edit at once
(the later save wins). Bodies arrive already shape-checked (the pydantic models of acd/api_models.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any, Literal

from acd.api_models import AbsenceFields, AgentFields, QueueFields
from acd.errors import AcdError, AcdValidationError, UnknownAgentError
from acd.metrics_io import published_config
from acd.model import Absence, AcdConfig, Agent, AgentSkill, Queue, RelaxationStep
from acd.repository import AcdRepository
from acd.service import AcdService
from switchboard.ids import new_id

NameKind = Literal["skills", "regions"]


class ConfigConflict(AcdError):
    """An edit that would leave the configuration inconsistent (a reference would dangle)."""


class ConfigNotFound(AcdError):
    """The queue, absence, skill or region an edit names does not exist."""


class NoConfigStore(AcdError):
    """This controller has no database to store the configuration in."""


def check_known(names: Iterable[str], known: frozenset[str], what: str, where: str) -> None:
    """Refuse names that are not declared yet (``where``: the collection that declares them)."""
    missing = sorted(set(names) - known)
    if missing:
        listed = ", ".join(sorted(known)) or "none yet"
        raise AcdValidationError(
            f"unknown {what} {', '.join(repr(m) for m in missing)} (declared {what}s: {listed}); "
            f"add it first with POST /api/acd/config/{where}"
        )


def rebuilt(config: AcdConfig, *, conflict: bool = False, **changes: Any) -> AcdConfig:
    """``config`` with ``changes``, checked as a whole; ``conflict``: a refusal is a 409, not a 400."""
    try:
        return replace(config, **changes)
    except AcdValidationError as exc:
        if conflict:
            raise ConfigConflict(f"refused, the configuration would become inconsistent: {exc}") from None
        raise


def agent_from(agent_id: str, body: AgentFields, config: AcdConfig) -> Agent:
    """The agent ``body`` describes, its skills and regions checked against the declared ones."""
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


def queue_from(name: str, body: QueueFields, config: AcdConfig) -> Queue:
    """The queue ``body`` describes, its skill checked against the declared ones."""
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


def absence_from(absence_id: str, body: AbsenceFields, config: AcdConfig) -> Absence:
    """The absence ``body`` describes, of an existing agent."""
    if body.agent_id not in config.agents:
        raise AcdValidationError(f"the absence names unknown agent {body.agent_id!r}")
    return Absence(absence_id, body.agent_id, body.kind, body.starts_at, body.ends_at, body.note)  # type: ignore[arg-type]


class ConfigEditor:
    """Reads and changes the ACD configuration; raises the ACD's errors (the callers translate them)."""

    def __init__(self, service: AcdService, repository: AcdRepository | None) -> None:
        self.service = service
        self.repository = repository
        self._lock = asyncio.Lock()

    async def current(self) -> AcdConfig:
        """The stored configuration (or, without a database, the one published in Redis)."""
        if self.repository is not None:
            return await self.repository.load_config()
        return await published_config(self.service)

    async def edit(self, change: Callable[[AcdConfig], AcdConfig]) -> AcdConfig:
        """Apply ``change`` to the stored configuration, save it, publish it; one edit at a time here."""
        if self.repository is None:
            raise NoConfigStore("this controller has no database to store the configuration in")
        async with self._lock:
            new = await self.repository.edit_config(change)
            await self.service.load()
        return new

    # ---- agents ----

    async def add_agent(self, agent_id: str, body: AgentFields) -> Agent:
        """Add an agent. Skills and regions must be declared first; substitutes must be agents."""

        def change(config: AcdConfig) -> AcdConfig:
            if agent_id in config.agents:
                raise ConfigConflict(
                    f"agent {agent_id!r} already exists; PUT /api/acd/config/agents/{agent_id}"
                )
            return rebuilt(config, agents={**config.agents, agent_id: agent_from(agent_id, body, config)})

        return (await self.edit(change)).agents[agent_id]

    async def replace_agent(self, agent_id: str, body: AgentFields) -> Agent:
        """Replace an existing agent's configuration (its live state is kept)."""

        def change(config: AcdConfig) -> AcdConfig:
            if agent_id not in config.agents:
                raise UnknownAgentError(f"unknown agent {agent_id!r}; POST /api/acd/config/agents adds one")
            return rebuilt(config, agents={**config.agents, agent_id: agent_from(agent_id, body, config)})

        return (await self.edit(change)).agents[agent_id]

    async def delete_agent(self, agent_id: str) -> None:
        """Delete an agent and their absences; refused while another agent names them as substitute."""

        def change(config: AcdConfig) -> AcdConfig:
            if agent_id not in config.agents:
                raise UnknownAgentError(f"unknown agent {agent_id!r}")
            return rebuilt(
                config,
                conflict=True,
                agents={k: v for k, v in config.agents.items() if k != agent_id},
                absences=tuple(a for a in config.absences if a.agent_id != agent_id),
            )

        await self.edit(change)

    # ---- skills and regions ----

    async def add_name(self, kind: NameKind, name: str) -> frozenset[str]:
        """Declare a skill or region; returns every declared name of that kind."""

        def change(config: AcdConfig) -> AcdConfig:
            names: frozenset[str] = getattr(config, kind)
            if name in names:
                raise ConfigConflict(f"{kind[:-1]} {name!r} already exists")
            return rebuilt(config, **{kind: names | {name}})

        names: frozenset[str] = getattr(await self.edit(change), kind)
        return names

    async def delete_name(self, kind: NameKind, name: str) -> None:
        """Delete a skill or region; refused while an agent or queue still uses it."""

        def change(config: AcdConfig) -> AcdConfig:
            names: frozenset[str] = getattr(config, kind)
            if name not in names:
                raise ConfigNotFound(f"unknown {kind[:-1]} {name!r}")
            return rebuilt(config, conflict=True, **{kind: names - {name}})

        await self.edit(change)

    # ---- queues ----

    async def add_queue(self, name: str, body: QueueFields) -> Queue:
        """Add a queue for a declared skill (overflow steps must name existing queues)."""

        def change(config: AcdConfig) -> AcdConfig:
            if name in config.queues:
                raise ConfigConflict(f"queue {name!r} already exists; PUT /api/acd/config/queues/{name}")
            return rebuilt(config, queues={**config.queues, name: queue_from(name, body, config)})

        return (await self.edit(change)).queues[name]

    async def replace_queue(self, name: str, body: QueueFields) -> Queue:
        """Replace an existing queue's configuration (calls waiting in it keep their place)."""

        def change(config: AcdConfig) -> AcdConfig:
            if name not in config.queues:
                raise ConfigNotFound(f"unknown queue {name!r}; POST /api/acd/config/queues adds one")
            return rebuilt(config, queues={**config.queues, name: queue_from(name, body, config)})

        return (await self.edit(change)).queues[name]

    async def delete_queue(self, name: str) -> None:
        """Delete a queue; refused while calls wait in it or another queue overflows into it."""

        def change(config: AcdConfig) -> AcdConfig:
            if name not in config.queues:
                raise ConfigNotFound(f"unknown queue {name!r}")
            return rebuilt(
                config, conflict=True, queues={k: v for k, v in config.queues.items() if k != name}
            )

        if any(c.queue == name for c in await self.service.store.all_calls()):
            raise ConfigConflict(f"calls are still in queue {name!r}; delete it once it is empty")
        await self.edit(change)

    # ---- absences ----

    async def add_absence(self, body: AbsenceFields) -> Absence:
        """Plan an absence (sick, leave, training) of an agent."""
        absence_id = new_id()

        def change(config: AcdConfig) -> AcdConfig:
            return rebuilt(config, absences=(*config.absences, absence_from(absence_id, body, config)))

        new = await self.edit(change)
        return next(a for a in new.absences if a.id == absence_id)

    async def replace_absence(self, absence_id: str, body: AbsenceFields) -> Absence:
        """Replace a planned absence."""

        def change(config: AcdConfig) -> AcdConfig:
            if not any(a.id == absence_id for a in config.absences):
                raise ConfigNotFound(f"unknown absence {absence_id!r}")
            kept = tuple(a for a in config.absences if a.id != absence_id)
            return rebuilt(config, absences=(*kept, absence_from(absence_id, body, config)))

        new = await self.edit(change)
        return next(a for a in new.absences if a.id == absence_id)

    async def delete_absence(self, absence_id: str) -> None:
        """Cancel a planned absence."""

        def change(config: AcdConfig) -> AcdConfig:
            if not any(a.id == absence_id for a in config.absences):
                raise ConfigNotFound(f"unknown absence {absence_id!r}")
            return rebuilt(config, absences=tuple(a for a in config.absences if a.id != absence_id))

        await self.edit(change)
