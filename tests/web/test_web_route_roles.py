"""Every route states its role, and the whole route table proves it: nobody gets in without the right role.

The walk covers every route of the composition root's app (switchboard.app.build_http_app: the shell,
the ACD API, the pages, recordings, surveys), every method, without credentials, with a bad token, and as
each role by bearer token and by session cookie (with and without the CSRF token).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI

from sim.emulator import AsteriskEmulator
from switchboard.app import build_http_app, controller
from switchboard.clock import ManualClock, SystemClock
from switchboard.db import create_engine, session_factory
from switchboard.users.factory import UserServices, build_user_services
from switchboard.users.model import Role
from switchboard.web import AgentUser, require_role, role_router
from switchboard.web.app import create_web_app
from switchboard.web.routes import DEFAULT_PUBLIC_PATHS, UndeclaredRouteError, check_route_roles
from tests.web.pages.pages_harness import controller_settings
from tests.web.webkit import Seeded, cheap_hasher, seed_users, web_settings

DUMMY_ID = "01JZZZZZZZZZZZZZZZZZZZZZZZ"
PARAM = re.compile(r"\{[^}]+\}")
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
# Public on purpose; anything else without a role must fail the walk.
EXPECTED_PUBLIC = {"/health", "/login", "/static", "/surveys/kannel/mo", "/surveys/kannel/dlr"}


class FullApp:
    def __init__(self, app: FastAPI, services: UserServices, users: dict[Role, Seeded]) -> None:
        self.app = app
        self.services = services
        self.users = users

    async def fresh_session(self, role: Role) -> None:
        """A new page session for the role's user (an admitted call may have been POST /logout)."""
        user = self.users[role]
        opened = await self.services.authenticator.open_session(user.user)
        user.session, user.csrf = opened.session_token, opened.csrf_token

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://127.0.0.1:8000"
        )


@pytest.fixture
async def full_app(tmp_path: Path, redis_url: str) -> AsyncIterator[FullApp]:
    """The composition root's own app (build_http_app on a running controller): every router it mounts."""
    clock = SystemClock()
    emulator = AsteriskEmulator(clock)
    await emulator.start()
    db = "/13" if redis_url.endswith("/9") else ""
    settings = controller_settings(
        tmp_path, redis_url.replace("/9", db) if db else redis_url, emulator.ami_port
    )
    try:
        async with controller(settings, clock) as ctl:
            services = build_user_services(settings.web, ctl.sessions, clock, hasher=cheap_hasher())
            app = build_http_app(ctl)
            try:
                yield FullApp(app, services, await seed_users(services))
            finally:
                services.close()
                await ctl.acd.store.clear()
    finally:
        await emulator.stop()


def session_cookie(user: Seeded) -> str:
    return f"sb_session={user.session}"


def concrete(path: str) -> str:
    return PARAM.sub(DUMMY_ID, path)


