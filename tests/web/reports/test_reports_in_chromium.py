"""The reports page and the wallboard's alerts in real headless Chromium against a live controller."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any
from urllib.parse import urlencode

import pytest

from acd.ports import ChannelHungUp
from switchboard.ids import new_id
from switchboard.users.model import Role
from tests.acd.conftest import request
from tests.web.pages.pages_harness import ControllerServer
from tests.web.pages.test_pages_in_chromium import sign_in_as
from tests.web.reports.seed import SCRIPT_AGENT, Seeded

pytestmark = pytest.mark.slow


def test_reports_page_shows_charts_and_a_table_for_seeded_days(
    page: Any, server: ControllerServer, seeded: Seeded
) -> None:
    sign_in_as(page, server, Role.SUPERVISOR)
    page.goto("/wallboard")
    page.click('nav a[href="/reports"]')
    page.wait_for_selector('[data-testid="filters"]')
    page.goto("/reports?" + urlencode(seeded.query(group="day")))
    table = page.locator('[data-testid="report-table"]')
    assert table.locator("tbody tr").count() == 2
    day1 = table.locator(f'tr[data-key="{seeded.first.isoformat()}"] td')
    assert day1.nth(0).text_content() == "3"  # offered
    assert day1.nth(3).text_content() == "33%"  # service level
    assert table.locator('tfoot tr[data-key="total"] td').nth(0).text_content() == "6"
    offered = page.locator('figure[data-measure="offered"]')
    assert offered.get_attribute("data-kind") == "line"
    assert offered.locator("circle.point").count() == 2
    svg = offered.locator("svg")
    assert svg.get_attribute("role") == "img"
    assert page.locator("#offered-title").text_content() == "Offered calls per day"
    assert "highest 3" in (page.locator("#offered-desc").text_content() or "")
    box = svg.bounding_box()
    assert box is not None and box["width"] > 200 and box["height"] > 80  # drawn, not collapsed by CSS
    assert page.locator('figure[data-testid="chart"]').count() == 8

    # Switch to one bar per queue with the form.
    page.select_option('select[name="group"]', "queue")
    page.click('[data-testid="filters"] button[type="submit"]')
    page.wait_for_selector('figure[data-measure="offered"][data-kind="bar"]')
    bars = page.locator('figure[data-measure="offered"] rect.bar')
    assert bars.count() == 3  # billing, sales, support (0 offered: a bar of no height)
    assert bars.first.locator("title").text_content() == "billing: 4"
    assert page.locator('figure[data-measure="service-level"] line.target').count() == 1
    assert "group=queue" in (page.get_attribute('[data-testid="csv"]', "href") or "")


def test_an_agent_id_with_markup_is_shown_as_text(
    page: Any, server: ControllerServer, seeded: Seeded
) -> None:
    sign_in_as(page, server, Role.SUPERVISOR)
    page.goto("/reports?" + urlencode(seeded.query(group="agent")))
    cells = page.locator('[data-testid="report-table"] tbody th').all_text_contents()
    assert SCRIPT_AGENT in cells
    assert page.evaluate("window.pwned") is None


def test_an_agent_is_refused_the_reports_page(page: Any, server: ControllerServer) -> None:
    sign_in_as(page, server, Role.AGENT)
    answer = page.goto("/reports")
    assert answer is not None and answer.status == 403
    assert page.locator('nav a[href="/reports"]').count() == 0


def test_the_wallboard_shows_an_alert_and_drops_it_without_reload(
    page: Any, server: ControllerServer
) -> None:
    monitor = server.ctl.alerts
    saved = monitor.rules
    monitor.rules = replace(saved, wait_threshold_seconds=1)
    caller = request(f"al-{new_id()[-10:]}", queue="sales", skill="sales", region="us")
    sign_in_as(page, server, Role.SUPERVISOR)
    page.goto("/wallboard")
    page.wait_for_selector("#live-status[data-updates]")
    page.evaluate("window.marker = 'same page'")
    try:
        server.run(server.ctl.acd.enqueue(caller))
        time.sleep(1.2)
        server.run(monitor.check_once())
        alert = page.locator('#alerts li[data-alert="long_wait:sales"]')
        alert.wait_for()
        assert (alert.text_content() or "").startswith("Queue sales: 1 caller has waited longer than 1 s")
        page.wait_for_selector('#alerts li[data-alert="long_wait:sales"] time[data-local="Asia/Seoul"]')
        server.run(
            server.ctl.acd.handle(ChannelHungUp(caller.channel, caller.uniqueid, 16, "Normal Clearing"))
        )
        server.run(monitor.check_once())
        alert.wait_for(state="detached")
        assert page.locator("#alerts li.none").text_content() == "None"
        assert page.evaluate("window.marker") == "same page"  # pushed over the live feed
    finally:
        monitor.rules = saved
