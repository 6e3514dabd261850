"""FastAGI test fixtures: servers on free ports (always closed afterwards) and a standard environment."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from ivr.fastagi import AgiEnvironment, AgiSession, FastAgiServer

StartServer = Callable[..., Awaitable[FastAgiServer]]


@pytest.fixture
async def start_server() -> AsyncIterator[StartServer]:
    """Start a FastAgiServer on 127.0.0.1, port 0; every server started is closed after the test."""
    servers: list[FastAgiServer] = []

    async def start(route: Callable[[AgiEnvironment], Any], **kwargs: Any) -> FastAgiServer:
        server = FastAgiServer(route, host="127.0.0.1", port=0, **kwargs)
        await server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.close()


@pytest.fixture
def make_env() -> Callable[..., dict[str, str]]:
    """An environment like Asterisk 22 sends for ``AGI(agi://127.0.0.1/<script>)``."""

    def make(script: str = "ivr/main", **overrides: str) -> dict[str, str]:
        env = {
            "agi_network": "yes",
            "agi_network_script": script,
            "agi_request": f"agi://127.0.0.1:4573/{script}",
            "agi_channel": "Local/test@sb-caller-00000001;1",
            "agi_language": "en",
            "agi_type": "Local",
            "agi_uniqueid": "1795395982.2",
            "agi_version": "22.11.0-rc1",
            "agi_callerid": "+15551230001",
            "agi_calleridname": "Test Caller",
            "agi_context": "sb-ivr",
            "agi_extension": "s",
            "agi_priority": "2",
            "agi_enhanced": "0.0",
            "agi_accountcode": "",
            "agi_threadid": "140148667639488",
        }
        env.update({f"agi_{key}": value for key, value in overrides.items()})
        return env

    return make


class Recorder:
    """Wraps a handler so a test can see its outcome (the server logs and swallows handler errors)."""

    def __init__(self, body: Callable[[AgiSession], Awaitable[Any]]) -> None:
        self.body = body
        self.done = asyncio.Event()
        self.result: Any = None
        self.error: BaseException | None = None
        self.session: AgiSession | None = None

    async def __call__(self, session: AgiSession) -> None:
        self.session = session
        try:
            self.result = await self.body(session)
        except BaseException as exc:
            self.error = exc
            raise
        finally:
            self.done.set()

    async def wait(self) -> Any:
        await asyncio.wait_for(self.done.wait(), 5)
        return self.result


@pytest.fixture
def recorder() -> type[Recorder]:
    return Recorder
