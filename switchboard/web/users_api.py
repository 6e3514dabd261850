"""The users API: ``/api/me`` for everyone signed in, ``/api/users`` for admins. JSON in and out."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from switchboard.users.accounts import UserChanges
from switchboard.users.model import (
    AGENT_ID_MAX,
    PASSWORD_MAX,
    TOKEN_NAME_MAX,
    USERNAME_MAX,
    ApiToken,
    NewToken,
    Role,
    User,
)
from switchboard.web.auth import AdminUser, AgentUser
from switchboard.web.context import WebContext

UserId = Annotated[str, Path(min_length=1, max_length=26, description="A user's id")]
TokenId = Annotated[str, Path(min_length=1, max_length=26, description="An API token's id")]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UserOut(BaseModel):
    id: str
    username: str
    role: Role
    agent_id: str | None
    disabled: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(**user.__dict__)


class MeOut(BaseModel):
    id: str
    username: str
    role: Role
    agent_id: str | None
    via: str = Field(description="How this request proved who it is: session (cookie) or token (bearer)")


class UserCreate(_In):
    username: str = Field(min_length=1, max_length=USERNAME_MAX)
    password: str = Field(min_length=1, max_length=PASSWORD_MAX)
    role: Role
    agent_id: str | None = Field(None, max_length=AGENT_ID_MAX, description="Required for agents")


class UserPatch(_In):
    role: Role | None = None
    agent_id: str | None = Field(None, max_length=AGENT_ID_MAX, description='"" unlinks the agent')
    disabled: bool | None = None
    password: str | None = Field(None, min_length=1, max_length=PASSWORD_MAX)


class PasswordChange(_In):
    current_password: str = Field(min_length=1, max_length=PASSWORD_MAX)
    new_password: str = Field(min_length=1, max_length=PASSWORD_MAX)


class TokenCreate(_In):
    name: str = Field(min_length=1, max_length=TOKEN_NAME_MAX, description="What the token is for")
    expires_in_days: int | None = Field(None, ge=1, le=36500, description="Default: the configured lifetime")


class TokenOut(BaseModel):
    id: str
    name: str
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, token: ApiToken) -> TokenOut:
        return cls(
            id=token.id,
            name=token.name,
            created_at=token.created_at,
            expires_at=token.expires_at,
            last_used_at=token.last_used_at,
            revoked_at=token.revoked_at,
        )


class NewTokenOut(TokenOut):
    token: str = Field(description="The bearer value: shown this once, never again")

    @classmethod
    def of_new(cls, new: NewToken) -> NewTokenOut:
        return cls(**TokenOut.of(new.token).model_dump(), token=new.secret)


class ErrorOut(BaseModel):
    detail: str


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "A rule was broken (the detail says which)"},
    401: {"model": ErrorOut, "description": "No valid session or token"},
    403: {"model": ErrorOut, "description": "The role does not allow this, or the CSRF token is missing"},
    404: {"model": ErrorOut, "description": "No such user or token"},
    409: {"model": ErrorOut, "description": "The name is taken, or no enabled admin would remain"},
    413: {"model": ErrorOut, "description": "The body is too large"},
}


def make_users_api(context: WebContext) -> APIRouter:
    """``/api/me...`` (agent and up) and ``/api/users...`` (admin)."""
    router = APIRouter(prefix="/api", tags=["users"], responses=ERRORS)
    auth = context.authenticator
    accounts = context.accounts

    @router.get("/me")
    async def me(user: AgentUser) -> MeOut:
        """Who the caller is."""
        return MeOut(id=user.id, username=user.username, role=user.role, agent_id=user.agent_id, via=user.via)

    @router.post("/me/password", status_code=204)
    async def change_my_password(body: PasswordChange, request: Request, user: AgentUser) -> Response:
        """Change one's own password; other page sessions of the user end."""
        keep = getattr(request.state.sb_principal, "session_hash", None)
        await accounts.change_own_password(
            user.id, body.current_password, body.new_password, keep_session=keep
        )
        return Response(status_code=204)

    @router.get("/me/tokens")
    async def my_tokens(user: AgentUser) -> list[TokenOut]:
        """The caller's API tokens (never their secrets)."""
        return [TokenOut.of(t) for t in await auth.list_tokens(user.id)]

    @router.post("/me/tokens", status_code=201)
    async def create_my_token(body: TokenCreate, user: AgentUser) -> NewTokenOut:
        """A new API token for the caller; the response holds its secret, once."""
        return NewTokenOut.of_new(await auth.create_token(user.id, body.name, body.expires_in_days))

    @router.delete("/me/tokens/{token_id}", status_code=204)
    async def revoke_my_token(token_id: TokenId, user: AgentUser) -> Response:
        """Revoke one of the caller's tokens."""
        await auth.revoke_token(user.id, token_id)
        return Response(status_code=204)

    @router.get("/users")
    async def list_users(
        admin: AdminUser,
        limit: Annotated[int, Query(ge=1, le=1000)] = 200,
        offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    ) -> list[UserOut]:
        """Every user, by name."""
        return [UserOut.of(u) for u in await accounts.list(limit=limit, offset=offset)]

    @router.post("/users", status_code=201)
    async def create_user(body: UserCreate, admin: AdminUser) -> UserOut:
        """Add a user (409 when the name is taken, 400 when a rule is broken)."""
        return UserOut.of(await accounts.add(body.username, body.password, body.role, body.agent_id))

    @router.get("/users/{user_id}")
    async def get_user(user_id: UserId, admin: AdminUser) -> UserOut:
        return UserOut.of(await accounts.get(user_id))

    @router.patch("/users/{user_id}")
    async def update_user(user_id: UserId, body: UserPatch, admin: AdminUser) -> UserOut:
        """Change role, agent link, disabled or password (409 if it would leave no enabled admin)."""
        changes = UserChanges(
            role=body.role,
            agent_id=body.agent_id or None,
            clear_agent_id=body.agent_id == "",
            disabled=body.disabled,
            password=body.password,
        )
        return UserOut.of(await accounts.change(user_id, changes, actor_id=admin.id))

    @router.delete("/users/{user_id}", status_code=204)
    async def delete_user(user_id: UserId, admin: AdminUser) -> Response:
        """Delete a user with their sessions and tokens."""
        await accounts.delete(user_id, actor_id=admin.id)
        return Response(status_code=204)

    @router.get("/users/{user_id}/tokens")
    async def user_tokens(user_id: UserId, admin: AdminUser) -> list[TokenOut]:
        await accounts.get(user_id)
        return [TokenOut.of(t) for t in await auth.list_tokens(user_id)]

    @router.post("/users/{user_id}/tokens", status_code=201)
    async def create_user_token(user_id: UserId, body: TokenCreate, admin: AdminUser) -> NewTokenOut:
        """A token for another user (e.g. a wall screen's account); the secret is in this response only."""
        return NewTokenOut.of_new(await auth.create_token(user_id, body.name, body.expires_in_days))

    @router.delete("/users/{user_id}/tokens/{token_id}", status_code=204)
    async def revoke_user_token(user_id: UserId, token_id: TokenId, admin: AdminUser) -> Response:
        await auth.revoke_token(user_id, token_id)
        return Response(status_code=204)

    return router
