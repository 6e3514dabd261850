"""User management: add, change, disable and delete users, with the rules that keep the system usable."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from switchboard.clock import Clock
from switchboard.ids import new_id
from switchboard.users.model import (
    InvalidUserInput,
    Role,
    User,
    UserNotFound,
    check_password,
    check_role_link,
    normalize_agent_id,
    normalize_username,
    username_key,
)
from switchboard.users.passwords import PasswordHashing
from switchboard.users.store import UNSET, UserStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class UserChanges:
    """Fields to change on a user; None leaves a field as it is (``clear_agent_id`` unlinks the agent)."""

    role: Role | None = None
    agent_id: str | None = None
    clear_agent_id: bool = False
    disabled: bool | None = None
    password: str | None = None


class UserAccounts:
    """Creates and changes users; every rule about a user's data is checked here."""

    def __init__(
        self, store: UserStore, passwords: PasswordHashing, clock: Clock, *, password_min_length: int = 10
    ) -> None:
        self.store = store
        self.passwords = passwords
        self.clock = clock
        self.password_min_length = password_min_length

    async def add(self, username: str, password: str, role: Role, agent_id: str | None = None) -> User:
        """Create a user; raises InvalidUserInput or UsernameTaken."""
        name = normalize_username(username)
        agent = normalize_agent_id(agent_id)
        check_role_link(role, agent)
        check_password(password, min_length=self.password_min_length)
        user = await self.store.add_user(
            user_id=new_id(),
            username=name,
            username_key=username_key(name),
            password_hash=await self.passwords.hash(password),
            role=role,
            agent_id=agent,
            now=self.clock.now(),
        )
        log.info("user added user_id=%s role=%s", user.id, role.value)
        return user

    async def get(self, user_id: str) -> User:
        user = await self.store.get_user(user_id)
        if user is None:
            raise UserNotFound("no such user")
        return user

    async def by_username(self, username: str) -> User:
        found = await self.store.find_by_username(username_key(username))
        if found is None:
            raise UserNotFound("no such user")
        return found.user

    async def list(self, *, limit: int = 1000, offset: int = 0) -> list[User]:
        return await self.store.list_users(limit=limit, offset=offset)

    async def change(self, user_id: str, changes: UserChanges, *, actor_id: str | None = None) -> User:
        """Apply ``changes``; a disabled user or a new password ends the user's page sessions.

        Raises UserNotFound, InvalidUserInput or LastAdminError (the change would leave no enabled admin).
        """
        current = await self.get(user_id)
        fields: dict[str, Any] = {}
        role = changes.role or current.role
        agent = current.agent_id
        if changes.clear_agent_id:
            agent = None
            fields["agent_id"] = None
        elif changes.agent_id is not None:
            agent = normalize_agent_id(changes.agent_id)
            fields["agent_id"] = agent
        check_role_link(role, agent)
        if changes.role is not None:
            fields["role"] = changes.role
        if changes.disabled is not None:
            if changes.disabled and actor_id == user_id:
                raise InvalidUserInput("you cannot disable yourself")
            fields["disabled"] = changes.disabled
        if changes.password is not None:
            check_password(changes.password, min_length=self.password_min_length)
            fields["password_hash"] = await self.passwords.hash(changes.password)
        updated = await self.store.update_user(
            user_id, now=self.clock.now(), **{k: fields.get(k, UNSET) for k in _FIELDS}
        )
        if updated is None:
            raise UserNotFound("no such user")
        if changes.disabled or changes.password is not None:
            await self.store.delete_sessions_of(user_id)
        log.info(
            "user changed user_id=%s actor=%s fields=%s", user_id, actor_id or "-", ",".join(sorted(fields))
        )
        return updated

    async def delete(self, user_id: str, *, actor_id: str | None = None) -> None:
        """Delete a user, their sessions and tokens; raises UserNotFound or LastAdminError."""
        if actor_id == user_id:
            raise InvalidUserInput("you cannot delete yourself")
        if not await self.store.delete_user(user_id):
            raise UserNotFound("no such user")
        log.info("user deleted user_id=%s actor=%s", user_id, actor_id or "-")

    async def change_own_password(
        self, user_id: str, current: str, new: str, *, keep_session: str | None = None
    ) -> None:
        """Change a password after checking the current one; other sessions of the user end."""
        stored = await self.store.password_hash(user_id)
        if stored is None:
            raise UserNotFound("no such user")
        if not await self.passwords.verify(stored, current):
            raise InvalidUserInput("the current password is wrong")
        check_password(new, min_length=self.password_min_length)
        await self.store.set_password_hash(user_id, await self.passwords.hash(new), self.clock.now())
        await self.store.delete_sessions_of(user_id, keep=keep_session)
        log.info("password changed user_id=%s", user_id)


_FIELDS = ("role", "agent_id", "disabled", "password_hash")
