"""Fixtures for the page tests: the composition root's app on a live controller (see pages_harness)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.web.conftest import browser  # noqa: F401 (the module-scoped Chromium fixture)
from tests.web.pages.pages_harness import ControllerServer, start_controller_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[ControllerServer]:
    # Its own Redis database: other suites flush db 9 between their tests, which would wipe the ACD state.
    url = redis_url.replace("/9", "/12") if redis_url.endswith("/9") else redis_url.replace("db=9", "db=12")
    started = start_controller_server(tmp_path_factory.mktemp("pages"), url)
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
def page(browser: Any, server: ControllerServer) -> Iterator[Any]:  # noqa: F811
    context = browser.new_context(base_url=server.url, timezone_id="Asia/Seoul", locale="en-US")
    context.set_default_timeout(10_000)
    opened = context.new_page()
    try:
        yield opened
    finally:
        context.close()
