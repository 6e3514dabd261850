"""ACD API fixtures: the real web app (shell, roles, users) with the ACD routers on SQL and Redis.

``acd_api`` runs each test on SQLite and on PostgreSQL (the ``database_url`` fixture); ``acd_api_lite`` on a
copy of a migrated SQLite file only. Both use the real Redis, a ManualClock and one user per role: agents
``agent1`` (ACD agent a1) and ``agent2`` (a2), ``supervisor1`` and ``admin1``, each with an API token.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from acd.api import make_acd_routers
from acd.metrics_io import AcdMetrics
from acd.model import AcdConfig
from acd.repository import AcdRepository
from acd.service import AcdService
from acd.store import AcdStore
from switchboard.clock import ManualClock
from switchboard.ids import new_id
from switchboard.settings import AcdSettings, Settings
from switchboard.users.factory import UserServices, build_user_services
from switchboard.users.model import Role
from switchboard.web import require_role
from switchboard.web.app import build_web_context, create_web_app
from switchboard.web.auth import CONTEXT_ATTR
from tests.acd.conftest import FakeAsterisk, make_config
from tests.conftest import _truncate_all
from tests.web.webkit import cheap_hasher

PASSWORD = "long-enough-password-1"


@dataclass
class ApiUser:
    username: str
    role: Role
    agent_id: str | None
    token: str

    @property
    def bearer(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token}"}


@dataclass
class AcdApiKit:
    """The app under test and what is behind it."""

    app: FastAPI
    service: AcdService
    repository: AcdRepository
    metrics: AcdMetrics
    sessions: async_sessionmaker[AsyncSession]
    users_services: UserServices
    clock: ManualClock
    users: dict[str, ApiUser]

    @property
    def store(self) -> AcdStore:
        return self.service.store

    def client(self) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self.app, client=("127.0.0.1", 40000))
        return httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000")

    def auth(self, who: str) -> dict[str, str]:
        return self.users[who].bearer

    async def request(self, who: str | None, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {**kwargs.pop("headers", {}), **(self.auth(who) if who else {})}
        async with self.client() as client:
            return await client.request(method, path, headers=headers, **kwargs)


class Retarget:
    """Forwards every attribute to the current test's object, so one app can serve every test."""

    def __init__(self) -> None:
        object.__setattr__(self, "_target", None)

    def point_at(self, target: object) -> None:
        object.__setattr__(self, "_target", target)

    def __getattr__(self, name: str) -> Any:
        return getattr(object.__getattribute__(self, "_target"), name)


@dataclass
class SharedApp:
    """The ACD API built once per session: building the routes costs ~0.7 s, far more than a test.

    The routers reach the test's service, repository and metrics through Retarget proxies, and each
    test installs its own WebContext (users on its own database); the app itself holds no connection.
    """

    app: FastAPI
    service: Retarget
    repository: Retarget
    metrics: Retarget


_SHARED: list[SharedApp] = []


def shared_app(settings: Settings, users_services: UserServices) -> SharedApp:
    if not _SHARED:
        service, repository, metrics = Retarget(), Retarget(), Retarget()
        routers = make_acd_routers(service, repository, metrics, require_role=require_role)  # type: ignore[arg-type]
        app = create_web_app(settings, users_services, routers=routers)
        _SHARED.append(SharedApp(app, service, repository, metrics))
    return _SHARED[0]


