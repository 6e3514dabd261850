"""Fixtures for emulator tests: emulators on the ManualClock, scripted FastAGI servers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from sim.emulator import AsteriskEmulator
from switchboard.clock import ManualClock
from tests.sim.emu_helpers import AgiScript, RawAgiServer


@pytest.fixture
async def make_emulator(clock: ManualClock,
                        tmp_path: Path) -> AsyncIterator[Callable[..., Awaitable[AsteriskEmulator]]]:
    """Build and start emulators; ``dialplan`` may be extensions.conf text. All are stopped afterwards."""
    started: list[AsteriskEmulator] = []

    async def factory(dialplan: str | None = None, **kwargs: Any) -> AsteriskEmulator:
        if dialplan is not None:
            path = tmp_path / f"extensions-{len(started)}.conf"
            path.write_text(dialplan)
            kwargs["dialplan_path"] = path
        kwargs.setdefault("ami_secret", "secret")
        kwargs.setdefault("file_root", tmp_path / "files")
        emulator = AsteriskEmulator(clock, **kwargs)
        await emulator.start()
        started.append(emulator)
        return emulator

    yield factory
    for emulator in started:
        await emulator.stop()


@pytest.fixture
async def agi_server() -> AsyncIterator[Callable[[AgiScript], Awaitable[RawAgiServer]]]:
    servers: list[RawAgiServer] = []

    async def factory(script: AgiScript) -> RawAgiServer:
        server = RawAgiServer(script)
        await server.start()
        servers.append(server)
        return server

    yield factory
    for server in servers:
        await server.close()
