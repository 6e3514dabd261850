"""The admin's users page: list, add, change role or agent link, disable, reset password, delete.

Plain HTML forms (POST, then redirect); every form carries the session's CSRF token.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from starlette.responses import RedirectResponse, Response

from switchboard.users.accounts import UserChanges
from switchboard.users.model import (
    AGENT_ID_MAX,
    PASSWORD_MAX,
    USERNAME_MAX,
    Role,
    User,
    UserError,
    UserNotFound,
)
from switchboard.web.auth import AdminUser
from switchboard.web.context import WebContext
from switchboard.web.login import MAX_FORM_FIELDS, form_text

UserId = Annotated[str, Path(min_length=1, max_length=26)]

# Messages after a redirect are chosen from this table by key: nothing the request says is echoed.
FLASH = {
    "created": "User added.",
    "saved": "Changes saved.",
    "password": "Password set; the user was signed out everywhere.",
    "deleted": "User deleted.",
    "revoked": "Token revoked.",
}


def make_users_pages(context: WebContext) -> APIRouter:
    """``/admin/users`` and its forms; admins only."""
    router = APIRouter(prefix="/admin/users", include_in_schema=False)
    shell = context.shell
    accounts = context.accounts
    auth = context.authenticator

    def flash(request: Request) -> str | None:
        return FLASH.get(request.query_params.get("done", ""))

    async def list_page(
        request: Request, *, error: str | None = None, form: dict[str, str] | None = None, status: int = 200
    ) -> Response:
        values: dict[str, Any] = {
            "users": await accounts.list(),
            "roles": list(Role),
            "form": {"username": "", "role": Role.AGENT.value, "agent_id": "", **(form or {})},
            "password_min_length": accounts.password_min_length,
            "flash": None if error else flash(request),
            "error": error,
        }
        return shell.render(request, "admin_users.html", values, status_code=status)

    async def user_page(
        request: Request, user: User, *, error: str | None = None, status: int = 200
    ) -> Response:
        values: dict[str, Any] = {
            "user": user,
            "roles": list(Role),
            "tokens": await auth.list_tokens(user.id),
            "password_min_length": accounts.password_min_length,
            "flash": None if error else flash(request),
            "error": error,
        }
        return shell.render(request, "admin_user.html", values, status_code=status)

    def done(path: str, key: str) -> RedirectResponse:
        return RedirectResponse(f"{path}?done={key}", status_code=303)

    async def not_found(request: Request) -> Response:
        return shell.render(
            request,
            "error.html",
            {"heading": "No such user", "message": "That user does not exist."},
            status_code=404,
        )

    @router.get("")
    async def users(request: Request, admin: AdminUser) -> Response:
        return await list_page(request)

    @router.post("")
    async def add_user(request: Request, admin: AdminUser) -> Response:
        form = await request.form(max_files=0, max_fields=MAX_FORM_FIELDS)
        username = form_text(form, "username", USERNAME_MAX * 4)
        role_text = form_text(form, "role", 20)
        agent_id = form_text(form, "agent_id", AGENT_ID_MAX * 4)
        echo = {"username": username, "role": role_text, "agent_id": agent_id}
        try:
            role = Role(role_text)
        except ValueError:
            return await list_page(request, error="Choose a role.", form=echo, status=400)
        try:
            await accounts.add(
                username, form_text(form, "password", PASSWORD_MAX + 1), role, agent_id or None
            )
        except UserError as exc:
            return await list_page(request, error=_sentence(exc), form=echo, status=_status(exc))
        return done("/admin/users", "created")

    @router.get("/{user_id}")
    async def user_detail(user_id: UserId, request: Request, admin: AdminUser) -> Response:
        try:
            user = await accounts.get(user_id)
        except UserNotFound:
            return await not_found(request)
        return await user_page(request, user)

    @router.post("/{user_id}")
    async def update_user(user_id: UserId, request: Request, admin: AdminUser) -> Response:
        form = await request.form(max_files=0, max_fields=MAX_FORM_FIELDS)
        try:
            user = await accounts.get(user_id)
        except UserNotFound:
            return await not_found(request)
        agent_id = form_text(form, "agent_id", AGENT_ID_MAX * 4).strip()
        try:
            changes = UserChanges(
                role=Role(form_text(form, "role", 20)),
                agent_id=agent_id or None,
                clear_agent_id=not agent_id,
                disabled=form_text(form, "disabled", 5) == "1",
            )
        except ValueError:
            return await user_page(request, user, error="Choose a role.", status=400)
        try:
            await accounts.change(user_id, changes, actor_id=admin.id)
        except UserError as exc:
            return await user_page(request, user, error=_sentence(exc), status=_status(exc))
        return done(f"/admin/users/{user_id}", "saved")

    @router.post("/{user_id}/password")
    async def set_password(user_id: UserId, request: Request, admin: AdminUser) -> Response:
        form = await request.form(max_files=0, max_fields=MAX_FORM_FIELDS)
        try:
            user = await accounts.get(user_id)
            await accounts.change(
                user_id,
                UserChanges(password=form_text(form, "password", PASSWORD_MAX + 1)),
                actor_id=admin.id,
            )
        except UserNotFound:
            return await not_found(request)
        except UserError as exc:
            return await user_page(request, user, error=_sentence(exc), status=_status(exc))
        return done(f"/admin/users/{user_id}", "password")

    @router.post("/{user_id}/delete")
    async def delete_user(user_id: UserId, request: Request, admin: AdminUser) -> Response:
        form = await request.form(max_files=0, max_fields=MAX_FORM_FIELDS)
        try:
            user = await accounts.get(user_id)
        except UserNotFound:
            return await not_found(request)
        if form_text(form, "confirm", 5) != "yes":
            return await user_page(request, user, error="Tick the box to confirm the deletion.", status=400)
        try:
            await accounts.delete(user_id, actor_id=admin.id)
        except UserError as exc:
            return await user_page(request, user, error=_sentence(exc), status=_status(exc))
        return done("/admin/users", "deleted")

    @router.post("/{user_id}/tokens/{token_id}/revoke")
    async def revoke_token(
        user_id: UserId, token_id: Annotated[str, Path(max_length=26)], request: Request, admin: AdminUser
    ) -> Response:
        try:
            await auth.revoke_token(user_id, token_id)
        except UserNotFound:
            return await not_found(request)
        return done(f"/admin/users/{user_id}", "revoked")

    return router


def _sentence(exc: Exception) -> str:
    text = str(exc)
    return (
        (text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")) if text else "That did not work."
    )


def _status(exc: UserError) -> int:
    from switchboard.users.model import LastAdminError, UsernameTaken

    return 409 if isinstance(exc, UsernameTaken | LastAdminError) else 400