async def build_kit(
    engine: AsyncEngine,
    database_url: str,
    redis: aioredis.Redis,
    clock: ManualClock,
    config: AcdConfig | None = None,
    acd_settings: AcdSettings | None = None,
) -> AcdApiKit:
    """The web app with the ACD routers, pointed at this database, a fresh Redis key prefix and clock."""
    from switchboard.db import session_factory

    sessions = session_factory(engine)
    repository = AcdRepository(sessions)
    await repository.save_config(config or make_config())
    prefix = f"sbtest-api-{new_id()[-8:].lower()}"
    acd_settings = acd_settings or AcdSettings(key_prefix=prefix)
    store = AcdStore(redis, acd_settings.key_prefix, origin="api-test")
    service = AcdService(store, FakeAsterisk(), clock, acd_settings, repository=repository, listen=False)
    await service.load()
    metrics = AcdMetrics(service, sessions, clock)
    settings = Settings(database={"url": database_url}, http={"host": "127.0.0.1", "port": 0})
    users_services = build_user_services(settings.web, sessions, clock, hasher=cheap_hasher())
    users: dict[str, ApiUser] = {}
    for username, role, agent_id in (
        ("agent1", Role.AGENT, "a1"),
        ("agent2", Role.AGENT, "a2"),
        ("supervisor1", Role.SUPERVISOR, None),
        ("admin1", Role.ADMIN, None),
    ):
        user = await users_services.accounts.add(username, PASSWORD, role, agent_id)
        token = await users_services.authenticator.create_token(user.id, "tests")
        users[username] = ApiUser(username, role, agent_id, token.secret)
    shared = shared_app(settings, users_services)
    shared.service.point_at(service)
    shared.repository.point_at(repository)
    shared.metrics.point_at(metrics)
    setattr(shared.app.state, CONTEXT_ATTR, build_web_context(settings, users_services))
    return AcdApiKit(shared.app, service, repository, metrics, sessions, users_services, clock, users)


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    """The real Redis on database 13, never flushed: other suites (and concurrent runs of this one) flush
    database 9 before each test, while every kit here uses a key prefix of its own and deletes it after."""
    url = redis_url.replace("/9", "/13") if redis_url.endswith("/9") else redis_url.replace("db=9", "db=13")
    client = aioredis.from_url(url, decode_responses=False)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def acd_api(
    database_url: str,
    migrated_sqlite_template: Path,
    tmp_path: Path,
    _migrated: set[str],
    redis_client: aioredis.Redis,
    clock: ManualClock,
) -> AsyncIterator[AcdApiKit]:
    """The app on SQLite and on PostgreSQL (tests where the SQL repository matters)."""
    from switchboard.db import create_engine, upgrade

    if database_url.startswith("sqlite"):
        path = tmp_path / "acd-api.db"
        shutil.copyfile(migrated_sqlite_template, path)  # much faster than migrating each test's file
        database_url = f"sqlite+aiosqlite:///{path}"
    elif database_url not in _migrated:
        await upgrade(database_url)
        _migrated.add(database_url)
    engine = create_engine(database_url)
    kit = await build_kit(engine, database_url, redis_client, clock)
    try:
        yield kit
    finally:
        await kit.store.clear()
        kit.users_services.close()
        if engine.dialect.name == "postgresql":
            await _truncate_all(engine)
        await engine.dispose()


@pytest.fixture(scope="session")
def migrated_sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file upgraded to every head once; tests copy it instead of migrating again."""
    from switchboard.db import upgrade

    path = tmp_path_factory.mktemp("acd-api-template") / "template.db"
    asyncio.run(upgrade(f"sqlite+aiosqlite:///{path}"))
    return path


@pytest.fixture
async def acd_api_lite(
    migrated_sqlite_template: Path, tmp_path: Path, redis_client: aioredis.Redis, clock: ManualClock
) -> AsyncIterator[AcdApiKit]:
    """The app on a SQLite copy only (tests about agents' live state, where SQL plays no part)."""
    from switchboard.db import create_engine

    path = tmp_path / "acd-api.db"
    shutil.copyfile(migrated_sqlite_template, path)
    url = f"sqlite+aiosqlite:///{path}"
    engine = create_engine(url)
    kit = await build_kit(engine, url, redis_client, clock)
    try:
        yield kit
    finally:
        await kit.store.clear()
        kit.users_services.close()
        await engine.dispose()
