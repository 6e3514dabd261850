"""WebSocket routes (a live wallboard may use them) take the same role guard, over a real connection:
no session, the wrong role, or a handshake from another site's page is refused."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
import websockets
from fastapi import APIRouter, WebSocket

from switchboard.ids import new_id
from switchboard.users.model import Role
from switchboard.web import SupervisorUser
from tests.web.webkit import LOGIN_TOKEN, PASSWORDS, LiveServer, start_live_server


def ws_router() -> APIRouter:
    router = APIRouter()

    @router.websocket("/ws/whoami")
    async def whoami(websocket: WebSocket, user: SupervisorUser) -> None:
        await websocket.accept()
        await websocket.send_text(f"{user.username}:{user.role.value}")
        await websocket.close()

    return router


@pytest.fixture(scope="module")
def ws_server(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[LiveServer]:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('ws') / 'web.db'}"
    server = start_live_server(
        url, redis_url=redis_url, redis_prefix=f"sbtest-ws:{new_id()}", routers=[ws_router()]
    )
    try:
        yield server
    finally:
        server.stop()


def session_cookie(server: LiveServer, role: Role) -> str:
    with httpx.Client(base_url=server.url) as client:
        form = client.get("/login")
        token = LOGIN_TOKEN.search(form.text).group(1)
        client.post(
            "/login", data={"username": f"{role.value}1", "password": PASSWORDS[role], "csrf_token": token}
        )
        return client.cookies["sb_session"]


async def talk(server: LiveServer, headers: dict[str, str]) -> str:
    uri = server.url.replace("http://", "ws://") + "/ws/whoami"
    async with asyncio.timeout(5), websockets.connect(uri, additional_headers=headers) as socket:
        return await socket.recv()


def test_supervisor_session_from_this_site_gets_the_socket(ws_server: LiveServer) -> None:
    cookie = session_cookie(ws_server, Role.SUPERVISOR)
    headers = {"cookie": f"sb_session={cookie}", "origin": ws_server.url}
    assert asyncio.run(talk(ws_server, headers)) == "supervisor1:supervisor"


def test_token_holder_gets_the_socket_without_an_origin(ws_server: LiveServer) -> None:
    headers = ws_server.users[Role.ADMIN].bearer
    assert asyncio.run(talk(ws_server, headers)) == "admin1:admin"


@pytest.mark.parametrize("case", ["nobody", "agent", "other-site", "no-origin"])
def test_socket_is_refused_without_the_right_role_or_from_another_site(
    ws_server: LiveServer, case: str
) -> None:
    headers: dict[str, str] = {}
    if case == "agent":
        headers = {"cookie": f"sb_session={session_cookie(ws_server, Role.AGENT)}", "origin": ws_server.url}
    elif case == "other-site":
        headers = {
            "cookie": f"sb_session={session_cookie(ws_server, Role.SUPERVISOR)}",
            "origin": "https://evil.example",
        }
    elif case == "no-origin":
        headers = {"cookie": f"sb_session={session_cookie(ws_server, Role.SUPERVISOR)}"}
    with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
        asyncio.run(talk(ws_server, headers))
    assert refused.value.response.status_code == 403
