"""The ACD's HTTP API: agents change their own state, supervisors watch, admins edit the configuration.

Routes (every one guarded by a role through the ``require_role`` the composition root hands in):

- agent (own agent only; supervisors and admins may act on anyone): ``/api/acd/agents/{id}/...`` and the
  ``/api/acd/me/...`` shortcuts: status, login, logout, ready, pause (with a reason), end wrap-up;
- supervisor: agent and queue snapshots, live metrics per queue, the configuration read-only, and the
  Prometheus text at ``/metrics`` (scrapers use a supervisor's API token as a bearer token);
- admin: create, replace and delete agents, skills, regions, queues and absences. Every write is checked
  as a whole configuration (every reference resolves), saved to SQL in one transaction, then published to
  Redis so every controller routes with it.

Errors are 4xx with a ``detail`` that says what to fix: 422 for a body of the wrong shape (FastAPI's
field list), 400 for a value the model refuses, 404 for an unknown agent/queue/absence, 409 for a state
change the life cycle does not allow or a delete that would leave references dangling, and 503 when
Redis or the database is down. Never a 500 for bad input.
"""

# No `from __future__ import annotations`: the routes below annotate with local aliases (User), which
# FastAPI can only resolve when annotations are evaluated where they are written.
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import Response

from acd.agent_state import AgentEvent
from acd.api_common import (
    ERRORS,
    TAG_AGENT,
    TAG_OPS,
    TAG_SUPERVISOR,
    AgentPath,
    Minutes,
    NamePath,
    acd_errors,
)
from acd.api_config import make_config_routers
from acd.api_models import AgentStatusOut, CallOut, PauseIn, QueueMetricsOut, QueueSnapshotOut
from acd.config_edit import ConfigEditor
from acd.errors import UnknownAgentError
from acd.metrics import window_minutes
from acd.metrics_io import AcdMetrics, published_config
from acd.model import AgentState, CallStatus
from acd.prometheus import CONTENT_TYPE, PrometheusExporter
from acd.repository import AcdRepository
from acd.service import AcdService
from switchboard.users.model import Role
from switchboard.web.auth import CurrentUser


