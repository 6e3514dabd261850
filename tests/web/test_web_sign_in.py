"""Signing in and out of the pages: cookies, CSRF, brute-force throttling, expiry, redirects."""

from __future__ import annotations

import httpx
import pytest

from switchboard.users.model import Role
from tests.web.webkit import LOGIN_TOKEN, WebKit, page_csrf, sign_in


def set_cookie_headers(response: httpx.Response) -> list[str]:
    return response.headers.get_list("set-cookie")


async def test_admin_signs_in_and_lands_on_the_users_page(kit: WebKit) -> None:
    async with kit.client() as client:
        answer = await sign_in(client, "admin1", "admin-password-1")
        assert answer.status_code == 303
        assert answer.headers["location"] == "/admin/users"
        me = await client.get("/api/me")
        assert me.json()["username"] == "admin1"
        assert me.json()["via"] == "session"


async def test_user_returns_to_the_page_they_asked_for_after_signing_in(kit: WebKit) -> None:
    async with kit.client() as client:
        bounced = await client.get("/admin/users?done=saved", headers={"accept": "text/html"})
        assert bounced.status_code == 303
        assert bounced.headers["location"] == "/login?next=%2Fadmin%2Fusers%3Fdone%3Dsaved"
        answer = await sign_in(client, "admin1", "admin-password-1", next_path="/admin/users?done=saved")
        assert answer.headers["location"] == "/admin/users?done=saved"


@pytest.mark.parametrize(
    "target", ["//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:1"]
)
async def test_sign_in_never_redirects_to_another_site(kit: WebKit, target: str) -> None:
    async with kit.client() as client:
        answer = await sign_in(client, "agent1", "agent-password-1", next_path=target)
        assert answer.headers["location"] == "/"


async def test_session_cookie_is_httponly_and_samesite_lax_but_not_secure_on_loopback_http(
    kit: WebKit,
) -> None:
    async with kit.client() as client:
        answer = await sign_in(client, "agent1", "agent-password-1")
    cookie = next(c for c in set_cookie_headers(answer) if c.startswith("sb_session="))
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Secure" not in cookie


async def test_session_cookie_is_secure_with_host_prefix_when_configured(kit: WebKit) -> None:
    from switchboard.web.app import create_web_app

    settings = kit.settings.model_copy(
        update={"web": kit.settings.web.model_copy(update={"cookie_secure": "always"})}
    )
    app = create_web_app(settings, kit.services)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://sb.example") as client:
        form = await client.get("/login")
        assert "__Host-sb_login_csrf=" in form.headers["set-cookie"]
        token = LOGIN_TOKEN.search(form.text).group(1)
        answer = await client.post(
            "/login", data={"username": "agent1", "password": "agent-password-1", "csrf_token": token}
        )
        cookie = next(c for c in set_cookie_headers(answer) if c.startswith("__Host-sb_session="))
        assert "Secure" in cookie and "HttpOnly" in cookie and "Path=/" in cookie
        assert (await client.get("/api/me")).json()["username"] == "agent1"


async def test_wrong_password_and_unknown_user_get_the_same_answer(kit: WebKit) -> None:
    async with kit.client() as client:
        wrong = await sign_in(client, "agent1", "not-the-password")
        unknown = await sign_in(client, "nobody", "not-the-password")
    assert wrong.status_code == unknown.status_code == 401
    assert "Wrong user name or password." in wrong.text
    assert "Wrong user name or password." in unknown.text
    assert "sb_session" not in wrong.headers.get("set-cookie", "")


async def test_sign_in_form_without_its_token_is_refused(kit: WebKit) -> None:
    async with kit.client() as client:
        answer = await client.post("/login", data={"username": "agent1", "password": "agent-password-1"})
        assert answer.status_code == 400
        assert (await client.get("/api/me")).status_code == 401


async def test_sign_in_from_another_site_cannot_reuse_a_stolen_form_token(kit: WebKit) -> None:
    async with kit.client() as victim, kit.client() as attacker:
        form = await attacker.get("/login")
        token = LOGIN_TOKEN.search(form.text).group(1)
        # The victim's browser has no matching login cookie: the forged sign-in fails.
        answer = await victim.post(
            "/login", data={"username": "admin1", "password": "admin-password-1", "csrf_token": token}
        )
        assert answer.status_code == 400


async def test_username_is_case_insensitive(kit: WebKit) -> None:
    async with kit.client() as client:
        answer = await sign_in(client, "ADMIN1", "admin-password-1")
        assert answer.status_code == 303


async def test_brute_force_is_throttled_even_with_the_right_password_then_recovers(kit: WebKit) -> None:
    async with kit.client() as client:
        for _ in range(5):
            assert (await sign_in(client, "agent1", "guess")).status_code == 401
        blocked = await sign_in(client, "agent1", "agent-password-1")
        assert blocked.status_code == 429
        assert int(blocked.headers["retry-after"]) > 0
        assert "Too many failed sign-ins" in blocked.text
        # Another address is not locked out of the same account.
        async with kit.client(address="10.1.2.3") as other:
            assert (await sign_in(other, "agent1", "agent-password-1")).status_code == 303
        await kit.clock.advance(kit.settings.web.login_window_seconds + 1)
        assert (await sign_in(client, "agent1", "agent-password-1")).status_code == 303


