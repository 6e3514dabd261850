"""HTTP app factory: /health reports version and component states; a down component answers 503."""

from __future__ import annotations

from collections.abc import Mapping

import httpx
from fastapi import APIRouter

from switchboard import __version__
from switchboard.http.app import ComponentState, create_http_app, overall_state


async def get(app, path: str) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sb") as client:
        return await client.get(path)


async def test_health_is_ok_with_version_when_every_component_is_ok() -> None:
    app = create_http_app(components=lambda: {"redis": ComponentState.OK, "database": ComponentState.OK})
    response = await get(app, "/health")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "version": __version__,
        "components": {"redis": "ok", "database": "ok"},
    }


async def test_health_is_degraded_but_200_when_a_component_reconnects() -> None:
    async def probe() -> Mapping[str, ComponentState]:
        return {"ami": ComponentState.DEGRADED, "redis": ComponentState.OK}

    response = await get(create_http_app(components=probe), "/health")
    assert response.status_code == 200
    assert response.json()["status"] == "degraded"


async def test_health_answers_503_when_a_component_is_down() -> None:
    app = create_http_app(components=lambda: {"ami": ComponentState.DOWN, "redis": ComponentState.DEGRADED})
    response = await get(app, "/health")
    assert response.status_code == 503
    assert response.json()["status"] == "down"


async def test_routers_handed_in_are_served() -> None:
    router = APIRouter(prefix="/api/sbtest")

    @router.get("/ping")
    async def ping() -> dict[str, str]:
        return {"pong": "yes"}

    response = await get(create_http_app(routers=[router]), "/api/sbtest/ping")
    assert response.json() == {"pong": "yes"}


def test_overall_state_is_the_worst_component() -> None:
    assert overall_state({}) is ComponentState.OK
    assert overall_state({"a": ComponentState.OK, "b": ComponentState.DEGRADED}) is ComponentState.DEGRADED
    assert overall_state({"a": ComponentState.DOWN, "b": ComponentState.DEGRADED}) is ComponentState.DOWN