async def test_every_route_refuses_callers_without_the_right_role(full_app: FullApp) -> None:
    table = check_route_roles(full_app.app)
    public = {entry.path for entry in table if entry.public}
    assert public == EXPECTED_PUBLIC
    guarded = [entry for entry in table if not entry.public]
    minimums = {entry.guard.minimum for entry in guarded if entry.guard}
    assert minimums == set(Role), "the walk should meet routes of every role"
    assert len(guarded) >= 20
    checked = 0
    async with full_app.client() as client:
        for entry in guarded:
            assert entry.guard is not None
            assert entry.methods <= {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"}, entry.describe()
            path = concrete(entry.path)
            for method in sorted(entry.methods):
                where = f"{method} {entry.path}"
                # No credentials: 401 for API clients, a redirect to the sign-in page for browsers.
                answer = await client.request(method, path, headers={"accept": "application/json"})
                assert answer.status_code == 401, where
                if method == "GET":
                    answer = await client.request(method, path, headers={"accept": "text/html"})
                    assert answer.status_code == 303, where
                    assert answer.headers["location"].startswith("/login?next="), where
                # A token that is not one, or a session cookie nobody holds.
                answer = await client.request(method, path, headers={"authorization": "Bearer sbt_nope"})
                assert answer.status_code == 401, where
                answer = await client.request(method, path, headers={"cookie": "sb_session=" + "x" * 43})
                assert answer.status_code == 401, where
                for role, user in full_app.users.items():
                    admitted = entry.guard.admits(role)
                    if method in UNSAFE:
                        # A page session without the CSRF token is refused whatever the role.
                        forged = await client.request(method, path, headers={"cookie": session_cookie(user)})
                        assert forged.status_code == 403, f"{where} as {role} without CSRF token"
                    by_token = await client.request(method, path, headers=user.bearer)
                    by_cookie = await client.request(
                        method, path, headers={"cookie": session_cookie(user), "x-csrf-token": user.csrf}
                    )
                    for answer in (by_token, by_cookie):
                        assert answer.status_code < 500, f"{where} as {role}: {answer.text}"
                        if admitted:
                            # The role lets them in; a 403 may only be a data scope (an agent asking about
                            # another agent), never the role guard or the CSRF check.
                            assert answer.status_code != 401, f"{where} as {role}: {answer.text}"
                            if answer.status_code == 403:
                                assert role is Role.AGENT and "own" in answer.text, f"{where} as {role}"
                        else:
                            assert answer.status_code == 403, f"{where} as {role}"
                    await full_app.fresh_session(role)
                    checked += 1
    assert checked >= 3 * len(guarded)


async def test_openapi_schema_needs_a_signed_in_user_and_docs_are_gone(full_app: FullApp) -> None:
    async with full_app.client() as client:
        assert (await client.get("/openapi.json")).status_code == 401
        schema = await client.get("/openapi.json", headers=full_app.users[Role.AGENT].bearer)
        assert schema.status_code == 200
        assert "/api/me" in schema.json()["paths"]
        for path in ("/docs", "/redoc"):
            assert (await client.get(path, headers=full_app.users[Role.ADMIN].bearer)).status_code == 404


async def test_app_with_an_unguarded_route_is_refused_at_assembly(tmp_path: Path, clock: ManualClock) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'a.db'}"
    settings = web_settings(url)
    services = build_user_services(settings.web, session_factory(create_engine(url)), clock)
    forgetful = APIRouter(prefix="/api/reports")

    @forgetful.get("/daily")
    async def daily() -> dict[str, int]:
        return {"calls": 1}

    with pytest.raises(UndeclaredRouteError) as refused:
        create_web_app(settings, services, routers=[forgetful])
    assert refused.value.routes == ["GET /api/reports/daily"]
    services.close()


async def test_route_added_after_assembly_without_a_role_stops_the_app_starting(full_app: FullApp) -> None:
    @full_app.app.get("/api/late")
    async def late() -> dict[str, str]:
        return {}

    with pytest.raises(UndeclaredRouteError):
        async with full_app.app.router.lifespan_context(full_app.app):
            pass


async def test_role_router_and_annotated_user_both_declare_roles(full_app: FullApp) -> None:
    supervisors = role_router(Role.SUPERVISOR, prefix="/api/wallboard-test")

    @supervisors.get("/queues")
    async def queues() -> list[str]:
        return ["support"]

    @supervisors.get("/admin-only", dependencies=[Depends(require_role(Role.ADMIN))])
    async def stricter() -> dict[str, bool]:
        return {"ok": True}

    mine = APIRouter(prefix="/api/desk-test")

    @mine.get("/me")
    async def desk(user: AgentUser) -> dict[str, str | None]:
        return {"agent": user.agent_id, "visible": str(user.may_see_agent("a-101"))}

    full_app.app.include_router(supervisors)
    full_app.app.include_router(mine)
    table = {entry.path: entry for entry in check_route_roles(full_app.app)}
    assert table["/api/wallboard-test/queues"].guard.minimum is Role.SUPERVISOR
    assert table["/api/wallboard-test/admin-only"].guard.minimum is Role.ADMIN
    assert table["/api/desk-test/me"].guard.minimum is Role.AGENT
    users = full_app.users
    async with full_app.client() as client:
        assert (
            await client.get("/api/wallboard-test/queues", headers=users[Role.AGENT].bearer)
        ).status_code == 403
        assert (
            await client.get("/api/wallboard-test/queues", headers=users[Role.SUPERVISOR].bearer)
        ).json() == ["support"]
        assert (
            await client.get("/api/wallboard-test/admin-only", headers=users[Role.SUPERVISOR].bearer)
        ).status_code == 403
        assert (
            await client.get("/api/wallboard-test/admin-only", headers=users[Role.ADMIN].bearer)
        ).status_code == 200
        desk_answer = await client.get("/api/desk-test/me", headers=users[Role.AGENT].bearer)
        assert desk_answer.json() == {"agent": "a-101", "visible": "True"}


def test_public_allow_list_is_exactly_what_the_brief_allows() -> None:
    assert DEFAULT_PUBLIC_PATHS == EXPECTED_PUBLIC
