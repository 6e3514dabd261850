"""Agents change their own routing state through the API; supervisors may change anyone's."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from acd.model import Agent, AgentState
from acd.service import AcdService
from acd.store import AcdStore
from tests.acd.api.conftest import AcdApiKit
from tests.acd.conftest import FakeAsterisk


@pytest.fixture
def kit(acd_api_lite: AcdApiKit) -> AcdApiKit:
    return acd_api_lite


async def test_agent_logs_in_pauses_with_reason_becomes_ready_and_logs_out(kit: AcdApiKit) -> None:
    login = await kit.request("agent1", "POST", "/api/acd/agents/a1/login")
    assert login.status_code == 200, login.text
    assert login.json()["state"] == "ready" and login.json()["routable"] is True
    assert login.json()["endpoint"] == "PJSIP/101"

    paused = await kit.request("agent1", "POST", "/api/acd/agents/a1/pause", json={"reason": "lunch"})
    assert paused.status_code == 200
    assert (paused.json()["state"], paused.json()["reason"]) == ("paused", "lunch")
    assert (await kit.store.agent_status("a1")).state is AgentState.PAUSED  # really in Redis

    ready = await kit.request("agent1", "POST", "/api/acd/agents/a1/ready")
    assert ready.json()["state"] == "ready"

    out = await kit.request("agent1", "POST", "/api/acd/agents/a1/logout")
    assert out.json()["state"] == "offline"
    assert (await kit.store.agent_status("a1")).state is AgentState.OFFLINE


async def test_me_routes_act_on_the_agent_linked_to_the_signed_in_user(kit: AcdApiKit) -> None:
    assert (await kit.request("agent2", "POST", "/api/acd/me/login")).json()["agent_id"] == "a2"
    status = await kit.request("agent2", "GET", "/api/acd/me/status")
    assert (status.json()["agent_id"], status.json()["state"]) == ("a2", "ready")
    paused = await kit.request("agent2", "POST", "/api/acd/me/pause", json={"reason": "coaching"})
    assert paused.json()["reason"] == "coaching"
    assert (await kit.store.agent_status("a1")).state is AgentState.OFFLINE  # nobody else touched


async def test_agent_cannot_see_or_change_another_agents_state(kit: AcdApiKit) -> None:
    for method, path in (
        ("POST", "/api/acd/agents/a2/login"),
        ("POST", "/api/acd/agents/a2/logout"),
        ("POST", "/api/acd/agents/a2/ready"),
        ("POST", "/api/acd/agents/a2/wrap-up/end"),
        ("GET", "/api/acd/agents/a2/status"),
    ):
        answer = await kit.request("agent1", method, path)
        assert answer.status_code == 403, (path, answer.text)
        assert "only their own" in answer.json()["detail"]
    pause = await kit.request("agent1", "POST", "/api/acd/agents/a2/pause", json={"reason": "x"})
    assert pause.status_code == 403
    assert (await kit.store.agent_status("a2")).state is AgentState.OFFLINE


async def test_supervisor_and_admin_may_change_any_agents_state(kit: AcdApiKit) -> None:
    assert (await kit.request("supervisor1", "POST", "/api/acd/agents/a2/login")).json()["state"] == "ready"
    paused = await kit.request("admin1", "POST", "/api/acd/agents/a2/pause", json={"reason": "meeting"})
    assert paused.json()["state"] == "paused"


async def test_supervisor_without_an_agent_gets_a_clear_conflict_on_me_routes(kit: AcdApiKit) -> None:
    answer = await kit.request("supervisor1", "POST", "/api/acd/me/login")
    assert answer.status_code == 409
    assert "not linked to an ACD agent" in answer.json()["detail"]


async def test_ending_wrap_up_early_makes_the_agent_ready_at_once(kit: AcdApiKit) -> None:
    now = kit.clock.now()
    await kit.store.update_agent(
        "a1", lambda s: s.replace(state=AgentState.WRAP_UP, since=now, until=now + timedelta(seconds=30))
    )
    ended = await kit.request("agent1", "POST", "/api/acd/me/wrap-up/end")
    assert ended.status_code == 200
    assert ended.json()["state"] == "ready" and ended.json()["until"] is None
    assert "a1" in await kit.store.ready_agents()  # routable again: in Redis's ready index


async def test_ending_wrap_up_when_not_in_wrap_up_is_a_conflict(kit: AcdApiKit) -> None:
    answer = await kit.request("agent1", "POST", "/api/acd/agents/a1/wrap-up/end")
    assert answer.status_code == 409
    assert "cannot wrap_done while offline" in answer.json()["detail"]


async def test_agent_with_unregistered_softphone_cannot_become_ready(kit: AcdApiKit) -> None:
    await kit.store.update_agent("a1", lambda s: s.replace(registered=False))
    answer = await kit.request("agent1", "POST", "/api/acd/agents/a1/login")
    assert answer.status_code == 409
    assert "softphone is not registered" in answer.json()["detail"]
    assert (await kit.store.agent_status("a1")).state is AgentState.OFFLINE


async def test_agent_on_a_call_cannot_log_out(kit: AcdApiKit) -> None:
    await kit.store.update_agent("a1", lambda s: s.replace(state=AgentState.ON_CALL, call_id="c1"))
    answer = await kit.request("agent1", "POST", "/api/acd/agents/a1/logout")
    assert answer.status_code == 409
    assert (await kit.store.agent_status("a1")).state is AgentState.ON_CALL


async def test_unknown_agent_is_not_found(kit: AcdApiKit) -> None:
    answer = await kit.request("supervisor1", "POST", "/api/acd/agents/nobody/login")
    assert answer.status_code == 404
    assert "unknown agent 'nobody'" in answer.json()["detail"]


async def test_requests_without_credentials_are_refused_with_401(kit: AcdApiKit) -> None:
    for method, path in (
        ("POST", "/api/acd/agents/a1/login"),
        ("GET", "/api/acd/me/status"),
        ("GET", "/api/acd/queues"),
    ):
        answer = await kit.request(None, method, path)
        assert answer.status_code == 401, path
        assert answer.headers["www-authenticate"].startswith("Bearer")


async def test_cookie_session_needs_the_csrf_token_for_state_changes(kit: AcdApiKit) -> None:
    user = await kit.users_services.accounts.by_username("agent1")
    opened = await kit.users_services.authenticator.open_session(user, address="127.0.0.1")
    async with kit.client() as client:
        client.cookies.set("sb_session", opened.session_token)
        refused = await client.post("/api/acd/me/login")
        assert refused.status_code == 403
        assert (await kit.store.agent_status("a1")).state is AgentState.OFFLINE
        accepted = await client.post("/api/acd/me/login", headers={"x-csrf-token": opened.csrf_token})
        assert accepted.status_code == 200 and accepted.json()["state"] == "ready"


async def test_agent_added_by_another_controller_can_log_in_here_at_once(kit: AcdApiKit) -> None:
    other = AcdService(
        AcdStore(kit.store.redis, kit.service.settings.key_prefix, origin="other"),
        FakeAsterisk(),
        kit.clock,
        kit.service.settings,
        listen=False,
    )
    config = await other.config()
    await other.load(replace(config, agents={**config.agents, "a8": Agent("a8", "Ed", "PJSIP/108")}))
    answer = await kit.request("supervisor1", "POST", "/api/acd/agents/a8/login")
    assert answer.status_code == 200, answer.text
    assert answer.json()["endpoint"] == "PJSIP/108"
