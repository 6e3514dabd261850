"""Reports tests: the pages' live controller (from tests/web/pages) with seeded records."""

from __future__ import annotations

import pytest

from tests.web.conftest import browser  # noqa: F401 (the module-scoped Chromium fixture)
from tests.web.pages.conftest import page, server  # noqa: F401 (a whole controller per test module)
from tests.web.pages.pages_harness import ControllerServer
from tests.web.reports.seed import Seeded, seed_records


@pytest.fixture(scope="module")
def seeded(server: ControllerServer) -> Seeded:  # noqa: F811
    return server.run(seed_records(server.ctl.sessions))
