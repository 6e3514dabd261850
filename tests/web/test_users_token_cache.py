"""Token lookups are reused briefly: a poller costs one query, and a revocation is never missed for long."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from switchboard.clock import ManualClock
from switchboard.db import session_factory
from switchboard.settings import WebSettings
from switchboard.users.accounts import UserChanges
from switchboard.users.factory import UserServices, build_user_services
from switchboard.users.model import Role
from tests.web.webkit import cheap_hasher


@pytest.fixture
def controllers(db_engine: AsyncEngine, clock: ManualClock) -> Iterator[tuple[UserServices, UserServices]]:
    """Two controllers' user services on one database."""
    made = [build_user_services(WebSettings(), session_factory(db_engine), clock, hasher=cheap_hasher())
            for _ in range(2)]  # fmt: skip
    yield made[0], made[1]
    for services in made:
        services.close()


def count_lookups(services: UserServices) -> list[str]:
    calls: list[str] = []
    original = services.store.token_with_user

    async def counted(token_id: str):  # type: ignore[no-untyped-def]
        calls.append(token_id)
        return await original(token_id)

    services.store.token_with_user = counted  # type: ignore[method-assign]
    return calls


async def test_a_polling_client_costs_one_lookup_per_interval(controllers, clock: ManualClock) -> None:
    here, _ = controllers
    boss = await here.accounts.add("boss", "boss-password-1", Role.SUPERVISOR)
    token = await here.authenticator.create_token(boss.id, "wallboard")
    lookups = count_lookups(here)
    for _ in range(50):
        assert (await here.authenticator.bearer_principal(token.secret)).user.id == boss.id
    assert len(lookups) <= 2  # the first, and one more after the last-used time is written
    before = len(lookups)
    await clock.advance(here.authenticator.policy.token_cache_seconds + 0.1)
    await here.authenticator.bearer_principal(token.secret)
    assert len(lookups) == before + 1  # a fresh lookup once the entry aged


async def test_a_wrong_secret_is_refused_even_when_the_token_is_cached(controllers) -> None:
    here, _ = controllers
    boss = await here.accounts.add("boss", "boss-password-1", Role.SUPERVISOR)
    token = await here.authenticator.create_token(boss.id, "wallboard")
    assert await here.authenticator.bearer_principal(token.secret) is not None
    forged = token.secret[:-4] + ("AAAA" if not token.secret.endswith("AAAA") else "BBBB")
    assert await here.authenticator.bearer_principal(forged) is None


async def test_changes_made_here_apply_at_once(controllers) -> None:
    here, _ = controllers
    admin = await here.accounts.add("root", "root-password-1", Role.ADMIN)
    boss = await here.accounts.add("boss", "boss-password-1", Role.SUPERVISOR)
    one = await here.authenticator.create_token(boss.id, "wallboard")
    two = await here.authenticator.create_token(boss.id, "script")
    auth = here.authenticator
    assert await auth.bearer_principal(one.secret) is not None
    assert await auth.bearer_principal(two.secret) is not None
    await auth.revoke_token(boss.id, one.token.id)
    assert await auth.bearer_principal(one.secret) is None
    await here.accounts.change(boss.id, UserChanges(role=Role.AGENT, agent_id="a-1"), actor_id=admin.id)
    assert (await auth.bearer_principal(two.secret)).user.role is Role.AGENT
    await here.accounts.change(boss.id, UserChanges(disabled=True), actor_id=admin.id)
    assert await auth.bearer_principal(two.secret) is None


async def test_a_revocation_by_another_controller_is_seen_within_the_cache_time(
    controllers, clock: ManualClock
) -> None:
    here, there = controllers
    boss = await here.accounts.add("boss", "boss-password-1", Role.SUPERVISOR)
    token = await here.authenticator.create_token(boss.id, "wallboard")
    assert await here.authenticator.bearer_principal(token.secret) is not None
    await there.authenticator.revoke_token(boss.id, token.token.id)
    await clock.advance(here.authenticator.policy.token_cache_seconds + 0.1)
    assert await here.authenticator.bearer_principal(token.secret) is None
