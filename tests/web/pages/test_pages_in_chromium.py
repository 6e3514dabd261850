"""The wallboard, the agent desk and call detail in real headless Chromium against a live controller."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import httpx
import pytest

from switchboard.ids import new_id
from switchboard.users.model import Role
from tests.acd.conftest import request
from tests.web.pages.pages_harness import ControllerServer

SCRIPT_NAME = "<script>window.pwned=1</script>"

pytestmark = pytest.mark.slow


def sign_in_as(page: Any, server: ControllerServer, role: Role) -> None:
    page.context.add_cookies([{"name": "sb_session", "value": server.users[role].session, "url": server.url}])


def enqueue(server: ControllerServer, queue: str, **kw: Any) -> str:
    call_id = f"c-{new_id()[-10:]}"
    req = request(call_id, queue=queue, skill=queue, **kw)
    server.run(server.ctl.acd.enqueue(req))
    return call_id


def test_wallboard_shows_a_new_waiting_call_without_reload(page: Any, server: ControllerServer) -> None:
    sign_in_as(page, server, Role.SUPERVISOR)
    page.goto("/wallboard")
    page.wait_for_selector("#live-status[data-updates]")
    waiting = page.locator('tr[data-queue="sales"] td[data-field="waiting"]')
    before = int(waiting.text_content() or "0")
    page.evaluate("window.marker = 'same page'")
    enqueue(server, "sales", region="us")
    page.wait_for_function(
        'n => document.querySelector(\'tr[data-queue="sales"] td[data-field="waiting"]\').textContent == n',
        arg=str(before + 1),
    )
    assert page.evaluate("window.marker") == "same page"  # pushed, not reloaded
    assert page.locator('tr[data-agent="a1"]').count() == 1


def test_agent_pauses_with_a_reason_and_becomes_ready_again(page: Any, server: ControllerServer) -> None:
    sign_in_as(page, server, Role.AGENT)
    page.goto("/desk")
    page.click("#ready")
    page.wait_for_selector('#state[data-state="ready"]')
    page.select_option("#pause-reason", "lunch")
    page.click("#pause")
    page.wait_for_selector('#state[data-state="paused"]')
    assert "lunch" in (page.text_content("#reason") or "")
    status = server.run(server.ctl.acd.store.agent_status("a1"))
    assert status.state.value == "paused" and status.reason == "lunch"
    page.click("#ready")
    page.wait_for_selector('#state[data-state="ready"]')


def test_screen_pop_shows_a_hostile_caller_as_text_with_why_this_agent(
    page: Any, server: ControllerServer
) -> None:
    sign_in_as(page, server, Role.AGENT)
    page.goto("/desk")
    page.click("#ready")
    page.wait_for_selector('#state[data-state="ready"]')
    call_id = f"x-{new_id()[-10:]}"
    req = request(call_id, queue="billing", skill="billing", region="eu")
    # A caller whose channel exists: the Redirect to the agent succeeds and the call stays live meanwhile.
    channel, uniqueid = server.caller_on_hold(req.caller_number)
    req = replace(req, caller_name=SCRIPT_NAME, channel=channel, uniqueid=uniqueid)
    server.run(server.ctl.acd.enqueue(req))
    page.wait_for_selector(f'#pop[data-call="{call_id}"]')
    assert page.text_content("#pop-name") == SCRIPT_NAME
    assert page.text_content("#pop-number") == "+15551230002"
    assert "a1" in (page.text_content("#pop-why") or "")
    assert page.evaluate("window.pwned") is None
    # Its call detail page (the agent's own call) escapes the caller's name too.
    page.click("#pop-link")
    page.wait_for_selector('[data-testid="agent"]')
    assert page.text_content('[data-testid="agent"]') == "a1"
    assert page.text_content("h1") == f"Call {call_id}"
    assert page.evaluate("window.pwned") is None


def test_wallboard_shows_a_script_pause_reason_as_text(page: Any, server: ControllerServer) -> None:
    from acd.agent_state import AgentEvent

    server.run(server.ctl.acd.agent_event("a2", AgentEvent.LOGIN))
    server.run(server.ctl.acd.pause("a2", "<script>window.pwned=1</script>"))
    sign_in_as(page, server, Role.SUPERVISOR)
    page.goto("/wallboard")
    cell = page.locator('tr[data-agent="a2"] td[data-field="reason"]')
    cell.wait_for()
    page.wait_for_function(
        '() => document.querySelector(\'tr[data-agent="a2"] td[data-field="reason"]\').textContent.length > 0'
    )
    assert cell.text_content() == "<script>window.pwned=1</script>"
    assert page.evaluate("window.pwned") is None


def test_agent_is_refused_the_wallboard_and_other_calls(server: ControllerServer) -> None:
    waiting_call = enqueue(server, "sales", region="us")
    agent, boss = server.users[Role.AGENT], server.users[Role.SUPERVISOR]
    with httpx.Client(base_url=server.url) as client:
        assert client.get("/api/wallboard", headers=agent.bearer).status_code == 403
        assert client.get("/wallboard", headers=agent.bearer).status_code == 403
        assert client.get(f"/calls/{waiting_call}", headers=agent.bearer).status_code == 404
        detail = client.get(f"/calls/{waiting_call}", headers=boss.bearer)
        assert detail.status_code == 200 and "sales" in detail.text
        board = client.get("/api/wallboard", headers=boss.bearer).json()
        assert {q["queue"] for q in board["queues"]} == {"billing", "support", "sales"}
        assert re.fullmatch(r"\d+-\d+", board["event_id"] or "0-0") or board["event_id"] == ""
        assert client.get("/api/desk", headers=boss.bearer).status_code == 409
