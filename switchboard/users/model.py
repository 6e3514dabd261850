"""Users and roles: the typed data that travels between the store, the services and the web layer."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Role(StrEnum):
    """What a person may do; each role includes everything the roles below it may do."""

    AGENT = "agent"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        """Position in the hierarchy agent < supervisor < admin."""
        return _RANKS[self]

    def includes(self, other: Role) -> bool:
        """True when this role may do everything ``other`` may (admin includes supervisor and agent)."""
        return self.rank >= other.rank


_RANKS = {Role.AGENT: 0, Role.SUPERVISOR: 1, Role.ADMIN: 2}

USERNAME_MAX = 64
AGENT_ID_MAX = 64
TOKEN_NAME_MAX = 100
PASSWORD_MAX = 1024  # argon2 takes any length; the cap keeps a hostile body from costing CPU
_AGENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,63}$")


class UserError(ValueError):
    """A request about users that cannot be carried out; the message is safe to show to the requester."""


class InvalidUserInput(UserError):
    """A user name, password, role or agent id that breaks the rules."""


class UserNotFound(UserError):
    """No such user (or token)."""


class UsernameTaken(UserError):
    """Another user already has this name."""


class LastAdminError(UserError):
    """The change would leave no enabled admin, locking everyone out of user management."""


def normalize_username(raw: str) -> str:
    """The name as stored: NFKC-normalized and trimmed; raises InvalidUserInput when unusable.

    Any printable characters are allowed (pages escape them), but no spaces or control characters:
    a name appears in logs as ``username=...`` and must stay one token.
    """
    name = unicodedata.normalize("NFKC", raw or "").strip()
    if not name:
        raise InvalidUserInput("user name is empty")
    if len(name) > USERNAME_MAX:
        raise InvalidUserInput(f"user name is longer than {USERNAME_MAX} characters")
    if any(ch.isspace() or not ch.isprintable() for ch in name):
        raise InvalidUserInput("user name may not contain spaces or control characters")
    return name


def username_key(name: str) -> str:
    """The case-insensitive key that makes ``Alice`` and ``alice`` the same user."""
    return normalize_username(name).casefold()


def normalize_agent_id(raw: str | None) -> str | None:
    """An ACD agent id (opaque, like ``a-101``) or None; raises InvalidUserInput when malformed."""
    if raw is None or not raw.strip():
        return None
    value = raw.strip()
    if not _AGENT_ID.fullmatch(value):
        raise InvalidUserInput(
            "agent id must be 1-64 letters, digits or . _ : @ - and start with a letter or digit"
        )
    return value


def check_password(password: str, *, min_length: int) -> None:
    """Raise InvalidUserInput for a password too short, too long or blank."""
    if len(password) < min_length:
        raise InvalidUserInput(f"password must be at least {min_length} characters")
    if len(password) > PASSWORD_MAX:
        raise InvalidUserInput(f"password must be at most {PASSWORD_MAX} characters")
    if not password.strip():
        raise InvalidUserInput("password may not be only spaces")


def check_role_link(role: Role, agent_id: str | None) -> None:
    """An agent must be linked to the ACD agent whose calls they may see."""
    if role is Role.AGENT and agent_id is None:
        raise InvalidUserInput("an agent user needs the agent id of their ACD agent")


@dataclass(frozen=True)
class User:
    """A person who signs in to the pages or calls the API."""

    id: str
    username: str
    role: Role
    agent_id: str | None
    disabled: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class UserWithHash:
    """A user and their password hash: only the sign-in path sees the hash."""

    user: User
    password_hash: str


@dataclass(frozen=True)
class ApiToken:
    """An API token's public description; the secret is shown once at creation and never stored."""

    id: str
    user_id: str
    name: str
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    def active(self, now: datetime) -> bool:
        """Not revoked and not expired at ``now``."""
        return self.revoked_at is None and now < self.expires_at


@dataclass(frozen=True)
class NewToken:
    """A token just created: ``secret`` is the bearer value to hand to the client, once."""

    token: ApiToken
    secret: str


@dataclass(frozen=True)
class SessionRecord:
    """A page session as stored (its id only as a hash)."""

    id_hash: str
    user_id: str
    csrf_token: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class Principal:
    """Who a request is: the user and how they proved it."""

    user: User
    via: str  # "session" or "token"
    csrf_token: str | None = None  # the session's synchronizer token (sessions only)
    session_hash: str | None = None
    token_id: str | None = None
