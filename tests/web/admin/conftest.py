"""Fixtures for the admin pages: the ACD API kit (SQLite and PostgreSQL, real Redis) plus the admin pages.

``admin_kit`` builds on tests/acd/api/conftest.py's ``acd_api`` (its service, repository, users and
ManualClock) and serves the admin pages over ASGI, with page sessions for the admin and the supervisor.
The Chromium tests use tests/web/pages/'s live controller (``server``, ``page``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from fastapi import FastAPI

from acd.config_edit import ConfigEditor
from acd.model import AcdConfig
from ivr.flows import FlowRegistry
from switchboard.settings import Settings
from switchboard.web.admin import build_admin
from switchboard.web.app import create_web_app
from switchboard.web.shell import WebShell
from tests.acd.api.conftest import (  # noqa: F401 (fixtures reused, not copied)
    AcdApiKit,
    acd_api,
    migrated_sqlite_template,
    redis_client,
)
from tests.web.pages.conftest import browser, page, server  # noqa: F401 (the live controller and Chromium)


@dataclass
class PageSession:
    cookie: str
    csrf: str


@dataclass
class AdminKit:
    """The admin pages on the ACD kit's service and database, with a flows directory of their own."""

    acd: AcdApiKit
    app: FastAPI
    flows: FlowRegistry
    flows_dir: Path
    sessions: dict[str, PageSession]

    def client(self, who: str | None = "admin1") -> httpx.AsyncClient:
        """A browser-like client: ``who``'s session cookie (None: signed out)."""
        cookies = {"sb_session": self.sessions[who].cookie} if who else {}
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app, client=("127.0.0.1", 40000)),
            base_url="http://127.0.0.1:8000",
            cookies=cookies,
            headers={"accept": "text/html"},
        )

    async def get(self, path: str, who: str | None = "admin1", **kwargs: Any) -> httpx.Response:
        async with self.client(who) as client:
            return await client.get(path, **kwargs)

    async def post(
        self, path: str, data: Any = None, *, who: str = "admin1", csrf: bool = True, **kwargs: Any
    ) -> httpx.Response:
        """POST a form as ``who`` would from the page (with the page's CSRF token unless ``csrf`` is off)."""
        fields: list[tuple[str, str]] = list(data.items() if isinstance(data, dict) else data or [])
        if csrf:
            fields.append(("csrf_token", self.sessions[who].csrf))
        body = urlencode(fields)  # repeated fields in order, as a browser sends them
        headers = {"content-type": "application/x-www-form-urlencoded"}
        async with self.client(who) as client:
            return await client.post(path, content=body, headers=headers, **kwargs)

    async def config(self) -> AcdConfig:
        return await self.acd.repository.load_config()


@pytest.fixture
async def admin_kit(acd_api: AcdApiKit, tmp_path: Path) -> AsyncIterator[AdminKit]:  # noqa: F811
    shell = WebShell()
    editor = ConfigEditor(acd_api.service, acd_api.repository)
    flows_dir = tmp_path / "flows"
    flows_dir.mkdir()
    flows = FlowRegistry(flows_dir, clock=acd_api.clock)
    settings = Settings(http={"host": "127.0.0.1", "port": 0})
    app = create_web_app(
        settings,
        acd_api.users_services,
        routers=build_admin(shell, editor, flows, acd_api.clock),
        shell=shell,
    )
    sessions: dict[str, PageSession] = {}
    for name in ("admin1", "supervisor1", "agent1"):
        user = await acd_api.users_services.accounts.by_username(name)
        opened = await acd_api.users_services.authenticator.open_session(user, address="127.0.0.1")
        sessions[name] = PageSession(opened.session_token, opened.csrf_token)
    yield AdminKit(acd_api, app, flows, flows_dir, sessions)


@pytest.fixture
def admin_page(page: Any, server: Any) -> Iterator[Any]:  # noqa: F811
    """A Chromium page signed in as the live controller's admin."""
    from switchboard.users.model import Role

    page.context.add_cookies(
        [{"name": "sb_session", "value": server.users[Role.ADMIN].session, "url": server.url}]
    )
    yield page
