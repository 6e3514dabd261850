"""The users API: /api/me and API tokens for everyone, user management for admins."""

from __future__ import annotations

import pytest

from switchboard.users.model import Role
from switchboard.web import CurrentUser
from tests.web.webkit import WebKit, sign_in


async def test_me_tells_who_the_token_belongs_to(kit: WebKit) -> None:
    agent = kit.users[Role.AGENT]
    async with kit.client() as client:
        me = (await client.get("/api/me", headers=agent.bearer)).json()
    assert me == {
        "id": agent.user.id,
        "username": "agent1",
        "role": "agent",
        "agent_id": "a-101",
        "via": "token",
    }


async def test_token_secret_is_shown_once_and_works_until_revoked(kit: WebKit) -> None:
    agent = kit.users[Role.AGENT]
    async with kit.client() as client:
        created = await client.post("/api/me/tokens", json={"name": "wall screen"}, headers=agent.bearer)
        assert created.status_code == 201
        secret = created.json()["token"]
        assert secret.startswith("sbt_")
        mine = {"authorization": f"Bearer {secret}"}
        assert (await client.get("/api/me", headers=mine)).status_code == 200
        listed = (await client.get("/api/me/tokens", headers=mine)).json()
        assert {t["name"] for t in listed} == {"tests", "wall screen"}
        assert all("token" not in t for t in listed)
        used = next(t for t in listed if t["name"] == "wall screen")
        assert used["last_used_at"] is not None
        revoked = await client.delete(f"/api/me/tokens/{created.json()['id']}", headers=agent.bearer)
        assert revoked.status_code == 204
        assert (await client.get("/api/me", headers=mine)).status_code == 401


async def test_token_stops_working_when_it_expires(kit: WebKit) -> None:
    agent = kit.users[Role.AGENT]
    async with kit.client() as client:
        created = await client.post(
            "/api/me/tokens", json={"name": "short", "expires_in_days": 1}, headers=agent.bearer
        )
        mine = {"authorization": f"Bearer {created.json()['token']}"}
        await kit.clock.advance(86_400 - 1)
        assert (await client.get("/api/me", headers=mine)).status_code == 200
        await kit.clock.advance(2)
        assert (await client.get("/api/me", headers=mine)).status_code == 401


async def test_token_lifetime_is_capped(kit: WebKit) -> None:
    async with kit.client() as client:
        answer = await client.post(
            "/api/me/tokens",
            json={"name": "forever", "expires_in_days": 5000},
            headers=kit.users[Role.AGENT].bearer,
        )
    assert answer.status_code == 400


@pytest.mark.parametrize(
    "value",
    [
        "sbt_",
        "Bearer",
        "sbt_01JZZZZZZZZZZZZZZZZZZZZZZZ_" + "A" * 43,
        "sbt_../../etc/passwd_x",
        "' OR 1=1 --",
        "\u00e9" * 80,
    ],
)
async def test_malformed_or_forged_tokens_are_refused(kit: WebKit, value: str) -> None:
    async with kit.client() as client:
        answer = await client.get("/api/me", headers={"authorization": f"Bearer {value}".encode()})
    assert answer.status_code == 401


async def test_nobody_revokes_another_users_token_through_me(kit: WebKit) -> None:
    agent, supervisor = kit.users[Role.AGENT], kit.users[Role.SUPERVISOR]
    async with kit.client() as client:
        theirs = (await client.get("/api/me/tokens", headers=supervisor.bearer)).json()[0]["id"]
        assert (await client.delete(f"/api/me/tokens/{theirs}", headers=agent.bearer)).status_code == 404
        assert (await client.get("/api/me", headers=supervisor.bearer)).status_code == 200


async def test_admin_adds_changes_and_deletes_a_user(kit: WebKit) -> None:
    admin = kit.users[Role.ADMIN].bearer
    async with kit.client() as client:
        created = await client.post(
            "/api/users",
            json={"username": "Dana", "password": "dana-password-1", "role": "agent", "agent_id": "a-202"},
            headers=admin,
        )
        assert created.status_code == 201, created.text
        user = created.json()
        assert (user["username"], user["role"], user["agent_id"], user["disabled"]) == (
            "Dana",
            "agent",
            "a-202",
            False,
        )
        assert (await sign_in(client, "dana", "dana-password-1")).status_code == 303
        patched = await client.patch(
            f"/api/users/{user['id']}", json={"role": "supervisor", "agent_id": ""}, headers=admin
        )
        assert patched.json()["role"] == "supervisor" and patched.json()["agent_id"] is None
        assert (await client.delete(f"/api/users/{user['id']}", headers=admin)).status_code == 204
        assert (await client.get(f"/api/users/{user['id']}", headers=admin)).status_code == 404
        assert (await client.get("/api/me")).status_code == 401  # her session went with her


async def test_user_names_are_unique_whatever_their_case(kit: WebKit) -> None:
    async with kit.client() as client:
        answer = await client.post(
            "/api/users",
            json={"username": "AGENT1", "password": "another-password", "role": "supervisor"},
            headers=kit.users[Role.ADMIN].bearer,
        )
    assert answer.status_code == 409


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"username": "x", "password": "short", "role": "admin"}, "at least 10"),
        ({"username": "has space", "password": "long-enough-1", "role": "admin"}, "spaces"),
        ({"username": "agent9", "password": "long-enough-1", "role": "agent"}, "agent id"),
        ({"username": "a", "password": "long-enough-1", "role": "agent", "agent_id": "../x"}, "agent id"),
    ],
)
async def test_user_rules_are_explained(kit: WebKit, body: dict[str, str], problem: str) -> None:
    async with kit.client() as client:
        answer = await client.post("/api/users", json=body, headers=kit.users[Role.ADMIN].bearer)
    assert answer.status_code == 400
    assert problem in answer.text


