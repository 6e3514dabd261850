"""Who is calling, and may they? ``require_role`` guards every route; pages use a cookie, the API a token.

    user: CurrentUser = Depends(require_role(Role.SUPERVISOR))     # supervisors and admins
    router = role_router(Role.AGENT, prefix="/desk")                  # every route in it needs agent+

A cookie-authenticated request with an unsafe method (POST, PUT, PATCH, DELETE) must carry the session's
CSRF token (``X-CSRF-Token`` header or ``csrf_token`` form field) and, when the browser sends one, an
Origin of this site. Bearer tokens need no CSRF token: browsers never attach them on their own.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, WebSocketException, status
from starlette.requests import HTTPConnection, Request

from switchboard.users.model import Principal, Role

if TYPE_CHECKING:
    from switchboard.web.context import WebContext

log = logging.getLogger(__name__)

CONTEXT_ATTR = "switchboard_web"  # app.state attribute holding the WebContext
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_PRINCIPAL = "sb_principal"
_NOBODY = object()


class AuthRequired(Exception):
    """No valid credentials: pages redirect to the sign-in page, the API answers 401."""

    def __init__(self, *, session_ended: bool = False) -> None:
        super().__init__("authentication required")
        self.session_ended = session_ended


class Forbidden(Exception):
    """Signed in, but this user may not do this (403)."""

    def __init__(self, message: str = "your role does not allow this") -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class CurrentUser:
    """The signed-in user of a request."""

    id: str
    username: str
    role: Role
    agent_id: str | None
    via: str = "session"  # "session" (cookie) or "token" (bearer)
    csrf_token: str | None = field(default=None, repr=False, compare=False)

    def has_role(self, role: Role) -> bool:
        """True when this user's role includes ``role`` (admin > supervisor > agent)."""
        return self.role.includes(role)

    @property
    def agent_scope(self) -> str | None:
        """The only agent whose calls this user may see (agents), or None for everyone (supervisor+).

        An agent without a linked agent id gets ``""``, which matches no agent: they see nothing.
        """
        return (self.agent_id or "") if self.role is Role.AGENT else None

    def may_see_agent(self, agent_id: str | None) -> bool:
        """Whether calls and data of ``agent_id`` are visible to this user."""
        scope = self.agent_scope
        return scope is None or (bool(scope) and agent_id == scope)

    def check_agent(self, agent_id: str | None) -> None:
        """Raise Forbidden unless ``may_see_agent(agent_id)``; routes answer 403 (or 404 to hide it)."""
        if not self.may_see_agent(agent_id):
            raise Forbidden("agents see only their own calls")

    @classmethod
    def from_principal(cls, principal: Principal) -> CurrentUser:
        user = principal.user
        return cls(user.id, user.username, user.role, user.agent_id, principal.via, principal.csrf_token)


@dataclass(frozen=True)
class RoleGuard:
    """A FastAPI dependency admitting users whose role includes one of ``roles``; yields CurrentUser.

    Frozen, so two guards for the same roles are equal and FastAPI resolves them once per request.
    """

    roles: frozenset[Role]

    @property
    def minimum(self) -> Role:
        """The lowest role admitted."""
        return min(self.roles, key=lambda r: r.rank)

    def admits(self, role: Role) -> bool:
        return any(role.includes(r) for r in self.roles)

    async def __call__(self, connection: HTTPConnection) -> CurrentUser:
        websocket = connection.scope["type"] == "websocket"
        try:
            user = await current_user(connection)
            if user.via == "session":
                await _check_csrf(connection)
            if not self.admits(user.role):
                log.info(
                    "access refused user_id=%s role=%s needs=%s path=%s",
                    user.id,
                    user.role.value,
                    self.minimum.value,
                    connection.url.path,
                )
                raise Forbidden()
        except (AuthRequired, Forbidden) as exc:
            if websocket:
                raise WebSocketException(status.WS_1008_POLICY_VIOLATION, str(exc)) from None
            raise
        return user


def require_role(*roles: Role) -> RoleGuard:
    """A route dependency: ``Depends(require_role(Role.SUPERVISOR))`` admits supervisors and admins."""
    if not roles:
        raise ValueError("require_role needs at least one role")
    return RoleGuard(frozenset(Role(r) for r in roles))


