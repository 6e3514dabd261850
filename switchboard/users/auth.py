"""Sign-in, page sessions and API tokens: who a request comes from, proved by a cookie or a bearer token.

Secrets (session ids, token secrets) are 256-bit random values handed to the client once; the database
keeps only their SHA-256, so a copy of it lets nobody in. Passwords are argon2id (see passwords.py).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from switchboard.clock import Clock
from switchboard.ids import new_id
from switchboard.users.model import (
    PASSWORD_MAX,
    TOKEN_NAME_MAX,
    ApiToken,
    InvalidUserInput,
    NewToken,
    Principal,
    SessionRecord,
    User,
    UserNotFound,
    username_key,
)
from switchboard.users.passwords import PasswordHashing
from switchboard.users.store import TokenLookup, UserStore
from switchboard.users.throttle import LoginThrottle

log = logging.getLogger(__name__)

TOKEN_PREFIX = "sbt_"
_TOKEN = re.compile(r"^sbt_([0-9A-HJKMNP-TV-Z]{26})_([A-Za-z0-9_-]{43})$")
_SESSION = re.compile(r"^[A-Za-z0-9_-]{43}$")


class LoginFailed(Exception):
    """Wrong user name or password (or a disabled user): one message for all, so names cannot be probed."""


class LoginThrottled(Exception):
    """Too many failures from this address; ``retry_after`` seconds until sign-in is accepted again."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"too many failed sign-ins; retry in {retry_after:.0f} s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class AuthPolicy:
    """Lifetimes of sessions and tokens."""

    session_idle: timedelta = timedelta(minutes=60)
    session_max: timedelta = timedelta(hours=12)
    token_default_days: int = 90
    token_max_days: int = 365
    # last-seen / last-used are written at most this often: not one write per request
    touch_interval: timedelta = timedelta(seconds=60)
    # A bearer token's lookup is reused this long (a wallboard polled many times a second costs one query).
    # A change made through this process's store drops it at once; one made by another controller sharing
    # the database is seen within this time.
    token_cache_seconds: float = 2.0
    token_cache_size: int = 1024


@dataclass(frozen=True)
class LoginResult:
    """A new page session: ``session_token`` goes into the cookie, ``csrf_token`` into the pages."""

    user: User
    session_token: str
    csrf_token: str
    expires_at: datetime


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode("ascii")).hexdigest()


