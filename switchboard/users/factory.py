"""Build the users services from settings (the composition root and the CLI call this)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from argon2 import PasswordHasher
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from switchboard.clock import Clock
from switchboard.settings import WebSettings
from switchboard.users.accounts import UserAccounts
from switchboard.users.auth import Authenticator, AuthPolicy
from switchboard.users.passwords import PasswordHashing
from switchboard.users.store import UserStore
from switchboard.users.throttle import (
    FailureCounter,
    LoginThrottle,
    RedisFailureCounter,
    SqlFailureCounter,
    ThrottleLimits,
)


@dataclass
class UserServices:
    """Everything about users the web layer and the CLI need; ``close()`` stops the hashing threads."""

    store: UserStore
    passwords: PasswordHashing
    accounts: UserAccounts
    authenticator: Authenticator

    def close(self) -> None:
        self.passwords.close()


def build_user_services(
    settings: WebSettings,
    sessions: async_sessionmaker[AsyncSession],
    clock: Clock,
    *,
    redis: Redis | None = None,
    hasher: PasswordHasher | None = None,
) -> UserServices:
    """Users, sign-in and tokens on SQL; failed sign-ins counted in Redis when given (else in SQL)."""
    store = UserStore(sessions)
    passwords = PasswordHashing(hasher)
    sql_counter = SqlFailureCounter(sessions, clock)
    counter: FailureCounter = RedisFailureCounter(redis, settings.redis_key_prefix) if redis else sql_counter
    throttle = LoginThrottle(
        counter,
        ThrottleLimits(
            per_user_and_address=settings.login_max_failures,
            per_address=settings.login_ip_max_failures,
            window_seconds=settings.login_window_seconds,
        ),
        fallback=sql_counter if redis else None,
    )
    policy = AuthPolicy(
        session_idle=timedelta(minutes=settings.session_idle_minutes),
        session_max=timedelta(hours=settings.session_max_hours),
        token_default_days=settings.token_default_days,
        token_max_days=settings.token_max_days,
    )
    return UserServices(
        store=store,
        passwords=passwords,
        accounts=UserAccounts(store, passwords, clock, password_min_length=settings.password_min_length),
        authenticator=Authenticator(store, passwords, throttle, clock, policy),
    )