AgentUser = Annotated[CurrentUser, Depends(require_role(Role.AGENT))]
SupervisorUser = Annotated[CurrentUser, Depends(require_role(Role.SUPERVISOR))]
AdminUser = Annotated[CurrentUser, Depends(require_role(Role.ADMIN))]


def role_router(role: Role, *, dependencies: Iterable[Any] = (), **kwargs: Any) -> APIRouter:
    """An APIRouter whose every route requires ``role`` (routes may add a stricter guard of their own)."""
    return APIRouter(dependencies=[Depends(require_role(role)), *dependencies], **kwargs)


def web_context(connection: HTTPConnection) -> WebContext:
    """The WebContext installed on the app (see switchboard.web.app.install_web)."""
    context = getattr(connection.app.state, CONTEXT_ATTR, None)
    if context is None:
        raise RuntimeError("switchboard.web is not installed on this app: call install_web(app, ...)")
    return context


async def current_principal(connection: HTTPConnection) -> Principal | None:
    """Who the request is from (resolved once per request), or None when nobody valid."""
    cached = getattr(connection.state, _PRINCIPAL, None)
    if cached is not None:
        return None if cached is _NOBODY else cached
    context = web_context(connection)
    principal: Principal | None = None
    ended = False
    authorization = connection.headers.get("authorization")
    if authorization is not None:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            principal = await context.authenticator.bearer_principal(value.strip())
    else:
        cookie = connection.cookies.get(context.cookies.session_name(connection))
        if cookie:
            principal = await context.authenticator.session_principal(cookie)
            ended = principal is None
    setattr(connection.state, _PRINCIPAL, principal or _NOBODY)
    connection.state.sb_session_ended = ended
    return principal


async def current_user(connection: HTTPConnection) -> CurrentUser:
    """The signed-in user, or AuthRequired."""
    principal = await current_principal(connection)
    if principal is None:
        raise AuthRequired(session_ended=bool(getattr(connection.state, "sb_session_ended", False)))
    return CurrentUser.from_principal(principal)


async def optional_user(connection: HTTPConnection) -> CurrentUser | None:
    """The signed-in user or None (for public pages that greet a signed-in user differently)."""
    principal = await current_principal(connection)
    return CurrentUser.from_principal(principal) if principal else None


def same_origin(connection: HTTPConnection, origin: str, allowed: Iterable[str] = ()) -> bool:
    """True when ``origin`` (scheme://host[:port]) is this request's own site or an allowed one."""
    if origin in allowed:
        return True
    parts = urlsplit(origin)
    host = connection.headers.get("host", "")
    return bool(parts.scheme in ("http", "https") and parts.netloc and parts.netloc.lower() == host.lower())


async def _check_csrf(connection: HTTPConnection) -> None:
    context = web_context(connection)
    origin = connection.headers.get("origin")
    if connection.scope["type"] == "websocket":
        # Browsers always send Origin on WebSocket handshakes: another site must not ride our cookie.
        if not origin or not same_origin(connection, origin, context.allowed_origins):
            raise Forbidden("cross-site WebSocket refused")
        return
    request = connection
    if request.scope.get("method", "GET") in SAFE_METHODS:
        return
    if origin is not None and not same_origin(connection, origin, context.allowed_origins):
        log.warning("csrf refused: foreign origin path=%s", connection.url.path)
        raise Forbidden("cross-site request refused")
    expected = getattr(connection.state, _PRINCIPAL).csrf_token or ""
    supplied = connection.headers.get(CSRF_HEADER, "")
    if not supplied and isinstance(request, Request):
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            value = form.get(CSRF_FIELD)
            supplied = value if isinstance(value, str) else ""
    if not expected or not hmac.compare_digest(supplied.encode(), expected.encode()):
        log.warning("csrf refused: missing or wrong token path=%s", connection.url.path)
        raise Forbidden("missing or wrong CSRF token; reload the page and try again")


MaybeUser = Annotated[CurrentUser | None, Depends(optional_user)]
