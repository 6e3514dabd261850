"""The admin pages' error pages: the store down gives one 503 page, an unknown agent or queue a 404 page.

Every page that reads the configuration says the same thing when the database or Redis is down (and
saves nothing); a form for an agent or queue that does not exist (or no longer does) says so instead.
"""

from __future__ import annotations

import pytest

from acd.errors import StoreError
from tests.web.admin.conftest import AdminKit
from tests.web.admin.test_admin_acd_pages import new_agent, queue_form

UNAVAILABLE = "The database or Redis is unavailable; nothing was changed. Try again shortly."


@pytest.fixture
def store_down(admin_kit: AdminKit, monkeypatch: pytest.MonkeyPatch) -> AdminKit:
    """The admin pages with a repository whose every read fails as a lost database would."""

    async def down() -> None:
        raise StoreError("connection refused")

    monkeypatch.setattr(admin_kit.acd.repository, "load_config", down)
    return admin_kit


@pytest.mark.parametrize(
    "path",
    [
        "/admin/agents",
        "/admin/agents/new",
        "/admin/agents/a1/edit",
        "/admin/queues",
        "/admin/queues/new",
        "/admin/queues/vip-sales/edit",
        "/admin/skills",
        "/admin/absences",
    ],
)
async def test_every_page_reading_the_configuration_says_it_is_unavailable_when_the_store_is_down(
    store_down: AdminKit, path: str
) -> None:
    answer = await store_down.get(path)
    assert answer.status_code == 503
    assert "Configuration unavailable" in answer.text and UNAVAILABLE in answer.text


async def test_a_refused_form_or_deletion_while_the_store_is_down_shows_the_unavailable_page(
    store_down: AdminKit,
) -> None:
    for path, data in [
        ("/admin/agents", new_agent(endpoint="not a device")),
        ("/admin/queues", queue_form(name="Not A Name")),
        ("/admin/agents/a1/delete", {"confirm": "yes"}),
        ("/admin/queues/vip-sales/delete", {"confirm": "yes"}),
        ("/admin/skills", {"name": "Bad Name"}),
    ]:
        answer = await store_down.post(path, data)
        assert (answer.status_code, "Configuration unavailable" in answer.text) == (503, True), path


async def test_unknown_agents_and_queues_get_a_not_found_page_not_a_form(admin_kit: AdminKit) -> None:
    for path, heading in [
        ("/admin/agents/nobody/edit", "No such agent"),
        ("/admin/queues/none/edit", "No such queue"),
    ]:
        answer = await admin_kit.get(path)
        assert (
            answer.status_code == 404
            and heading in answer.text
            and "<form" not in answer.text.split("<main")[-1]
        )

    for path, data, heading, message in [
        ("/admin/agents/nobody/delete", {"confirm": "yes"}, "No such agent", "That agent does not exist."),
        ("/admin/queues/none/delete", {"confirm": "yes"}, "No such queue", "That queue does not exist."),
        ("/admin/agents/nobody/edit", new_agent(), "No such agent", "That agent does not exist."),
        ("/admin/queues/none/edit", queue_form(), "No such queue", "That queue does not exist."),
    ]:
        answer = await admin_kit.post(path, data)
        assert (answer.status_code, heading in answer.text, message in answer.text) == (404, True, True), path
    config = await admin_kit.config()
    assert "nobody" not in config.agents and "none" not in config.queues
