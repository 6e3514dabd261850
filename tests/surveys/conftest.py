"""Fixtures for survey tests: a migrated-schema SQLite database, services on a ManualClock, a real Kannel
(bearerbox + smsbox, fake SMSC) and a real uvicorn webhook server on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import surveys.tables  # noqa: F401  (registers the tables)
from surveys.api import make_router
from surveys.factory import build_survey_service
from surveys.gateways.base import SmsGateway
from surveys.gateways.kannel import KannelGateway
from surveys.kannel_runner import (
    FakeSmscClient,
    KannelConfig,
    KannelNotFound,
    KannelProcess,
    SmppUpstream,
    find_kannel,
    free_port,
    reply_url,
)
from surveys.service import SurveyService
from switchboard.clock import ManualClock
from switchboard.db import create_engine, session_factory
from switchboard.orm import Base
from switchboard.settings import SurveysSettings

SECRET = "s3cret-Token_1"
# 10:00 in New York, 16:00 in Paris, 00:00 in Seoul (a Monday).
DAYTIME = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)
NY = "+12125550123"  # valid US (New York) number
PARIS = "+33612345678"
SEOUL = "+821012345678"
LONDON = "+447911123456"


def need_binary(found: bool, what: str) -> None:
    """Skip when a real server binary is missing locally; in CI (CI=true) fail loudly instead."""
    if found:
        return
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{what} is required in CI but was not found")
    pytest.skip(f"{what} not installed")


def need_kannel() -> None:
    """Kannel's boxes must be installed."""
    try:
        find_kannel()
        found = True
    except KannelNotFound:
        found = False
    need_binary(found, "Kannel (bearerbox/smsbox)")


def need_smpp34() -> None:
    """The smpp34 SMPP server package must be installed."""
    try:
        import smpp34  # noqa: F401

        found = True
    except ImportError:
        found = False
    need_binary(found, "smpp34 (pip install smpp34==1.5.0)")


def settings(**overrides: Any) -> SurveysSettings:
    """Survey settings for tests: several countries allowed, a known secret, loopback only."""
    base: dict[str, Any] = {
        "allowed_countries": ["US", "FR", "KR", "GB", "DE", "ES"],
        "webhook_secret": SECRET,
        "retry_initial": 30.0,
        "retry_max": 600.0,
        "send_timeout": 2.0,
        "poll_interval": 1.0,
    }
    base.update(overrides)
    return SurveysSettings(**base)


@pytest.fixture
def day_clock() -> ManualClock:
    """A ManualClock at 10:00 New York time."""
    return ManualClock(DAYTIME)


SURVEY_TABLES = [t for name, t in Base.metadata.tables.items() if name.startswith("survey")]


async def _create_tables(url: str, schema: str | None = None) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            if schema is not None:
                await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
                await conn.execute(text(f'SET search_path TO "{schema}"'))
            await conn.run_sync(lambda c: Base.metadata.create_all(c, tables=SURVEY_TABLES))
    finally:
        await engine.dispose()


