"""Every route states its role: the route table is audited, and an app with an undeclared route won't start.

A route declares its role by having a ``require_role(...)`` guard anywhere in its dependencies (on the
route, its router or the app), or by its path being on the public allow-list (health, sign-in, static
files, webhooks that authenticate by shared secret).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import routing as fastapi_routing
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, APIWebSocketRoute
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute

from switchboard.web.auth import RoleGuard

# Each entry is a route path as declared (``route.path``), or the path of a Mount.
DEFAULT_PUBLIC_PATHS: frozenset[str] = frozenset(
    {
        "/health",  # load balancers and monitoring
        "/login",  # the sign-in page and its form
        "/static",  # CSS, JavaScript, icons: no data
        # SMS gateway webhooks: source allow-list plus shared secret or per-message HMAC (surveys/api.py)
        "/surveys/kannel/mo",
        "/surveys/kannel/dlr",
    }
)


class UndeclaredRouteError(RuntimeError):
    """Routes that neither require a role nor are on the public allow-list."""

    def __init__(self, routes: list[str]) -> None:
        super().__init__(
            "every route must state its role (Depends(require_role(...))) or be on the public allow-list; "
            "undeclared: " + ", ".join(routes)
        )
        self.routes = routes


@dataclass(frozen=True)
class RouteAccess:
    """One entry of the route table: who may call it."""

    path: str
    methods: frozenset[str]  # {"WEBSOCKET"} for WebSocket routes, {"*"} for mounts
    name: str
    guard: RoleGuard | None
    public: bool
    route: BaseRoute

    @property
    def declared(self) -> bool:
        return self.guard is not None or self.public

    def describe(self) -> str:
        return f"{'|'.join(sorted(self.methods))} {self.path}"


def _guards(dependant: Dependant) -> Iterator[RoleGuard]:
    for dep in dependant.dependencies:
        if isinstance(dep.call, RoleGuard):
            yield dep.call
        yield from _guards(dep)


def _dependant_guard(dependant: Any) -> RoleGuard | None:
    """The strictest guard in a dependency tree (FastAPI runs them all, so the strictest decides)."""
    if not isinstance(dependant, Dependant):
        return None
    guards = list(_guards(dependant))
    return max(guards, key=lambda g: g.minimum.rank) if guards else None


def route_guard(route: Any) -> RoleGuard | None:
    """The guard deciding who may call ``route`` (a route or a FastAPI RouteContext), or None."""
    return _dependant_guard(getattr(route, "dependant", None))


def _effective_routes(routes: Iterable[BaseRoute]) -> Iterator[tuple[Any, BaseRoute]]:
    """(effective route, original route) pairs: newer FastAPI keeps included routers unflattened."""
    iter_contexts = getattr(fastapi_routing, "iter_route_contexts", None)
    if iter_contexts is None:  # FastAPI before included-router contexts: app.routes is already flat
        for route in routes:
            yield route, route
        return
    for context in iter_contexts(list(routes)):
        yield context, context.original_route


def route_table(
    routes: Iterable[BaseRoute], public_paths: Iterable[str] = DEFAULT_PUBLIC_PATHS
) -> list[RouteAccess]:
    """Every route (included routers flattened) with its guard and whether it is public."""
    public = frozenset(public_paths)
    table: list[RouteAccess] = []
    for route, original in _effective_routes(routes):
        path: str = getattr(route, "path", None) or ""
        name: str = getattr(route, "name", None) or ""
        methods: frozenset[str]
        if isinstance(original, APIWebSocketRoute | WebSocketRoute):
            methods = frozenset({"WEBSOCKET"})
        elif isinstance(original, Mount):
            methods = frozenset({"*"})
        elif isinstance(original, APIRoute | Route):
            methods = frozenset(getattr(route, "methods", None) or ())
        else:
            methods = frozenset({"?"})
        table.append(RouteAccess(path, methods, name, route_guard(route), path in public, original))
    return table


def check_route_roles(app: Any, public_paths: Iterable[str] = DEFAULT_PUBLIC_PATHS) -> list[RouteAccess]:
    """The route table; raises UndeclaredRouteError when a route states no role and is not public."""
    table = route_table(app.routes, public_paths)
    missing = [entry.describe() for entry in table if not entry.declared]
    if missing:
        raise UndeclaredRouteError(missing)
    return table
