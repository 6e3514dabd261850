"""Real headless Chromium against the app under uvicorn: sign in as each role, refusals, sign-out,
expired sessions, script in user names, brute force, times in the viewer's zone."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from switchboard.users.model import Role
from tests.web.webkit import PASSWORDS, LiveServer

LANDING = {Role.AGENT: "/", Role.SUPERVISOR: "/", Role.ADMIN: "/admin/users"}


def sign_in(page: Any, username: str, password: str) -> None:
    page.fill("#username", username)
    page.fill("#password", password)
    with page.expect_navigation():
        page.click("button[type=submit]")


def path_of(page: Any) -> str:
    return re.sub(r"^https?://[^/]+", "", page.url)


@pytest.mark.parametrize("role", list(Role))
def test_each_role_signs_in_and_lands_on_its_page(page: Any, live_server: LiveServer, role: Role) -> None:
    page.goto("/")
    assert path_of(page).startswith("/login?next=")
    assert page.title() == "Sign in · Switchboard"
    sign_in(page, f"{role.value}1", PASSWORDS[role])
    assert path_of(page) == LANDING[role]
    assert page.get_by_test_id("current-user").inner_text() == f"{role.value}1 ({role.value})"
    if role is Role.ADMIN:
        assert page.get_by_role("heading", name="Users").is_visible()
        assert page.get_by_role("link", name="Users").is_visible()
    else:
        assert page.get_by_test_id("role").inner_text() == role.value
        assert page.get_by_role("link", name="Users").count() == 0


@pytest.mark.parametrize("role", [Role.AGENT, Role.SUPERVISOR])
def test_roles_below_admin_are_refused_the_users_page_and_api(
    page: Any, live_server: LiveServer, role: Role
) -> None:
    page.goto("/login")
    sign_in(page, f"{role.value}1", PASSWORDS[role])
    answer = page.goto("/admin/users")
    assert answer.status == 403
    assert page.get_by_role("heading", name="Not allowed").is_visible()
    status = page.evaluate("async () => (await window.switchboard.send('/api/users')).status")
    assert status == 403
    created = page.evaluate(
        """async () => (await window.switchboard.send('/api/users', {method: 'POST',
            headers: {'Content-Type': 'application/json'},
            body: JSON.stringify({username: 'sneaky', password: 'sneaky-password-1', role: 'admin'})
        })).status"""
    )
    assert created == 403


def test_sign_out_ends_the_session(page: Any, live_server: LiveServer) -> None:
    page.goto("/login")
    sign_in(page, "supervisor1", PASSWORDS[Role.SUPERVISOR])
    cookie = next(c for c in page.context.cookies() if c["name"] == "sb_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_load_state()
    assert path_of(page) == "/login?signed_out=1"
    assert page.get_by_role("status").inner_text() == "You have signed out."
    page.goto("/")
    assert path_of(page).startswith("/login?next=")
    replay = httpx.get(f"{live_server.url}/api/me", cookies={"sb_session": cookie["value"]})
    assert replay.status_code == 401


def test_expired_session_goes_back_to_sign_in_and_then_to_the_same_page(
    page: Any, live_server: LiveServer
) -> None:
    page.goto("/login")
    sign_in(page, "admin1", PASSWORDS[Role.ADMIN])
    page.goto("/admin/users?done=saved")
    live_server.clock.advance(61 * 60)  # past the 60-minute idle limit
    page.reload()
    assert path_of(page) == "/login?next=%2Fadmin%2Fusers%3Fdone%3Dsaved&ended=1"
    assert "Your session has ended" in page.get_by_role("status").inner_text()
    sign_in(page, "admin1", PASSWORDS[Role.ADMIN])
    assert path_of(page) == "/admin/users?done=saved"


def test_script_in_a_user_name_renders_as_text(page: Any, live_server: LiveServer) -> None:
    name = "<script>alert(1)</script>"
    page.goto("/login")
    sign_in(page, "admin1", PASSWORDS[Role.ADMIN])
    page.fill("#new-username", name)
    page.select_option("#new-role", "supervisor")
    page.fill("#new-password", "xss-password-1")
    page.get_by_role("button", name="Add user").click()
    page.wait_for_load_state()
    assert page.get_by_role("status").inner_text() == "User added."
    link = page.get_by_role("link", name=name)
    assert link.inner_text() == name
    link.click()
    page.wait_for_load_state()
    assert page.get_by_test_id("user-name").inner_text() == name
    assert page.locator("main script").count() == 0
    # The new user signs in: the name in the header is text too.
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_load_state()
    sign_in(page, name, "xss-password-1")
    assert page.get_by_test_id("current-user").inner_text() == f"{name} (supervisor)"
    assert page.get_by_test_id("welcome-name").inner_text() == name
    assert page.dialogs == []


def test_script_typed_into_the_sign_in_form_stays_text(page: Any, live_server: LiveServer) -> None:
    page.goto("/login")
    sign_in(page, '"><img src=x onerror=alert(1)><script>alert(2)</script>', "wrong-password")
    assert page.get_by_role("alert").inner_text() == "Wrong user name or password."
    assert page.input_value("#username") == '"><img src=x onerror=alert(1)><script>alert(2)</script>'
    assert page.locator("img[src=x]").count() == 0
    assert page.dialogs == []


def test_brute_force_gets_rate_limited(page: Any, live_server: LiveServer) -> None:
    live_server.run(live_server.services.accounts.add("target", "target-password-1", Role.SUPERVISOR))
    page.goto("/login")
    for attempt in range(5):
        sign_in(page, "target", f"guess-{attempt}")
        assert page.get_by_role("alert").inner_text() == "Wrong user name or password."
    sign_in(page, "target", "target-password-1")
    assert "Too many failed sign-ins" in page.get_by_role("alert").inner_text()
    assert path_of(page).startswith("/login")
    assert not any(c["name"] == "sb_session" for c in page.context.cookies())


def test_times_are_shown_in_the_viewers_time_zone(page: Any, live_server: LiveServer) -> None:
    page.goto("/login")
    sign_in(page, "admin1", PASSWORDS[Role.ADMIN])
    first = page.locator("time[datetime]").first
    first.wait_for()
    assert first.get_attribute("data-local") == "Asia/Seoul"
    utc_text = first.get_attribute("title")
    assert utc_text.endswith("UTC (Asia/Seoul)")
    shown = first.inner_text()
    assert "UTC" not in shown
    expected = page.evaluate(
        "iso => new Intl.DateTimeFormat(undefined,"
        " {dateStyle: 'medium', timeStyle: 'short', timeZone: 'Asia/Seoul'}).format(new Date(iso))",
        first.get_attribute("datetime"),
    )
    assert shown == expected
    assert any(c["name"] == "sb_tz" and c["value"] == "Asia%2FSeoul" for c in page.context.cookies())


def test_pages_are_usable_by_keyboard_with_large_type(page: Any, live_server: LiveServer) -> None:
    page.goto("/login")
    assert page.evaluate("document.activeElement.id") == "username"  # the form is ready to type into
    page.keyboard.type("agent1")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORDS[Role.AGENT])
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert path_of(page) == "/"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to main content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    font_size = page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)")
    assert font_size >= 18