async def _survey_database(
    url: str, schema: str | None = None
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    if schema is None:
        await _create_tables(url)
        engine = create_engine(url)
    else:
        # No fsync per commit: these rows need not survive a crash of the test machine.
        settings = {"search_path": schema, "synchronous_commit": "off"}
        engine = create_engine(url, connect_args={"server_settings": settings})
        async with engine.begin() as conn:
            for table in reversed(SURVEY_TABLES):  # DELETE is far cheaper than TRUNCATE on tiny tables
                await conn.execute(table.delete())
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def postgres_survey_schema(postgres_database_url: str) -> str:
    """The survey tables in a schema of their own on the session's PostgreSQL database (emptied per test)."""
    schema = f"surveys_{uuid.uuid4().hex[:10]}"
    asyncio.run(_create_tables(postgres_database_url, schema))
    return schema


@pytest.fixture
async def sqlite_sessions(tmp_path: Path) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """A fresh SQLite file database (WAL, busy timeout) with the survey tables."""
    async for sessions in _survey_database(f"sqlite+aiosqlite:///{tmp_path / 'surveys.db'}"):
        yield sessions


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def survey_database(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str | None]:
    """Where the survey tables are: a SQLite file, or the session's PostgreSQL schema for surveys."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'surveys.db'}", None
    return request.getfixturevalue("postgres_database_url"), request.getfixturevalue("postgres_survey_schema")


@pytest.fixture
async def sessions(
    survey_database: tuple[str, str | None],
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """The survey tables on SQLite, and again on PostgreSQL."""
    async for made in _survey_database(*survey_database):
        yield made


ServiceFactory = Callable[..., Awaitable[SurveyService]]


@pytest.fixture
async def make_service(
    sessions: async_sessionmaker[AsyncSession], day_clock: ManualClock
) -> AsyncIterator[ServiceFactory]:
    """Build (and open) services on the shared database and clock; all are closed afterwards."""
    made: list[SurveyService] = []

    async def make(
        gateway: SmsGateway | None = None, clock: ManualClock | None = None, **overrides: Any
    ) -> SurveyService:
        service = build_survey_service(settings(**overrides), sessions, clock or day_clock, gateway=gateway)
        await service.open()
        made.append(service)
        return service

    try:
        yield make
    finally:
        for service in made:
            await service.close()


@dataclass
class WebServer:
    """A uvicorn server on a loopback port."""

    port: int
    server: uvicorn.Server
    task: asyncio.Task[None]

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


async def start_web(app: FastAPI, port: int | None = None) -> WebServer:
    """Serve ``app`` with uvicorn on 127.0.0.1."""
    port = port or free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", lifespan="off", access_log=False
    )
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started or task.done():
            break
        await asyncio.sleep(0.01)
    if not server.started:
        task.cancel()
        raise RuntimeError("uvicorn did not start")
    return WebServer(port, server, task)


async def stop_web(web: WebServer) -> None:
    """Stop a uvicorn server started by start_web."""
    web.server.should_exit = True
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await asyncio.wait_for(web.task, 5)


@dataclass
class KannelStack:
    """A survey service sending through a real Kannel, its webhooks served by uvicorn."""

    service: SurveyService
    kannel: KannelProcess
    web: WebServer
    phone: FakeSmscClient | None
    clock: ManualClock


@pytest.fixture
async def kannel_stack(
    tmp_path: Path, sqlite_sessions: async_sessionmaker[AsyncSession], day_clock: ManualClock
) -> AsyncIterator[Callable[..., Awaitable[KannelStack]]]:
    """Start (on demand) webhook server + Kannel + service; everything is stopped by PID/handle at the end."""
    started: list[KannelStack] = []

    async def start(
        upstream: SmppUpstream | None = None, reply_post: bool = True, **overrides: Any
    ) -> KannelStack:
        need_kannel()
        web_port = free_port()
        config = KannelConfig(
            reply_url=reply_url(f"http://127.0.0.1:{web_port}/surveys/kannel/mo", SECRET, post=reply_post),
            reply_post=reply_post,
            upstream=upstream,
        )
        survey_settings = settings(
            gateway="kannel",
            kannel_sendsms_url=config.sendsms_url,
            kannel_username=config.username,
            kannel_password=config.password,
            kannel_dlr_url=f"http://127.0.0.1:{web_port}/surveys/kannel/dlr",
            **overrides,
        )
        service = build_survey_service(survey_settings, sqlite_sessions, day_clock)
        await service.open()
        app = FastAPI()
        app.include_router(make_router(service, survey_settings))
        web = await start_web(app, web_port)
        kannel = KannelProcess(config, tmp_path / f"kannel{len(started)}")
        stack = KannelStack(service, kannel, web, None, day_clock)
        started.append(stack)
        await kannel.start()
        if upstream is None:
            stack.phone = FakeSmscClient()
            await stack.phone.connect(config.fake_smsc_port)
        return stack

    try:
        yield start
    finally:
        for stack in started:
            if stack.phone is not None:
                await stack.phone.close()
            await stack.kannel.stop(grace=1.5)
            await stack.service.close()
            await stop_web(stack.web)


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 5.0) -> None:
    """Poll ``check`` (real time) until it holds; fail with a clear message otherwise."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not await check():
        if loop.time() > deadline:
            pytest.fail(f"condition not met within {within}s: {check.__name__}")
        await asyncio.sleep(0.02)


def kannel_gateway_for(url: str, *, timeout: float = 1.0, dlr_url: str = "") -> KannelGateway:
    """A Kannel gateway aimed at any URL (for error-injecting servers)."""
    return KannelGateway(
        sendsms_url=url, username="u", password="p", dlr_url=dlr_url, webhook_secret=SECRET, timeout=timeout
    )


@pytest.fixture
def kit() -> SimpleNamespace:
    """Helpers and constants for survey tests (test modules cannot import conftest under importlib mode)."""
    return SimpleNamespace(
        SECRET=SECRET,
        DAYTIME=DAYTIME,
        NY=NY,
        PARIS=PARIS,
        SEOUL=SEOUL,
        LONDON=LONDON,
        settings=settings,
        eventually=eventually,
        need_kannel=need_kannel,
        need_smpp34=need_smpp34,
        start_web=start_web,
        stop_web=stop_web,
        kannel_gateway_for=kannel_gateway_for,
    )
