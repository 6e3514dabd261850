"""FastAPI app factory: ``/health`` now; each domain's router is handed in by the composition root."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable, Mapping
from enum import StrEnum

from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse

from switchboard import __version__


class ComponentState(StrEnum):
    """How one dependency (AMI, Redis, database, ...) is doing."""

    OK = "ok"
    DEGRADED = "degraded"  # working with reduced function (e.g. reconnecting, speech engine missing)
    DOWN = "down"


ComponentProbe = Callable[[], Mapping[str, ComponentState] | Awaitable[Mapping[str, ComponentState]]]

_SEVERITY = {ComponentState.OK: 0, ComponentState.DEGRADED: 1, ComponentState.DOWN: 2}


def overall_state(components: Mapping[str, ComponentState]) -> ComponentState:
    """The worst component state (OK when there are none)."""
    return max(components.values(), key=_SEVERITY.__getitem__, default=ComponentState.OK)


def create_http_app(
    *,
    components: ComponentProbe | None = None,
    routers: Iterable[APIRouter] = (),
    version: str = __version__,
    title: str = "Switchboard",
) -> FastAPI:
    """The HTTP app; ``components`` reports each dependency's state for /health (503 when one is down)."""
    app = FastAPI(title=title, version=version)

    @app.get("/health", tags=["operations"])
    async def health() -> JSONResponse:
        """Liveness and component states for load balancers and monitoring."""
        states: Mapping[str, ComponentState] = {}
        if components is not None:
            result = components()
            states = await result if inspect.isawaitable(result) else result
        status = overall_state(states)
        body = {
            "status": status.value,
            "version": version,
            "components": {name: ComponentState(state).value for name, state in states.items()},
        }
        return JSONResponse(body, status_code=503 if status is ComponentState.DOWN else 200)

    for router in routers:
        app.include_router(router)
    return app
