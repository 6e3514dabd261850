"""Sign-in, sign-out and the home page."""

from __future__ import annotations

import hmac
import logging
import math
import secrets

from fastapi import APIRouter, Request
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from switchboard.users.auth import LoginFailed, LoginThrottled
from switchboard.users.model import PASSWORD_MAX, USERNAME_MAX
from switchboard.web.auth import CSRF_FIELD, AgentUser, MaybeUser
from switchboard.web.context import WebContext
from switchboard.web.errors import safe_next

log = logging.getLogger(__name__)

MAX_FORM_FIELDS = 20


def client_address(request: Request) -> str:
    """The peer address (uvicorn applies X-Forwarded-For only from its --forwarded-allow-ips)."""
    return request.client.host if request.client else "unknown"


def form_text(form: FormData, name: str, limit: int) -> str:
    """A form field as text, cut at ``limit`` characters ("" when absent or a file)."""
    value = form.get(name)
    return value[:limit] if isinstance(value, str) else ""


def make_login_router(context: WebContext) -> APIRouter:
    """``/login`` (public), ``/logout`` and ``/`` (any signed-in user)."""
    router = APIRouter(include_in_schema=False)
    shell = context.shell
    cookies = context.cookies
    max_age = int(context.authenticator.policy.session_max.total_seconds())

    def login_page(
        request: Request,
        *,
        username: str = "",
        next_path: str = "/",
        error: str | None = None,
        status: int = 200,
    ) -> Response:
        token = secrets.token_urlsafe(32)
        flash = None
        if request.query_params.get("ended"):
            flash = "Your session has ended. Please sign in again."
        elif request.query_params.get("signed_out"):
            flash = "You have signed out."
        response = shell.render(
            request,
            "login.html",
            {
                "login_csrf": token,
                "username": username,
                "next_path": next_path,
                "error": error,
                "flash": flash,
            },
            status_code=status,
        )
        response.set_cookie(
            cookies.login_csrf_name(request),
            token,
            max_age=3600,
            path="/",
            httponly=True,
            samesite="strict",
            secure=cookies.secure(request),
        )
        return response

    @router.get("/login")
    async def login_form(request: Request, user: MaybeUser) -> Response:
        """The sign-in form (a signed-in user goes straight on)."""
        next_path = safe_next(request.query_params.get("next"))
        if user is not None:
            return RedirectResponse(_destination(next_path, context.shell.landing_for(user.role)), 303)
        return login_page(request, next_path=next_path)

    @router.post("/login")
    async def login(request: Request) -> Response:
        """Check the password; on success set the session cookie and go on."""
        form = await request.form(max_files=0, max_fields=MAX_FORM_FIELDS)
        username = form_text(form, "username", USERNAME_MAX * 4)
        password = form_text(form, "password", PASSWORD_MAX + 1)
        next_path = safe_next(form_text(form, "next", 2000))
        expected = request.cookies.get(cookies.login_csrf_name(request), "")
        supplied = form_text(form, CSRF_FIELD, 100)
        if not expected or not hmac.compare_digest(expected.encode(), supplied.encode()):
            log.warning(
                "sign-in refused: login form token missing or wrong address=%s", client_address(request)
            )
            return login_page(
                request,
                username=username,
                next_path=next_path,
                error="The sign-in form expired or your browser blocks cookies. Please try again.",
                status=400,
            )
        try:
            result = await context.authenticator.login(
                username,
                password,
                address=client_address(request),
                user_agent=request.headers.get("user-agent", ""),
            )
        except LoginThrottled as exc:
            minutes = max(1, math.ceil(exc.retry_after / 60))
            response = login_page(
                request,
                username=username,
                next_path=next_path,
                error=f"Too many failed sign-ins. Try again in {minutes} minute{'s' if minutes > 1 else ''}.",
                status=429,
            )
            response.headers["Retry-After"] = str(math.ceil(exc.retry_after))
            return response
        except LoginFailed:
            return login_page(
                request,
                username=username,
                next_path=next_path,
                error="Wrong user name or password.",
                status=401,
            )
        target = _destination(next_path, shell.landing_for(result.user.role))
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            cookies.session_name(request),
            result.session_token,
            max_age=max_age,
            path="/",
            httponly=True,
            samesite="lax",
            secure=cookies.secure(request),
        )
        response.delete_cookie(cookies.login_csrf_name(request), path="/", secure=cookies.secure(request))
        return response

    @router.post("/logout")
    async def logout(request: Request, user: AgentUser) -> Response:
        """End this session (the CSRF check ran in the guard)."""
        token = request.cookies.get(cookies.session_name(request))
        if token:
            await context.authenticator.logout(token)
        log.info("signed out user_id=%s", user.id)
        response = RedirectResponse(f"{context.login_path}?signed_out=1", status_code=303)
        response.delete_cookie(cookies.session_name(request), path="/", secure=cookies.secure(request))
        return response

    @router.get("/")
    async def home(request: Request, user: AgentUser) -> Response:
        """The role's landing page, or a home page listing what the user may open."""
        landing = shell.landing_for(user.role)
        if landing != "/":
            return RedirectResponse(landing, status_code=303)
        return shell.render(request, "home.html")

    return router


def _destination(next_path: str, landing: str) -> str:
    """Where to go after sign-in: the page asked for, else the role's landing page."""
    return landing if next_path == "/" or next_path.startswith(("/login", "/logout")) else next_path
