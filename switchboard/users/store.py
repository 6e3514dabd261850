"""SQL persistence of users, page sessions and API tokens (the only module here that speaks SQLAlchemy)."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from switchboard.users.model import (
    ApiToken,
    LastAdminError,
    Role,
    SessionRecord,
    User,
    UsernameTaken,
    UserWithHash,
)
from switchboard.users.tables import ApiTokenRow, UserRow, UserSessionRow


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()
T = TypeVar("T")


def _user(row: UserRow) -> User:
    return User(
        id=row.id,
        username=row.username,
        role=Role(row.role),
        agent_id=row.agent_id,
        disabled=row.disabled,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _session(row: UserSessionRow) -> SessionRecord:
    return SessionRecord(
        id_hash=row.id_hash,
        user_id=row.user_id,
        csrf_token=row.csrf_token,
        created_at=row.created_at,
        last_seen_at=row.last_seen_at,
        expires_at=row.expires_at,
    )


def _token(row: ApiTokenRow) -> ApiToken:
    return ApiToken(
        id=row.id,
        user_id=row.user_id,
        name=row.name,
        created_at=row.created_at,
        expires_at=row.expires_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


@dataclass(frozen=True)
class TokenLookup:
    """A token row, its secret's hash and its owner, for the bearer check."""

    token: ApiToken
    secret_hash: str
    user: User


