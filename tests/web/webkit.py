"""Helpers for the web tests: an app with one user per role, httpx clients, sign-in, a live uvicorn server."""

from __future__ import annotations

import asyncio
import re
import socket
import threading
import time
from collections.abc import Awaitable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx
import uvicorn
from argon2 import PasswordHasher, profiles
from fastapi import APIRouter, FastAPI

from switchboard.clock import Clock
from switchboard.settings import Settings
from switchboard.users.factory import UserServices, build_user_services
from switchboard.users.model import Role, User
from switchboard.web.app import create_web_app

T = TypeVar("T")
PASSWORDS = {
    Role.AGENT: "agent-password-1",
    Role.SUPERVISOR: "supervisor-password-1",
    Role.ADMIN: "admin-password-1",
}
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]*)">')
LOGIN_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def cheap_hasher() -> PasswordHasher:
    """Real argon2id with the smallest parameters: unit tests sign in often."""
    return PasswordHasher.from_parameters(profiles.CHEAPEST)


def web_settings(database_url: str, **web: Any) -> Settings:
    """Settings for a test app: loopback HTTP, the given database, web overrides."""
    return Settings(database={"url": database_url}, http={"host": "127.0.0.1", "port": 0}, web=web)


@dataclass
class Seeded:
    """A user of the test app with their password, an API token and (once signed in) a session."""

    user: User
    password: str
    token: str
    session: str = ""
    csrf: str = ""

    @property
    def bearer(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token}"}

    @property
    def cookies(self) -> dict[str, str]:
        return {"sb_session": self.session}


async def seed_users(services: UserServices, *, sessions: bool = True) -> dict[Role, Seeded]:
    """One user per role (the agent linked to agent ``a-101``), each with a token and a page session."""
    seeded: dict[Role, Seeded] = {}
    for role in Role:
        user = await services.accounts.add(
            f"{role.value}1", PASSWORDS[role], role, "a-101" if role is Role.AGENT else None
        )
        token = await services.authenticator.create_token(user.id, "tests")
        entry = Seeded(user, PASSWORDS[role], token.secret)
        if sessions:
            opened = await services.authenticator.open_session(user, address="127.0.0.1")
            entry.session, entry.csrf = opened.session_token, opened.csrf_token
        seeded[role] = entry
    return seeded


@dataclass
class WebKit:
    """An app under test (ASGI, in this event loop) and its seeded users."""

    app: FastAPI
    services: UserServices
    settings: Settings
    users: dict[Role, Seeded]
    clock: Clock

    def client(self, *, address: str = "127.0.0.1", **kwargs: Any) -> httpx.AsyncClient:
        """A client as from ``address`` (the address the sign-in throttle sees)."""
        transport = httpx.ASGITransport(app=self.app, client=(address, 40000))
        return httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000", **kwargs)


async def sign_in(
    client: httpx.AsyncClient, username: str, password: str, next_path: str = "/"
) -> httpx.Response:
    """Fill the sign-in form like a browser: fetch it (cookie + token), post it; returns the POST's answer."""
    form = await client.get("/login", headers={"accept": "text/html"})
    token = LOGIN_TOKEN.search(form.text)
    assert token, form.text
    return await client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token.group(1), "next": next_path},
    )


async def page_csrf(client: httpx.AsyncClient, path: str = "/") -> str:
    """The CSRF token a signed-in page carries in its <meta> tag."""
    page = await client.get(path, headers={"accept": "text/html"}, follow_redirects=True)
    found = CSRF_META.search(page.text)
    assert found and found.group(1), page.text[:500]
    return found.group(1)


class OffsetClock:
    """Real time plus an offset a test can move forward from another thread (the live server's clock)."""

    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += seconds

    def now(self) -> datetime:
        with self._lock:
            return datetime.now(UTC) + timedelta(seconds=self._offset)

    def monotonic(self) -> float:
        with self._lock:
            return time.monotonic() + self._offset

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


@dataclass
class LiveServer:
    """The web app under uvicorn on a free loopback port, in its own thread and event loop."""

    url: str
    app: FastAPI
    services: UserServices
    users: dict[Role, Seeded]
    clock: OffsetClock
    loop: asyncio.AbstractEventLoop
    server: uvicorn.Server
    thread: threading.Thread
    extra: dict[str, Any] = field(default_factory=dict)

    def run(self, work: Awaitable[T], timeout: float = 30) -> T:
        """Run a coroutine on the server's loop (where its database connections live) and wait for it."""
        assert isinstance(work, Coroutine)
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(timeout)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(15)


def start_live_server(
    database_url: str,
    *,
    redis_url: str | None,
    redis_prefix: str,
    routers: list[APIRouter] | None = None,
    hasher: PasswordHasher | None = None,
    **web: Any,
) -> LiveServer:
    """Start uvicorn with the web app on 127.0.0.1:<free port>; returns once it accepts connections."""
    from redis import asyncio as aioredis

    from switchboard.db import create_engine, session_factory, upgrade

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # see bind_http
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    clock = OffsetClock()
    settings = web_settings(database_url, redis_key_prefix=redis_prefix, **web)
    box: dict[str, Any] = {}
    ready = threading.Event()

    async def main() -> None:
        # Everything async happens on this thread's loop: the caller's thread may run Playwright's.
        await upgrade(database_url)
        engine = create_engine(database_url)
        redis = (
            aioredis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2) if redis_url else None
        )
        services = build_user_services(
            settings.web, session_factory(engine), clock, redis=redis, hasher=hasher
        )
        try:
            users = await seed_users(services, sessions=False)
            app = create_web_app(settings, services, routers=routers or [])
            server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False))
            box.update(
                app=app, services=services, users=users, server=server, loop=asyncio.get_running_loop()
            )
            serving = asyncio.create_task(server.serve(sockets=[sock]))
            while not server.started and not serving.done():  # noqa: ASYNC110 (uvicorn offers no event)
                await asyncio.sleep(0.01)
            ready.set()
            await serving
        except BaseException as exc:
            box["error"] = exc
            ready.set()
            raise
        finally:
            services.close()
            if redis is not None:
                await redis.aclose()
            await engine.dispose()

    thread = threading.Thread(target=lambda: asyncio.run(main()), name="web-live-server", daemon=True)
    thread.start()
    if not ready.wait(30) or "error" in box or "server" not in box:
        raise RuntimeError(f"live server did not start: {box.get('error')!r}")
    return LiveServer(
        url=f"http://127.0.0.1:{port}",
        app=box["app"],
        services=box["services"],
        users=box["users"],
        clock=clock,
        loop=box["loop"],
        server=box["server"],
        thread=thread,
    )
