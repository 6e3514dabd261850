"""Put the web shell on the HTTP app: auth, pages, users API, static files, security middleware.

    services = build_user_services(settings.web, sessions, clock, redis=redis)
    app = create_web_app(settings, services, routers=[wallboard_router, ...], components=probe)

``install_web`` refuses to finish (and the app refuses to start) when any route states no role.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from switchboard.http.app import ComponentProbe, create_http_app
from switchboard.settings import Settings
from switchboard.users.factory import UserServices
from switchboard.users.model import Role
from switchboard.web.auth import CONTEXT_ATTR, AgentUser
from switchboard.web.context import CookiePolicy, WebContext, is_loopback
from switchboard.web.errors import install_error_handlers
from switchboard.web.login import make_login_router
from switchboard.web.middleware import BodySizeLimitMiddleware, SecurityHeadersMiddleware
from switchboard.web.routes import DEFAULT_PUBLIC_PATHS, check_route_roles
from switchboard.web.shell import STATIC_DIR, STATIC_PATH, WebShell
from switchboard.web.users_api import make_users_api
from switchboard.web.users_pages import make_users_pages


def build_web_context(
    settings: Settings, services: UserServices, *, shell: WebShell | None = None
) -> WebContext:
    """The WebContext for these settings (cookie policy from web.cookie_secure and http.host)."""
    shell = shell or WebShell()
    shell.add_nav("Users", "/admin/users", Role.ADMIN, order=900)
    if shell.landing_for(Role.ADMIN) == "/":
        shell.set_landing(Role.ADMIN, "/admin/users")
    return WebContext(
        authenticator=services.authenticator,
        accounts=services.accounts,
        shell=shell,
        cookies=CookiePolicy(settings.web.cookie_secure, is_loopback(settings.http.host)),
        allowed_origins=frozenset(o.rstrip("/") for o in settings.web.allowed_origins),
    )


def web_routers(context: WebContext) -> list[APIRouter]:
    """The shell's own routers: sign-in pages, the users API and the admin users page."""
    return [make_login_router(context), make_users_api(context), make_users_pages(context)]


def create_web_app(
    settings: Settings,
    services: UserServices,
    *,
    routers: Iterable[APIRouter] = (),
    components: ComponentProbe | None = None,
    shell: WebShell | None = None,
    public_paths: Iterable[str] = DEFAULT_PUBLIC_PATHS,
) -> FastAPI:
    """The whole HTTP app: /health, the shell's routes and ``routers`` (each route guarded by a role)."""
    context = build_web_context(settings, services, shell=shell)
    app = create_http_app(components=components, routers=[*web_routers(context), *routers])
    install_web(app, context, max_body_bytes=settings.web.max_body_bytes, public_paths=public_paths)
    return app


def install_web(
    app: FastAPI,
    context: WebContext,
    *,
    max_body_bytes: int = 1_048_576,
    public_paths: Iterable[str] = DEFAULT_PUBLIC_PATHS,
) -> None:
    """Install auth, error pages, static files and middleware on ``app``; check every route's role.

    Raises UndeclaredRouteError now for routes already present, and again at start-up for routes added
    later, so an unguarded route never serves.
    """
    public = frozenset(public_paths)
    setattr(app.state, CONTEXT_ATTR, context)
    _guard_openapi(app)
    app.mount(STATIC_PATH, StaticFiles(directory=STATIC_DIR), name="static")
    install_error_handlers(app)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=max_body_bytes)
    app.add_middleware(SecurityHeadersMiddleware, static_prefix=f"{STATIC_PATH}/")
    check_route_roles(app, public)

    inner = app.router.lifespan_context

    @asynccontextmanager
    async def checked_lifespan(asgi_app: Any) -> AsyncIterator[Any]:
        check_route_roles(app, public)
        async with inner(asgi_app) as state:
            yield state

    app.router.lifespan_context = checked_lifespan


def _guard_openapi(app: FastAPI) -> None:
    """The schema for signed-in users only; the interactive docs go (they need inline scripts and a CDN)."""
    drop = {app.openapi_url, app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url}
    app.router.routes[:] = [r for r in app.router.routes if getattr(r, "path", None) not in drop]
    app.docs_url = app.redoc_url = app.swagger_ui_oauth2_redirect_url = None
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get(openapi_url, include_in_schema=False)
    async def openapi(user: AgentUser) -> JSONResponse:
        """The OpenAPI schema of every API route."""
        return JSONResponse(app.openapi())