async def test_the_last_admin_cannot_be_demoted_disabled_or_deleted(kit: WebKit) -> None:
    admin = kit.users[Role.ADMIN]
    async with kit.client() as client:
        answer = await client.patch(
            f"/api/users/{admin.user.id}", json={"role": "agent", "agent_id": "a-1"}, headers=admin.bearer
        )
        assert answer.status_code == 409
        assert "only enabled admin" in answer.text
        assert (
            await client.patch(f"/api/users/{admin.user.id}", json={"disabled": True}, headers=admin.bearer)
        ).status_code == 400
        assert (await client.delete(f"/api/users/{admin.user.id}", headers=admin.bearer)).status_code == 400
        # With a second admin the first may step down; then the second is the last one.
        second = await client.post(
            "/api/users",
            json={"username": "root2", "password": "root2-password", "role": "admin"},
            headers=admin.bearer,
        )
        root2 = {"authorization": f"Bearer {await _token(client, second.json()['id'], admin.bearer)}"}
        answer = await client.patch(
            f"/api/users/{admin.user.id}", json={"role": "supervisor"}, headers=admin.bearer
        )
        assert answer.status_code == 200
        answer = await client.patch(
            f"/api/users/{second.json()['id']}", json={"role": "supervisor"}, headers=root2
        )
        assert answer.status_code == 409
        assert (await client.get("/api/users", headers=root2)).status_code == 200


async def _token(client, user_id: str, admin_headers: dict[str, str]) -> str:
    answer = await client.post(f"/api/users/{user_id}/tokens", json={"name": "ops"}, headers=admin_headers)
    assert answer.status_code == 201
    return answer.json()["token"]


async def test_admin_issues_and_revokes_a_token_for_another_user(kit: WebKit) -> None:
    admin = kit.users[Role.ADMIN].bearer
    supervisor = kit.users[Role.SUPERVISOR].user
    async with kit.client() as client:
        secret = await _token(client, supervisor.id, admin)
        theirs = {"authorization": f"Bearer {secret}"}
        assert (await client.get("/api/me", headers=theirs)).json()["username"] == "supervisor1"
        token_id = secret.split("_")[1]
        assert (
            await client.delete(f"/api/users/{supervisor.id}/tokens/{token_id}", headers=admin)
        ).status_code == 204
        assert (await client.get("/api/me", headers=theirs)).status_code == 401


async def test_changing_ones_password_ends_other_sessions_but_keeps_this_one(kit: WebKit) -> None:
    async with kit.client() as here, kit.client() as elsewhere:
        await sign_in(here, "agent1", "agent-password-1")
        await sign_in(elsewhere, "agent1", "agent-password-1")
        from tests.web.webkit import page_csrf

        csrf = await page_csrf(here)
        wrong = await here.post(
            "/api/me/password",
            json={"current_password": "nope", "new_password": "new-password-22"},
            headers={"x-csrf-token": csrf},
        )
        assert wrong.status_code == 400
        changed = await here.post(
            "/api/me/password",
            json={"current_password": "agent-password-1", "new_password": "new-password-22"},
            headers={"x-csrf-token": csrf},
        )
        assert changed.status_code == 204
        assert (await here.get("/api/me")).status_code == 200
        assert (await elsewhere.get("/api/me")).status_code == 401
        assert (await sign_in(elsewhere, "agent1", "new-password-22")).status_code == 303


async def test_script_in_a_user_name_is_data_in_json_and_text_on_the_page(kit: WebKit) -> None:
    name = "<script>alert(1)</script>"
    admin = kit.users[Role.ADMIN]
    async with kit.client() as client:
        created = await client.post(
            "/api/users",
            json={"username": name, "password": "xss-password-1", "role": "supervisor"},
            headers=admin.bearer,
        )
        assert created.json()["username"] == name
        await sign_in(client, "admin1", "admin-password-1")
        page = await client.get("/admin/users")
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
        assert name not in page.text
        detail = await client.get(f"/admin/users/{created.json()['id']}")
        assert name not in detail.text


@pytest.mark.parametrize(
    ("role", "agent_id", "other", "visible"),
    [
        (Role.AGENT, "a-101", "a-101", True),
        (Role.AGENT, "a-101", "a-102", False),
        (Role.AGENT, "a-101", None, False),
        (Role.AGENT, None, None, False),
        (Role.AGENT, None, "", False),
        (Role.SUPERVISOR, None, "a-102", True),
        (Role.ADMIN, None, "a-999", True),
    ],
)
def test_agents_see_only_their_own_calls(
    role: Role, agent_id: str | None, other: str | None, visible: bool
) -> None:
    user = CurrentUser("u", "u", role, agent_id)
    assert user.may_see_agent(other) is visible
    assert user.agent_scope == ((agent_id or "") if role is Role.AGENT else None)
