"""Fixtures for the web tests: an ASGI app with one user per role; a live uvicorn server; headless Chromium.

Chromium is Debian's /usr/bin/chromium driven by Playwright (never a downloaded browser). Missing
Chromium or Playwright skips the browser tests locally and fails them in CI (CI=true).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from switchboard.clock import ManualClock
from switchboard.ids import new_id
from switchboard.users.factory import build_user_services
from tests.web.webkit import LiveServer, WebKit, cheap_hasher, seed_users, start_live_server, web_settings

IN_CI = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")
CHROMIUM = "/usr/bin/chromium"
# Without the background-networking switches Chromium's own requests at start-up are refused here.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: required in CI)", pytrace=False)
    pytest.skip(reason)


async def make_kit(database_url: str, clock: Any, **web: Any) -> tuple[WebKit, Any]:
    from switchboard.db import create_engine, session_factory, upgrade
    from switchboard.web.app import create_web_app

    await upgrade(database_url)
    engine = create_engine(database_url)
    settings = web_settings(database_url, **web)
    services = build_user_services(settings.web, session_factory(engine), clock, hasher=cheap_hasher())
    users = await seed_users(services)
    app = create_web_app(settings, services)
    return WebKit(app, services, settings, users, clock), engine


@pytest.fixture
async def kit(tmp_path: Path, clock: ManualClock) -> AsyncIterator[WebKit]:
    """The web app on a fresh SQLite database and a ManualClock; failed sign-ins counted in SQL."""
    made, engine = await make_kit(f"sqlite+aiosqlite:///{tmp_path / 'web.db'}", clock)
    try:
        yield made
    finally:
        made.services.close()
        await engine.dispose()


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[LiveServer]:
    """uvicorn on a free loopback port with a fresh SQLite database, failed sign-ins counted in Redis,
    default argon2 parameters, and one user per role (``agent1``, ``supervisor1``, ``admin1``)."""
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('live') / 'web.db'}"
    server = start_live_server(url, redis_url=redis_url, redis_prefix=f"sbtest-web:{new_id()}")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium under Playwright (one per test module)."""
    if not Path(CHROMIUM).exists():
        _unavailable(f"{CHROMIUM} is missing (Debian package chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright (PyPI) is not installed")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Any, live_server: LiveServer) -> Iterator[Any]:
    """A fresh browser context (no cookies) on the live server; JavaScript dialogs are recorded."""
    context = browser.new_context(base_url=live_server.url, timezone_id="Asia/Seoul", locale="en-US")
    context.set_default_timeout(10_000)
    opened = context.new_page()
    opened.dialogs = []
    opened.on("dialog", lambda d: (opened.dialogs.append(d.message), d.dismiss()))
    try:
        yield opened
    finally:
        context.close()


@pytest.fixture(scope="session")
def chromium_path() -> str:
    return CHROMIUM if Path(CHROMIUM).exists() else (shutil.which("chromium") or CHROMIUM)