class Authenticator:
    """Checks passwords, opens and resolves page sessions, issues and resolves API tokens."""

    def __init__(
        self,
        store: UserStore,
        passwords: PasswordHashing,
        throttle: LoginThrottle,
        clock: Clock,
        policy: AuthPolicy | None = None,
    ) -> None:
        self.store = store
        self.passwords = passwords
        self.throttle = throttle
        self.clock = clock
        self.policy = policy or AuthPolicy()
        self._tokens: dict[str, tuple[float, int, TokenLookup]] = {}

    # --- sign-in -----------------------------------------------------------------------------------

    async def login(self, username: str, password: str, *, address: str, user_agent: str = "") -> LoginResult:
        """Check the password and open a session; raises LoginThrottled or LoginFailed."""
        try:
            key = username_key(username)
        except InvalidUserInput:
            key = ""  # no such user can exist; still counted and still slow
        retry = await self.throttle.retry_after(key, address)
        if retry is not None:
            log.warning("sign-in refused: throttled address=%s retry_after=%.0f", address, retry)
            raise LoginThrottled(retry)
        found = await self.store.find_by_username(key) if key else None
        if found is None or len(password) > PASSWORD_MAX:
            await self.passwords.burn(password[:PASSWORD_MAX])
            ok = False
        else:
            ok = await self.passwords.verify(found.password_hash, password)
        if not ok or found is None or found.user.disabled:
            await self.throttle.failed(key, address)
            log.warning(
                "sign-in failed address=%s user_id=%s reason=%s",
                address,
                found.user.id if found else "-",
                "disabled" if ok and found else "bad credentials",
            )
            raise LoginFailed("wrong user name or password")
        await self.throttle.succeeded(key, address)
        user = found.user
        if self.passwords.needs_rehash(found.password_hash):
            await self.store.set_password_hash(user.id, await self.passwords.hash(password), self.clock.now())
        result = await self.open_session(user, address=address, user_agent=user_agent)
        log.info("signed in user_id=%s role=%s address=%s", user.id, user.role.value, address)
        return result

    async def open_session(self, user: User, *, address: str = "", user_agent: str = "") -> LoginResult:
        """A new page session for ``user`` (sign-in has been checked by the caller)."""
        now = self.clock.now()
        await self.store.purge_sessions(now=now, idle_before=now - self.policy.session_idle)
        token = secrets.token_urlsafe(32)
        record = SessionRecord(
            id_hash=_sha256(token),
            user_id=user.id,
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            last_seen_at=now,
            expires_at=now + self.policy.session_max,
        )
        await self.store.add_session(record, client_ip=address, user_agent=user_agent)
        return LoginResult(user, token, record.csrf_token, record.expires_at)

    async def session_principal(self, token: str) -> Principal | None:
        """Who holds this session cookie; None when unknown, ended, idle too long or the user is disabled."""
        if not _SESSION.fullmatch(token):
            return None
        id_hash = _sha256(token)
        found = await self.store.session_with_user(id_hash)
        if found is None:
            return None
        record, user = found
        now = self.clock.now()
        if now >= record.expires_at or now - record.last_seen_at >= self.policy.session_idle:
            await self.store.delete_session(id_hash)
            log.info("session expired user_id=%s", user.id)
            return None
        if user.disabled:
            return None
        if now - record.last_seen_at >= self.policy.touch_interval:
            await self.store.touch_session(id_hash, now)
        return Principal(user=user, via="session", csrf_token=record.csrf_token, session_hash=id_hash)

    async def logout(self, token: str) -> None:
        """End the session behind this cookie value (unknown values are ignored)."""
        if _SESSION.fullmatch(token):
            await self.store.delete_session(_sha256(token))

    # --- API tokens --------------------------------------------------------------------------------

    async def bearer_principal(self, bearer: str) -> Principal | None:
        """Who holds this API token; None when malformed, unknown, revoked, expired or its user disabled."""
        match = _TOKEN.fullmatch(bearer)
        if match is None:
            return None
        token_id, secret = match.groups()
        found = await self._token_lookup(token_id)
        if found is None or not hmac.compare_digest(found.secret_hash, _sha256(secret)):
            return None
        now = self.clock.now()
        if not found.token.active(now) or found.user.disabled:
            return None
        last = found.token.last_used_at
        if last is None or now - last >= self.policy.touch_interval:
            await self.store.touch_token(token_id, now)
            self._tokens.pop(token_id, None)
        return Principal(user=found.user, via="token", token_id=token_id)

    async def _token_lookup(self, token_id: str) -> TokenLookup | None:
        """The token's row and owner, from a cache at most ``token_cache_seconds`` old."""
        changes = self.store.changes
        cached = self._tokens.get(token_id)
        ttl = self.policy.token_cache_seconds
        if cached is not None and cached[1] == changes and self.clock.monotonic() - cached[0] < ttl:
            return cached[2]
        started = self.clock.monotonic()
        found = await self.store.token_with_user(token_id)
        if found is not None and self.store.changes == changes and ttl > 0:
            if len(self._tokens) >= self.policy.token_cache_size:
                self._tokens.clear()
            self._tokens[token_id] = (started, changes, found)
        return found

    async def create_token(self, user_id: str, name: str, days: int | None = None) -> NewToken:
        """A new API token for the user; the secret in the result is shown once and never stored."""
        name = " ".join(name.split())
        if not name or len(name) > TOKEN_NAME_MAX or not name.isprintable():
            raise InvalidUserInput(f"token name must be 1-{TOKEN_NAME_MAX} printable characters")
        days = self.policy.token_default_days if days is None else days
        if not 1 <= days <= self.policy.token_max_days:
            raise InvalidUserInput(f"token lifetime must be 1-{self.policy.token_max_days} days")
        if await self.store.get_user(user_id) is None:
            raise UserNotFound("no such user")
        now = self.clock.now()
        token = ApiToken(
            id=new_id(),
            user_id=user_id,
            name=name,
            created_at=now,
            expires_at=now + timedelta(days=days),
            last_used_at=None,
            revoked_at=None,
        )
        secret = secrets.token_urlsafe(32)
        await self.store.add_token(token, _sha256(secret))
        log.info("api token created user_id=%s token_id=%s days=%d", user_id, token.id, days)
        return NewToken(token, f"{TOKEN_PREFIX}{token.id}_{secret}")

    async def list_tokens(self, user_id: str) -> list[ApiToken]:
        return await self.store.list_tokens(user_id)

    async def revoke_token(self, user_id: str, token_id: str) -> None:
        """Revoke one of the user's tokens; raises UserNotFound when the user has no such token."""
        if not await self.store.revoke_token(user_id, token_id, self.clock.now()):
            raise UserNotFound("no such token")
        log.info("api token revoked user_id=%s token_id=%s", user_id, token_id)