def _changes_auth(write: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
    """Bump ``store.changes`` before and after a write: a cached lookup that overlapped it is dropped."""

    @functools.wraps(write)
    async def wrapped(self: UserStore, *args: Any, **kwargs: Any) -> T:
        self.changes += 1
        try:
            return await write(self, *args, **kwargs)
        finally:
            self.changes += 1

    return wrapped


class UserStore:
    """Users, sessions and tokens in the SQL database."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        # Bumped by every write that can change whom a token belongs to or whether it is valid, so readers
        # that cache lookups (the Authenticator) drop what they hold after a change made here.
        self.changes = 0

    # --- users -------------------------------------------------------------------------------------

    async def add_user(
        self,
        *,
        user_id: str,
        username: str,
        username_key: str,
        password_hash: str,
        role: Role,
        agent_id: str | None,
        now: datetime,
    ) -> User:
        """Insert a user; raises UsernameTaken when the (case-insensitive) name exists."""
        row = UserRow(
            id=user_id,
            username=username,
            username_key=username_key,
            password_hash=password_hash,
            role=role.value,
            agent_id=agent_id,
            disabled=False,
            created_at=now,
            updated_at=now,
        )
        try:
            async with self._sessions.begin() as session:
                session.add(row)
        except IntegrityError:
            raise UsernameTaken(f"a user named {username!r} already exists") from None
        return _user(row)

    async def get_user(self, user_id: str) -> User | None:
        async with self._sessions() as session:
            row = await session.get(UserRow, user_id)
            return _user(row) if row else None

    async def find_by_username(self, key: str) -> UserWithHash | None:
        """The user with this casefolded name, with their password hash."""
        async with self._sessions() as session:
            row = (
                await session.execute(select(UserRow).where(UserRow.username_key == key))
            ).scalar_one_or_none()
            return UserWithHash(_user(row), row.password_hash) if row else None

    async def password_hash(self, user_id: str) -> str | None:
        async with self._sessions() as session:
            return (
                await session.execute(select(UserRow.password_hash).where(UserRow.id == user_id))
            ).scalar_one_or_none()

    async def list_users(self, *, limit: int = 1000, offset: int = 0) -> list[User]:
        async with self._sessions() as session:
            rows = (
                await session.execute(
                    select(UserRow).order_by(UserRow.username_key).limit(limit).offset(offset)
                )
            ).scalars()
            return [_user(r) for r in rows]

    async def count_users(self) -> int:
        async with self._sessions() as session:
            return int((await session.execute(select(func.count()).select_from(UserRow))).scalar_one())

    @_changes_auth
    async def update_user(
        self,
        user_id: str,
        *,
        now: datetime,
        role: Role = UNSET,
        agent_id: str | None = UNSET,
        disabled: bool = UNSET,
        password_hash: str = UNSET,
    ) -> User | None:
        """Change the given fields; None when no such user. Refuses to leave no enabled admin."""
        async with self._sessions.begin() as session:
            was_admin = await self._lock_admins(session, user_id)
            row = await session.get(UserRow, user_id)
            if row is None:
                return None
            if role is not UNSET:
                row.role = role.value
            if agent_id is not UNSET:
                row.agent_id = agent_id
            if disabled is not UNSET:
                row.disabled = disabled
            if password_hash is not UNSET:
                row.password_hash = password_hash
            row.updated_at = now
            await session.flush()
            if was_admin:
                await self._check_an_admin_remains(session)
            return _user(row)

    @_changes_auth
    async def set_password_hash(self, user_id: str, password_hash: str, now: datetime) -> None:
        async with self._sessions.begin() as session:
            await session.execute(
                update(UserRow)
                .where(UserRow.id == user_id)
                .values(password_hash=password_hash, updated_at=now)
            )

    @_changes_auth
    async def delete_user(self, user_id: str) -> bool:
        """Delete a user with their sessions and tokens; refuses to delete the last enabled admin."""
        async with self._sessions.begin() as session:
            was_admin = await self._lock_admins(session, user_id)
            # Explicit deletes: SQLite enforces ON DELETE CASCADE only with its pragma on.
            await session.execute(delete(UserSessionRow).where(UserSessionRow.user_id == user_id))
            await session.execute(delete(ApiTokenRow).where(ApiTokenRow.user_id == user_id))
            result = await session.execute(delete(UserRow).where(UserRow.id == user_id))
            if was_admin:
                await self._check_an_admin_remains(session)
            return bool(result.rowcount)

    @staticmethod
    async def _lock_admins(session: AsyncSession, user_id: str) -> bool:
        """Lock the enabled admins' rows; True when ``user_id`` is one of them.

        PostgreSQL: a concurrent change of another admin waits here, then sees this one's result.
        SQLite ignores FOR UPDATE, but its writers are serialized, and the check after the write
        (``_check_an_admin_remains``) runs inside the write transaction.
        """
        admins = (
            await session.execute(
                select(UserRow.id)
                .where(UserRow.role == Role.ADMIN.value, UserRow.disabled.is_(False))
                .with_for_update()
            )
        ).scalars()
        return user_id in set(admins)

    @staticmethod
    async def _check_an_admin_remains(session: AsyncSession) -> None:
        remaining = (
            await session.execute(
                select(func.count())
                .select_from(UserRow)
                .where(UserRow.role == Role.ADMIN.value, UserRow.disabled.is_(False))
            )
        ).scalar_one()
        if not remaining:
            raise LastAdminError("this is the only enabled admin; make another admin first")

    # --- sessions ----------------------------------------------------------------------------------

    async def add_session(self, record: SessionRecord, *, client_ip: str, user_agent: str) -> None:
        async with self._sessions.begin() as session:
            session.add(
                UserSessionRow(
                    id_hash=record.id_hash,
                    user_id=record.user_id,
                    csrf_token=record.csrf_token,
                    created_at=record.created_at,
                    last_seen_at=record.last_seen_at,
                    expires_at=record.expires_at,
                    client_ip=client_ip[:45],
                    user_agent=user_agent[:200],
                )
            )

    async def session_with_user(self, id_hash: str) -> tuple[SessionRecord, User] | None:
        async with self._sessions() as session:
            found = (
                await session.execute(
                    select(UserSessionRow, UserRow)
                    .join(UserRow, UserRow.id == UserSessionRow.user_id)
                    .where(UserSessionRow.id_hash == id_hash)
                )
            ).one_or_none()
            return (_session(found[0]), _user(found[1])) if found else None

    async def touch_session(self, id_hash: str, now: datetime) -> None:
        async with self._sessions.begin() as session:
            await session.execute(
                update(UserSessionRow).where(UserSessionRow.id_hash == id_hash).values(last_seen_at=now)
            )

    async def delete_session(self, id_hash: str) -> None:
        async with self._sessions.begin() as session:
            await session.execute(delete(UserSessionRow).where(UserSessionRow.id_hash == id_hash))

    async def delete_sessions_of(self, user_id: str, *, keep: str | None = None) -> int:
        async with self._sessions.begin() as session:
            query = delete(UserSessionRow).where(UserSessionRow.user_id == user_id)
            if keep is not None:
                query = query.where(UserSessionRow.id_hash != keep)
            return int((await session.execute(query)).rowcount or 0)

    async def purge_sessions(self, *, now: datetime, idle_before: datetime) -> int:
        """Delete sessions past their end or unused since ``idle_before``."""
        async with self._sessions.begin() as session:
            result = await session.execute(
                delete(UserSessionRow).where(
                    (UserSessionRow.expires_at <= now) | (UserSessionRow.last_seen_at <= idle_before)
                )
            )
            return int(result.rowcount or 0)

    # --- API tokens --------------------------------------------------------------------------------

    async def add_token(self, token: ApiToken, secret_hash: str) -> None:
        async with self._sessions.begin() as session:
            session.add(
                ApiTokenRow(
                    id=token.id,
                    user_id=token.user_id,
                    name=token.name,
                    secret_hash=secret_hash,
                    created_at=token.created_at,
                    expires_at=token.expires_at,
                    last_used_at=None,
                    revoked_at=None,
                )
            )

    async def token_with_user(self, token_id: str) -> TokenLookup | None:
        async with self._sessions() as session:
            found = (
                await session.execute(
                    select(ApiTokenRow, UserRow)
                    .join(UserRow, UserRow.id == ApiTokenRow.user_id)
                    .where(ApiTokenRow.id == token_id)
                )
            ).one_or_none()
            return TokenLookup(_token(found[0]), found[0].secret_hash, _user(found[1])) if found else None

    async def list_tokens(self, user_id: str) -> list[ApiToken]:
        async with self._sessions() as session:
            rows = (
                await session.execute(
                    select(ApiTokenRow).where(ApiTokenRow.user_id == user_id).order_by(ApiTokenRow.created_at)
                )
            ).scalars()
            return [_token(r) for r in rows]

    @_changes_auth
    async def revoke_token(self, user_id: str, token_id: str, now: datetime) -> bool:
        """Revoke one of the user's tokens; False when the user has no such token."""
        async with self._sessions.begin() as session:
            row = await session.get(ApiTokenRow, token_id)
            if row is None or row.user_id != user_id:
                return False
            if row.revoked_at is None:
                row.revoked_at = now
            return True

    async def touch_token(self, token_id: str, now: datetime) -> None:
        async with self._sessions.begin() as session:
            await session.execute(
                update(ApiTokenRow).where(ApiTokenRow.id == token_id).values(last_used_at=now)
            )
