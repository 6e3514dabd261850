"""Recovery through the emulator: a controller restart mid-queue, and a Redis restart that lost its data."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from acd.model import AgentState, CallStatus
from tests.acd.e2e.conftest import Site
from tests.conftest import unavailable


async def test_controller_restart_mid_queue_loses_and_duplicates_no_caller(site: Site) -> None:
    site.add_agents(**{"101": {"talk_for": 8.0}})
    ctl = await site.start_controller()
    await site.login(ctl, "a101")
    talking = site.hold_call("+15550000001", call_id="talking")
    await site.until(lambda: site.connected(talking), limit=10)
    waiting = site.hold_call("+15550000002", call_id="waiting")
    leaving = site.hold_call("+15550000003", call_id="leaving")
    await site.run(2)
    enqueued_at = (await ctl.acd.store.get_call("waiting")).enqueued_at

    await site.stop_controller(ctl)  # the controller dies mid-queue
    site.hangup(leaving)  # a caller gives up during the outage
    newcomer = await site.ivr_call("+15551230077", "0")  # FastAGI refused: the dialplan still queues it
    await site.run(10)  # meanwhile the agent's call ends (talk_for 8 s): nobody tells the ACD
    assert not site.alive(talking) and site.alive(newcomer)

    started = time.monotonic()
    ctl = await site.start_controller()
    assert time.monotonic() - started < 5.0
    store = ctl.acd.store
    assert (await store.get_call("waiting")).enqueued_at == enqueued_at  # keeps its place
    assert await store.get_call("leaving") is None and await store.get_call("talking") is None
    assert (await site.record("leaving")).outcome == "abandoned"
    assert (await site.record("talking")).outcome == "completed"
    adopted = await site.call(newcomer)
    assert adopted is not None and adopted.queue == "support"
    assert sorted(c.uniqueid for c in await store.all_calls()) == sorted(
        [site.uniqueid(waiting), site.uniqueid(newcomer)]
    )
    # The agent whose call ended during the outage is not stuck "on call": it takes the next caller.
    await site.until(lambda: site.connected(waiting), limit=10, what="the waiting caller is served")
    assert site.bridged_with(waiting) == ["PJSIP/101"]
    assert (await site.agent("a101")).call_id == "waiting"
    assert len(site.redirects_of(waiting)) == 1 and len(site.redirects_of(talking)) == 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisProcess:
    """A private redis-server without persistence that a test can stop and start again (same port)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = _free_port()
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            unavailable("redis-server is not installed")
        self.proc = await asyncio.create_subprocess_exec(
            binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", str(self.directory),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.2):
                return
            await asyncio.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
        self.proc = None


@pytest.fixture
async def own_redis(tmp_path: Path) -> AsyncIterator[RedisProcess]:
    server = RedisProcess(tmp_path)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def test_redis_restart_without_its_data_rebuilds_callers_from_the_record_and_asterisk(
    site: Site, own_redis: RedisProcess
) -> None:
    site.redis_url = own_redis.url
    site.add_agents(**{"101": {"talk_for": 20.0}})
    ctl = await site.start_controller()
    await site.login(ctl, "a101")
    talking = site.hold_call("+15550000001", call_id="talking")
    await site.until(lambda: site.connected(talking), limit=10)
    waiting = site.hold_call("+15550000002", call_id="waiting")
    leaving = site.hold_call("+15550000003", call_id="leaving")
    await site.run(2)
    enqueued_at = (await ctl.acd.store.get_call("waiting")).enqueued_at

    await own_redis.stop()
    await site.run(2)
    site.hangup(leaving)
    await site.run(2)
    await own_redis.start()  # empty: no persistence
    store = ctl.acd.store
    await site.until(lambda: _get(store, "waiting"), limit=10, what="waiting caller rebuilt")
    assert (await store.get_call("waiting")).enqueued_at == enqueued_at
    assert await store.get_call("leaving") is None
    await site.until(lambda: _outcome(site, "leaving"), limit=5, what="abandon recorded")
    assert (await site.record("leaving")).outcome == "abandoned"
    talking_call = await store.get_call("talking")
    assert talking_call.status is CallStatus.CONNECTED and talking_call.agent_id == "a101"
    assert (await site.agent("a101")).state is AgentState.ON_CALL
    assert len(site.redirects_of(talking)) == 1  # the connected caller was not pulled away
    # Agents' ready/paused states went with Redis's data: a second agent logs in and takes the caller.
    await ctl.acd.login("a102")
    await site.until(lambda: site.connected(waiting), limit=10, what="waiting caller served")
    await site.until(lambda: not site.alive(talking), limit=25, what="first call over")
    await site.until(lambda: site.agent_in("a101", AgentState.READY), limit=3, what="a101 free again")
    await site.until(lambda: _outcome(site, "talking", "completed"), limit=3, what="completed call recorded")


async def _get(store: object, call_id: str) -> object:
    try:
        return await store.get_call(call_id)  # type: ignore[attr-defined]
    except Exception:
        return None


async def _outcome(site: Site, call_id: str, outcome: str | None = None) -> bool:
    record = await site.record(call_id)
    if record is None:
        return False
    return record.outcome == outcome if outcome else record.outcome not in ("waiting", "ringing", "connected")
