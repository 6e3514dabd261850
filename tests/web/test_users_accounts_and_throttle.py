"""Users domain: argon2 hashing, name rules, the SQL store on SQLite and PostgreSQL, sign-in throttling."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis
from argon2 import PasswordHasher
from sqlalchemy.ext.asyncio import AsyncEngine

from switchboard.clock import ManualClock
from switchboard.db import session_factory
from switchboard.ids import new_id
from switchboard.settings import WebSettings
from switchboard.users.accounts import UserChanges
from switchboard.users.auth import LoginFailed, LoginThrottled
from switchboard.users.factory import build_user_services
from switchboard.users.model import (
    InvalidUserInput,
    LastAdminError,
    Role,
    UsernameTaken,
    normalize_username,
    username_key,
)
from switchboard.users.passwords import DEFAULT_HASHER_PARAMS, PasswordHashing
from switchboard.users.throttle import (
    CounterUnavailable,
    LoginThrottle,
    RedisFailureCounter,
    SqlFailureCounter,
    ThrottleLimits,
)
from tests.web.webkit import cheap_hasher


async def test_passwords_are_argon2id_hashes_that_verify_only_the_right_password() -> None:
    hashing = PasswordHashing()
    try:
        hashed = await hashing.hash("correct horse")
        assert hashed.startswith("$argon2id$")
        assert f"m={DEFAULT_HASHER_PARAMS['memory_cost']}" in hashed
        assert "correct horse" not in hashed
        assert await hashing.verify(hashed, "correct horse")
        assert not await hashing.verify(hashed, "correct horsE")
        assert not await hashing.verify("$2b$12$not-an-argon2-hash", "correct horse")
        assert await hashing.hash("correct horse") != hashed  # salted
        assert not hashing.needs_rehash(hashed)
        assert hashing.needs_rehash(cheap_hasher().hash("x"))
    finally:
        hashing.close()


@pytest.mark.parametrize(
    ("raw", "stored", "key"),
    [
        ("alice", "alice", "alice"),
        ("  Alice ", "Alice", "alice"),
        ("ＡＬＩＣＥ", "ALICE", "alice"),  # full-width letters fold to the same user
        ("<script>alert(1)</script>", "<script>alert(1)</script>", "<script>alert(1)</script>"),
        ("straße", "straße", "strasse"),
    ],
)
def test_user_names_are_normalized_and_compared_without_case(raw: str, stored: str, key: str) -> None:
    assert normalize_username(raw) == stored
    assert username_key(raw) == key


@pytest.mark.parametrize("raw", ["", "   ", "two words", "tab\there", "nul\x00", "x" * 65, "line\nbreak"])
def test_unusable_user_names_are_refused(raw: str) -> None:
    with pytest.raises(InvalidUserInput):
        normalize_username(raw)


@pytest.fixture
def services(db_engine: AsyncEngine, clock: ManualClock):
    made = build_user_services(WebSettings(), session_factory(db_engine), clock, hasher=cheap_hasher())
    yield made
    made.close()


async def test_store_keeps_users_sessions_and_tokens(services, clock: ManualClock) -> None:
    accounts, auth = services.accounts, services.authenticator
    boss = await accounts.add("Boss", "boss-password-1", Role.ADMIN)
    agent = await accounts.add("ann", "ann-password-1", Role.AGENT, "a-7")
    with pytest.raises(UsernameTaken):
        await accounts.add("BOSS", "other-password-1", Role.AGENT, "a-8")
    assert [u.username for u in await accounts.list()] == ["ann", "Boss"]
    result = await auth.login("ann", "ann-password-1", address="10.0.0.1", user_agent="tests")
    principal = await auth.session_principal(result.session_token)
    assert principal is not None and principal.user.agent_id == "a-7" and principal.via == "session"
    token = await auth.create_token(agent.id, "desk")
    assert (await auth.bearer_principal(token.secret)).user.id == agent.id
    await accounts.delete(agent.id, actor_id=boss.id)
    assert await auth.session_principal(result.session_token) is None
    assert await auth.bearer_principal(token.secret) is None


async def test_two_admins_demoting_each_other_at_once_leave_one_admin(services) -> None:
    accounts = services.accounts
    first = await accounts.add("root1", "root-password-1", Role.ADMIN)
    second = await accounts.add("root2", "root-password-2", Role.ADMIN)
    results = await asyncio.gather(
        accounts.change(first.id, UserChanges(role=Role.SUPERVISOR), actor_id=second.id),
        accounts.change(second.id, UserChanges(role=Role.SUPERVISOR), actor_id=first.id),
        return_exceptions=True,
    )
    refused = [r for r in results if isinstance(r, LastAdminError)]
    assert len(refused) == 1, results
    admins = [u for u in await accounts.list() if u.role is Role.ADMIN and not u.disabled]
    assert len(admins) == 1


async def test_sign_in_upgrades_a_hash_made_with_weaker_parameters(
    services, db_engine: AsyncEngine, clock
) -> None:
    await services.accounts.add("old", "old-password-1", Role.SUPERVISOR)
    stronger = build_user_services(
        WebSettings(), session_factory(db_engine), clock, hasher=PasswordHasher(**DEFAULT_HASHER_PARAMS)
    )
    try:
        await stronger.authenticator.login("old", "old-password-1", address="10.0.0.1")
        user = await stronger.accounts.by_username("old")
        upgraded = await stronger.store.password_hash(user.id)
        assert f"m={DEFAULT_HASHER_PARAMS['memory_cost']}" in upgraded
        await stronger.authenticator.login("old", "old-password-1", address="10.0.0.1")
    finally:
        stronger.close()


async def test_sql_counter_forgets_failures_after_the_window(
    db_engine: AsyncEngine, clock: ManualClock
) -> None:
    counter = SqlFailureCounter(session_factory(db_engine), clock)
    throttle = LoginThrottle(
        counter, ThrottleLimits(per_user_and_address=3, per_address=100, window_seconds=60)
    )
    for _ in range(3):
        await throttle.failed("ann", "10.0.0.1")
    wait = await throttle.retry_after("ann", "10.0.0.1")
    assert wait == pytest.approx(60, abs=1)
    await clock.advance(30)
    assert await throttle.retry_after("ann", "10.0.0.1") == pytest.approx(30, abs=1)
    assert await throttle.retry_after("ann", "10.0.0.2") is None
    await clock.advance(31)
    assert await throttle.retry_after("ann", "10.0.0.1") is None


async def test_two_controllers_share_one_redis_count(redis_client: aioredis.Redis) -> None:
    prefix = f"sbtest:{new_id()}"
    limits = ThrottleLimits(per_user_and_address=4, per_address=100, window_seconds=120)
    controller_a = LoginThrottle(RedisFailureCounter(redis_client, prefix), limits)
    controller_b = LoginThrottle(RedisFailureCounter(redis_client, prefix), limits)
    await controller_a.failed("ann", "10.0.0.1")
    await controller_b.failed("ann", "10.0.0.1")
    await controller_a.failed("ann", "10.0.0.1")
    assert await controller_b.retry_after("ann", "10.0.0.1") is None
    await controller_b.failed("ann", "10.0.0.1")
    assert 100 < await controller_a.retry_after("ann", "10.0.0.1") <= 120
    keys = [k.decode() async for k in redis_client.scan_iter(f"{prefix}:*")]
    assert keys and all("ann" not in k and "10.0.0.1" not in k for k in keys)  # hashed, no names at rest
    await controller_a.succeeded("ann", "10.0.0.1")
    assert await controller_b.retry_after("ann", "10.0.0.1") is None


async def test_redis_outage_falls_back_to_sql_so_the_limit_still_holds(
    db_engine: AsyncEngine, clock: ManualClock
) -> None:
    dead = aioredis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5, socket_timeout=0.5)
    try:
        with pytest.raises(CounterUnavailable):
            await RedisFailureCounter(dead, "sb").count("k", 60)
        throttle = LoginThrottle(
            RedisFailureCounter(dead, "sb"),
            ThrottleLimits(per_user_and_address=2, per_address=100, window_seconds=60),
            fallback=SqlFailureCounter(session_factory(db_engine), clock),
        )
        await throttle.failed("ann", "10.0.0.1")
        await throttle.failed("ann", "10.0.0.1")
        assert await throttle.retry_after("ann", "10.0.0.1") is not None
    finally:
        await dead.aclose()


async def test_throttled_sign_in_does_not_even_check_the_password(services) -> None:
    await services.accounts.add("ann", "ann-password-1", Role.SUPERVISOR)
    for _ in range(5):
        with pytest.raises(LoginFailed):
            await services.authenticator.login("ann", "guess", address="10.9.9.9")
    with pytest.raises(LoginThrottled) as throttled:
        await services.authenticator.login("ann", "ann-password-1", address="10.9.9.9")
    assert throttled.value.retry_after > 0
