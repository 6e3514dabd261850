"""Whole-app protections: security headers, no caching of personal data, body size limit, escaping."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx

from switchboard.users.model import Role
from switchboard.web.middleware import CONTENT_SECURITY_POLICY
from tests.web.webkit import WebKit, sign_in


async def test_every_answer_carries_the_security_headers(kit: WebKit) -> None:
    async with kit.client() as client:
        answers = [
            await client.get("/login"),
            await client.get("/api/me"),
            await client.get("/health"),
            await client.get("/no/such/page"),
            await client.get("/static/css/switchboard.css"),
            await client.get("/api/me", headers=kit.users[Role.AGENT].bearer),
        ]
    for answer in answers:
        headers = answer.headers
        assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY, answer.url
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "same-origin"
    assert "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY
    assert "unsafe-inline" not in CONTENT_SECURITY_POLICY and "unsafe-eval" not in CONTENT_SECURITY_POLICY


async def test_pages_and_api_answers_are_never_cached_but_static_files_are(kit: WebKit) -> None:
    async with kit.client() as client:
        assert (await client.get("/login")).headers["cache-control"] == "no-store"
        assert (await client.get("/api/me", headers=kit.users[Role.AGENT].bearer)).headers[
            "cache-control"
        ] == "no-store"
        static = await client.get("/static/js/switchboard.js")
    assert static.status_code == 200
    assert "max-age" in static.headers["cache-control"]
    assert "formatTimes" in static.text


async def test_hsts_only_over_https(kit: WebKit) -> None:
    transport = httpx.ASGITransport(app=kit.app)
    async with httpx.AsyncClient(transport=transport, base_url="https://sb.example") as client:
        assert "max-age" in (await client.get("/login")).headers["strict-transport-security"]
    async with kit.client() as client:
        assert "strict-transport-security" not in (await client.get("/login")).headers


async def test_oversized_body_is_refused_with_413_before_anything_reads_it(kit: WebKit) -> None:
    limit = kit.settings.web.max_body_bytes
    async with kit.client() as client:
        answer = await client.post(
            "/api/users",
            content=b"x" * (limit + 1),
            headers={**kit.users[Role.ADMIN].bearer, "content-type": "application/json"},
        )
        assert answer.status_code == 413
        # Unauthenticated senders are refused by size first: they cannot make us read megabytes.
        assert (await client.post("/login", content=b"u" * (limit + 1))).status_code == 413


async def test_oversized_chunked_body_is_refused_with_413(kit: WebKit) -> None:
    limit = kit.settings.web.max_body_bytes

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(limit // 65536 + 2):
            yield b"{" * 65536

    async with kit.client() as client:
        answer = await client.post(
            "/api/me/tokens",
            content=chunks(),
            headers={**kit.users[Role.AGENT].bearer, "content-type": "application/json"},
        )
    assert answer.status_code == 413


async def test_body_just_under_the_limit_is_read(kit: WebKit) -> None:
    async with kit.client() as client:
        answer = await client.post(
            "/api/me/tokens",
            json={"name": "n" * 50, "pad": "p" * (kit.settings.web.max_body_bytes - 200)},
            headers=kit.users[Role.AGENT].bearer,
        )
    assert answer.status_code == 422  # read and validated (unknown field), not refused for its size


async def test_script_typed_as_a_user_name_comes_back_as_text_in_the_form(kit: WebKit) -> None:
    async with kit.client() as client:
        answer = await sign_in(client, '"><script>alert(1)</script>', "whatever")
    assert answer.status_code == 401
    assert "<script>alert(1)</script>" not in answer.text
    assert "&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in answer.text


async def test_forbidden_page_is_a_page_for_browsers_and_json_for_scripts(kit: WebKit) -> None:
    async with kit.client() as client:
        await sign_in(client, "agent1", "agent-password-1")
        page = await client.get("/admin/users", headers={"accept": "text/html"})
        assert page.status_code == 403
        assert "Not allowed" in page.text and "text/html" in page.headers["content-type"]
        script = await client.get("/api/users")
        assert script.status_code == 403
        assert script.json() == {"detail": "your role does not allow this"}