def make_acd_routers(
    service: AcdService,
    repository: AcdRepository | None,
    metrics: AcdMetrics,
    *,
    require_role: Callable[..., Any],
    editor: ConfigEditor | None = None,
) -> list[APIRouter]:
    """The ACD's routers: agent self-service, supervision (incl. Prometheus ``/metrics``), configuration.

    ``editor``: the configuration editor shared with the admin pages (one is made when not given).
    """
    agent_guard = require_role(Role.AGENT)
    agent_router = APIRouter(
        prefix="/api/acd", tags=[TAG_AGENT], dependencies=[Depends(agent_guard)], responses=ERRORS
    )
    supervisor_router = APIRouter(
        prefix="/api/acd",
        tags=[TAG_SUPERVISOR],
        dependencies=[Depends(require_role(Role.SUPERVISOR))],
        responses=ERRORS,
    )
    metrics_router = APIRouter(tags=[TAG_OPS], dependencies=[Depends(require_role(Role.SUPERVISOR))])
    exporter = PrometheusExporter(metrics)
    User = Annotated[CurrentUser, Depends(agent_guard)]

    # ---- agents' own state ----

    def own_agent(user: CurrentUser, agent_id: str) -> None:
        if not user.has_role(Role.SUPERVISOR) and user.agent_id != agent_id:
            raise HTTPException(403, "agents may see and change only their own state")

    def linked_agent(user: CurrentUser) -> str:
        if not user.agent_id:
            raise HTTPException(409, "your user is not linked to an ACD agent; use /api/acd/agents/{id}/...")
        return str(user.agent_id)

    async def status_of(agent_id: str) -> AgentStatusOut:
        config = await published_config(service)
        agent = config.agents.get(agent_id)
        if agent is None:
            raise UnknownAgentError(f"unknown agent {agent_id!r}")
        return AgentStatusOut.of(await service.store.agent_status(agent_id), agent)

    async def act(agent_id: str, change: Callable[[], Awaitable[Any]]) -> AgentStatusOut:
        with acd_errors():
            await published_config(service)  # an agent another controller just added is known here too
            await change()
            return await status_of(agent_id)

    ACTIONS: dict[str, tuple[str, Callable[[str], Callable[[], Awaitable[Any]]]]] = {
        "login": (
            "Log in: the agent becomes ready for calls (the softphone must be registered).",
            lambda a: lambda: service.login(a),
        ),
        "logout": (
            "Log out: no more calls (refused while ringing or on a call).",
            lambda a: lambda: service.logout(a),
        ),
        "ready": (
            "Become ready again after a pause, wrap-up or log-out (same as log in).",
            lambda a: lambda: service.agent_event(a, AgentEvent.LOGIN),
        ),
        "wrap-up/end": (
            "End wrap-up early: ready for the next call now (409 unless in wrap-up).",
            lambda a: lambda: service.agent_event(a, AgentEvent.WRAP_DONE),
        ),
    }

    @agent_router.get("/agents/{agent_id}/status", summary="An agent's live state")
    async def agent_status(agent_id: AgentPath, user: User) -> AgentStatusOut:
        """The agent's live routing state (agents: their own only)."""
        own_agent(user, agent_id)
        with acd_errors():
            return await status_of(agent_id)

    @agent_router.get("/me/status", summary="My live state")
    async def my_status(user: User) -> AgentStatusOut:
        """The signed-in agent's live routing state."""
        with acd_errors():
            return await status_of(linked_agent(user))

    for path, (doc, make) in ACTIONS.items():
        name = path.replace("/", "_").replace("-", "_")

        def by_id(make: Any = make) -> Any:
            async def route(agent_id: AgentPath, user: User) -> AgentStatusOut:
                own_agent(user, agent_id)
                return await act(agent_id, make(agent_id))

            return route

        def for_me(make: Any = make) -> Any:
            async def route(user: User) -> AgentStatusOut:
                agent_id = linked_agent(user)
                return await act(agent_id, make(agent_id))

            return route

        agent_router.add_api_route(
            f"/agents/{{agent_id}}/{path}",
            by_id(),
            methods=["POST"],
            name=f"agent_{name}",
            summary=doc.split(":")[0],
            description=doc + " Agents may act only on themselves.",
            response_model=AgentStatusOut,
            responses={
                404: {"description": "No such agent"},
                409: {"description": "Not allowed in this state"},
            },
        )
        agent_router.add_api_route(
            f"/me/{path}",
            for_me(),
            methods=["POST"],
            name=f"my_{name}",
            summary=doc.split(":")[0] + " (me)",
            description=doc + " Acts on the agent linked to the signed-in user.",
            response_model=AgentStatusOut,
            responses={409: {"description": "Not allowed in this state, or the user has no agent"}},
        )

    @agent_router.post(
        "/agents/{agent_id}/pause",
        summary="Pause with a reason",
        responses={404: {"description": "No such agent"}, 409: {"description": "Not allowed in this state"}},
    )
    async def pause_agent(agent_id: AgentPath, body: PauseIn, user: User) -> AgentStatusOut:
        """Pause the agent (from ready or wrap-up) with a reason such as ``lunch``; no calls until ready."""
        own_agent(user, agent_id)
        return await act(agent_id, lambda: service.pause(agent_id, body.reason))

    @agent_router.post("/me/pause", summary="Pause with a reason (me)")
    async def pause_me(body: PauseIn, user: User) -> AgentStatusOut:
        """Pause the signed-in agent with a reason."""
        agent_id = linked_agent(user)
        return await act(agent_id, lambda: service.pause(agent_id, body.reason))

    # ---- supervision ----

    @supervisor_router.get("/agents", summary="Every agent's live state")
    async def all_agents() -> list[AgentStatusOut]:
        """Every configured agent with its live state, in id order."""
        with acd_errors():
            config = await published_config(service)
            statuses = await service.store.agent_statuses(config.agents)
        return [AgentStatusOut.of(statuses[a], config.agents[a]) for a in sorted(config.agents)]

    async def snapshots() -> list[QueueSnapshotOut]:
        config = await published_config(service)
        calls = await service.store.all_calls()
        statuses = await service.store.agent_statuses(config.agents)
        now = service.clock.now()
        out = []
        for name in sorted(config.queues):
            queue = config.queues[name]
            mine = sorted((c for c in calls if c.queue == name), key=lambda c: c.order_key())
            waiting = [c for c in mine if c.status is CallStatus.WAITING]
            position = {c.call_id: i for i, c in enumerate(waiting, start=1)}
            by_state = {s.value: 0 for s in AgentState}
            for agent_id in config.agents_with_skill(queue.skill):
                by_state[statuses[agent_id].state.value] += 1
            out.append(
                QueueSnapshotOut(
                    name=name,
                    skill=queue.skill,
                    waiting=len(waiting),
                    longest_wait_seconds=round(max((c.waited(now) for c in waiting), default=0.0), 3),
                    calls=[CallOut.of(c, now, position.get(c.call_id)) for c in mine],
                    agents_by_state=by_state,
                )
            )
        return out

    @supervisor_router.get("/queues", summary="Every queue now")
    async def all_queues() -> list[QueueSnapshotOut]:
        """Each queue's calls in routing order (waiting ones with their position) and its agents' states."""
        with acd_errors():
            return await snapshots()

    @supervisor_router.get(
        "/queues/{name}", summary="One queue now", responses={404: {"description": "No such queue"}}
    )
    async def one_queue(name: NamePath) -> QueueSnapshotOut:
        """One queue's calls in routing order and its agents' states."""
        with acd_errors():
            found = [q for q in await snapshots() if q.name == name]
        if not found:
            raise HTTPException(404, f"unknown queue {name!r}")
        return found[0]

    async def metrics_for(minutes: int | None) -> list[QueueMetricsOut]:
        window = window_minutes(service.clock.now(), minutes) if minutes else metrics.today()
        with acd_errors():
            computed = await metrics.queue_metrics(window)
        return [QueueMetricsOut.model_validate(m) for m in computed]

    @supervisor_router.get("/metrics", summary="Live metrics of every queue")
    async def all_metrics(minutes: Minutes = None) -> list[QueueMetricsOut]:
        """Waiting, longest wait, service level, abandon rate, ASA, AHT and occupancy per queue.

        Service level = answered within the queue's target / (answered + abandoned + calls still waiting
        beyond the target); callers who hang up within ``acd.short_abandon_seconds`` count nowhere.
        """
        return await metrics_for(minutes)

    @supervisor_router.get(
        "/metrics/{queue}",
        summary="Live metrics of one queue",
        responses={404: {"description": "No such queue"}},
    )
    async def queue_metrics(queue: NamePath, minutes: Minutes = None) -> QueueMetricsOut:
        """One queue's metrics over today or the last ``minutes`` minutes."""
        found = [m for m in await metrics_for(minutes) if m.queue == queue]
        if not found:
            raise HTTPException(404, f"unknown queue {queue!r}")
        return found[0]

    @metrics_router.get(
        "/metrics",
        summary="Prometheus metrics",
        response_class=Response,
        responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text exposition format"}},
    )
    async def prometheus_metrics() -> Response:
        """ACD gauges for Prometheus, computed at scrape time (per queue; windows ``today`` and recent).

        Scrape with a supervisor's API token: ``authorization: Bearer <token>``.
        """
        with acd_errors():
            body = await exporter.render()
        return Response(body, media_type=CONTENT_TYPE)

    config_routers = make_config_routers(service, repository, require_role=require_role, editor=editor)
    return [agent_router, supervisor_router, metrics_router, *config_routers]
