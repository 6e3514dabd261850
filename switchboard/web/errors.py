"""How refusals look: a browser is sent to the sign-in page or shown a page; API clients get JSON."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from switchboard.users.model import InvalidUserInput, LastAdminError, UsernameTaken, UserNotFound
from switchboard.web.auth import AuthRequired, Forbidden, web_context


def wants_html(request: Request) -> bool:
    """A browser navigating (GET with Accept: text/html, no bearer token) rather than a script or client."""
    return (
        request.method in ("GET", "HEAD")
        and "text/html" in request.headers.get("accept", "")
        and "authorization" not in request.headers
        and "hx-request" not in request.headers
    )


def safe_next(path: str | None) -> str:
    """A local path to return to after sign-in; anything else (other sites, //host, \\host) gives ``/``."""
    if not path or not path.startswith("/") or path.startswith(("//", "/\\")) or len(path) > 2000:
        return "/"
    if any(ord(c) < 0x20 or c == "\\" for c in path):
        return "/"
    return path


def login_redirect(request: Request, *, session_ended: bool = False) -> RedirectResponse:
    """303 to the sign-in page, remembering where the user was going."""
    context = web_context(request)
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    query = {"next": safe_next(target)}
    if session_ended:
        query["ended"] = "1"
    return RedirectResponse(f"{context.login_path}?{urlencode(query)}", status_code=303)


async def on_auth_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AuthRequired)
    if wants_html(request):
        return login_redirect(request, session_ended=exc.session_ended)
    headers = {"WWW-Authenticate": 'Bearer realm="switchboard"'}
    if "hx-request" in request.headers:
        headers["HX-Redirect"] = web_context(request).login_path
    detail = "session ended; sign in again" if exc.session_ended else "authentication required"
    return JSONResponse({"detail": detail}, status_code=401, headers=headers)


async def on_forbidden(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Forbidden)
    if wants_html(request):
        return web_context(request).shell.render(
            request,
            "error.html",
            {"heading": "Not allowed", "message": f"Sorry, {exc.message}."},
            status_code=403,
        )
    return JSONResponse({"detail": exc.message}, status_code=403)


async def on_user_error(request: Request, exc: Exception) -> Response:
    """Domain errors about users, for API routes (pages catch them themselves and re-render the form)."""
    status = 400
    if isinstance(exc, UserNotFound):
        status = 404
    elif isinstance(exc, UsernameTaken | LastAdminError):
        status = 409
    elif isinstance(exc, InvalidUserInput):
        status = 400  # a broken rule; 422 stays FastAPI's (differently shaped) schema validation answer
    return JSONResponse({"detail": str(exc)}, status_code=status)


def install_error_handlers(app: FastAPI) -> None:
    """Register the refusal handlers on the app."""
    from switchboard.users.model import UserError

    app.add_exception_handler(AuthRequired, on_auth_required)
    app.add_exception_handler(Forbidden, on_forbidden)
    app.add_exception_handler(UserError, on_user_error)