async def test_password_spraying_from_one_address_is_throttled(kit: WebKit) -> None:
    limit = kit.settings.web.login_ip_max_failures
    async with kit.client(address="192.0.2.9") as client:
        for n in range(limit):
            assert (await sign_in(client, f"user{n}", "guess")).status_code == 401
        assert (await sign_in(client, "supervisor1", "supervisor-password-1")).status_code == 429


async def test_idle_session_ends_and_browser_is_sent_back_to_sign_in(kit: WebKit) -> None:
    async with kit.client() as client:
        await sign_in(client, "supervisor1", "supervisor-password-1")
        await kit.clock.advance(30 * 60)
        assert (await client.get("/api/me")).status_code == 200  # use keeps it alive
        await kit.clock.advance(kit.settings.web.session_idle_minutes * 60 + 1)
        api = await client.get("/api/me")
        assert api.status_code == 401
        assert api.json()["detail"] == "session ended; sign in again"
        page = await client.get("/", headers={"accept": "text/html"})
        assert page.status_code == 303
        assert page.headers["location"] == "/login?next=%2F&ended=1"
        login = await client.get(page.headers["location"])
        assert "Your session has ended" in login.text


async def test_session_ends_after_its_maximum_lifetime_even_when_used(kit: WebKit) -> None:
    async with kit.client() as client:
        await sign_in(client, "agent1", "agent-password-1")
        for _ in range(int(kit.settings.web.session_max_hours * 2) - 1):
            await kit.clock.advance(30 * 60)
            assert (await client.get("/api/me")).status_code == 200
        await kit.clock.advance(30 * 60)
        assert (await client.get("/api/me")).status_code == 401


async def test_sign_out_ends_the_session_for_good(kit: WebKit) -> None:
    async with kit.client() as client:
        await sign_in(client, "agent1", "agent-password-1")
        stolen = client.cookies.get("sb_session")
        csrf = await page_csrf(client)
        answer = await client.post("/logout", data={"csrf_token": csrf})
        assert answer.status_code == 303
        assert answer.headers["location"] == "/login?signed_out=1"
        assert (await client.get("/api/me")).status_code == 401
    async with kit.client() as replay:
        replay.cookies.set("sb_session", stolen)
        assert (await replay.get("/api/me")).status_code == 401


async def test_sign_out_without_the_csrf_token_is_refused(kit: WebKit) -> None:
    async with kit.client() as client:
        await sign_in(client, "agent1", "agent-password-1")
        assert (await client.post("/logout")).status_code == 403
        assert (await client.get("/api/me")).status_code == 200


async def test_cookie_writes_need_the_csrf_token_and_this_sites_origin(kit: WebKit) -> None:
    async with kit.client() as client:
        await sign_in(client, "agent1", "agent-password-1")
        csrf = await page_csrf(client)
        body = {"name": "laptop"}
        assert (await client.post("/api/me/tokens", json=body)).status_code == 403
        assert (
            await client.post("/api/me/tokens", json=body, headers={"x-csrf-token": "wrong"})
        ).status_code == 403
        foreign = {"x-csrf-token": csrf, "origin": "https://evil.example"}
        assert (await client.post("/api/me/tokens", json=body, headers=foreign)).status_code == 403
        same = {"x-csrf-token": csrf, "origin": "http://127.0.0.1:8000"}
        assert (await client.post("/api/me/tokens", json=body, headers=same)).status_code == 201


async def test_bearer_token_calls_need_no_csrf_token(kit: WebKit) -> None:
    async with kit.client() as client:
        answer = await client.post(
            "/api/me/tokens", json={"name": "ci"}, headers=kit.users[Role.AGENT].bearer
        )
        assert answer.status_code == 201


async def test_signed_in_user_opening_the_sign_in_page_goes_straight_on(kit: WebKit) -> None:
    async with kit.client() as client:
        await sign_in(client, "admin1", "admin-password-1")
        answer = await client.get("/login")
        assert answer.status_code == 303
        assert answer.headers["location"] == "/admin/users"


async def test_disabled_user_is_signed_out_at_once(kit: WebKit) -> None:
    async with kit.client() as client:
        await sign_in(client, "supervisor1", "supervisor-password-1")
        admin = kit.users[Role.ADMIN]
        supervisor = kit.users[Role.SUPERVISOR]
        changed = await client.patch(
            f"/api/users/{supervisor.user.id}", json={"disabled": True}, headers=admin.bearer
        )
        assert changed.status_code == 200
        assert (await client.get("/api/me")).status_code == 401
        assert (await client.get("/api/me", headers=supervisor.bearer)).status_code == 401
        assert (await sign_in(client, "supervisor1", "supervisor-password-1")).status_code == 401


async def test_role_change_applies_to_the_next_request(kit: WebKit) -> None:
    admin = kit.users[Role.ADMIN]
    supervisor = kit.users[Role.SUPERVISOR]
    async with kit.client() as client:
        assert (await client.get("/api/users", headers=supervisor.bearer)).status_code == 403
        await client.patch(f"/api/users/{supervisor.user.id}", json={"role": "admin"}, headers=admin.bearer)
        assert (await client.get("/api/users", headers=supervisor.bearer)).status_code == 200


async def test_htmx_request_without_session_gets_401_with_a_redirect_hint(kit: WebKit) -> None:
    async with kit.client() as client:
        answer = await client.get("/admin/users", headers={"hx-request": "true", "accept": "text/html"})
    assert answer.status_code == 401
    assert answer.headers["hx-redirect"] == "/login"
