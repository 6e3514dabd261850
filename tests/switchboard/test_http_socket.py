"""The HTTP listening socket yields connections with Nagle's algorithm off.

Without TCP_NODELAY a kept-alive response written in two parts (headers, body) waits for the client's
delayed ACK: 40 ms on every wallboard poll after the first.
"""

from __future__ import annotations

import asyncio
import socket

from switchboard.app import bind_http
from switchboard.settings import Settings


async def test_connections_accepted_on_the_http_socket_have_nodelay() -> None:
    sock = bind_http(Settings(http={"host": "127.0.0.1", "port": 0}))
    accepted: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raw = writer.get_extra_info("socket")
        accepted.set_result(raw.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        writer.close()

    server = await asyncio.start_server(on_client, sock=sock)
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", sock.getsockname()[1])
        assert await asyncio.wait_for(accepted, 5) != 0
        writer.close()
    finally:
        server.close()
        await server.wait_closed()
