"""Recovery after a controller restart or Redis loss, and the hold-loop announcements."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import pytest

from acd.hold import HoldRoute
from acd.model import AgentState, CallStatus
from acd.ports import LiveChannel
from acd.service import AcdService
from acd.store import AcdStore
from switchboard.settings import AcdSettings


async def test_controller_restart_rebuilds_state_from_redis_and_live_channels(
    service, store, fake_asterisk, clock, make_request, acd_config
):
    await service.login("a1")
    reqs = [make_request(c) for c in ("c1", "c2", "c3")]
    for r in reqs:
        fake_asterisk.add_channel(r.channel, r.uniqueid)
        await service.enqueue(r)
        await clock.advance(1)
    await service.dispatcher.run_pending()  # c1 rings a1; then the controller dies
    # During the outage: c1's agent did not answer (back on hold), the c2 caller hung up.
    fake_asterisk.add_channel(reqs[0].channel, reqs[0].uniqueid, "sb-hold", application="MusicOnHold")
    del fake_asterisk.channels[reqs[1].channel]
    # A restarted controller has a new identity: the old one's assignments in flight are over.
    new_store = AcdStore(store.redis, "sbtest", origin="c1-restarted")
    restarted = AcdService(new_store, fake_asterisk, clock, AcdSettings(key_prefix="sbtest"), listen=False)
    started = time.monotonic()
    await restarted.reconcile(await fake_asterisk.live_channels())
    assert time.monotonic() - started < 5
    c1 = await store.get_call("c1")
    assert c1.status is CallStatus.WAITING and await store.position(c1) == (1, 2)
    assert (await store.agent_status("a1")).reason == "no answer"
    assert await store.get_call("c2") is None
    assert [e.fields["call"] for e in await store.events() if e.type == "ended"] == ["c2"]
    await restarted.reconcile(
        await fake_asterisk.live_channels()
    )  # idempotent: nothing lost, nothing doubled
    assert await store.waiting_count("billing") == 2


@pytest.fixture
async def repository(tmp_path: Path):
    from acd.repository import AcdRepository
    from switchboard.db import create_engine, session_factory, upgrade

    url = f"sqlite+aiosqlite:///{tmp_path / 'acd.db'}"
    await upgrade(url, "acd@head")
    engine = create_engine(url)
    try:
        yield AcdRepository(session_factory(engine))
    finally:
        await engine.dispose()


async def test_redis_loss_rebuilds_waiting_callers_from_sql_and_live_channels(
    store, fake_asterisk, clock, repository, make_request, acd_config
):
    await repository.save_config(acd_config)
    svc = AcdService(
        store, fake_asterisk, clock, AcdSettings(key_prefix="sbtest"), repository=repository, listen=False
    )
    await svc.load()
    reqs = [make_request(c) for c in ("c1", "c2")]
    for r in reqs:
        fake_asterisk.add_channel(r.channel, r.uniqueid, "sb-hold")
        await svc.enqueue(r)
        await clock.advance(10)
    enqueued_at = (await store.get_call("c1")).enqueued_at
    await store.clear()  # Redis lost everything
    del fake_asterisk.channels[reqs[1].channel]  # and c2 hung up meanwhile
    fresh = AcdService(
        store, fake_asterisk, clock, AcdSettings(key_prefix="sbtest"), repository=repository, listen=False
    )
    await fresh.load()
    await fresh.reconcile(await fake_asterisk.live_channels())
    c1 = await store.get_call("c1")
    assert c1 is not None and c1.enqueued_at == enqueued_at and await store.waiting_count("billing") == 1
    assert (await repository.get_call("c2")).outcome == "abandoned"
    await fresh.login("a1")
    await fresh.dispatcher.run_pending()
    assert fake_asterisk.named("redirect")[-1]["channel"] == reqs[0].channel


async def test_caller_on_hold_unknown_to_the_acd_is_adopted(service, store, fake_asterisk):
    fake_asterisk.variables["PJSIP/carrier-9"] = {
        "SB_CALL_ID": "ivr-9",
        "SB_QUEUE": "sales",
        "SB_PRIORITY": "3",
    }
    ch = LiveChannel("PJSIP/carrier-9", "9.9", "sb-hold", application="MusicOnHold", duration_seconds=12)
    fake_asterisk.channels[ch.channel] = ch
    await service.reconcile([ch])
    call = await store.get_call("ivr-9")
    assert (
        call.queue == "sales" and call.priority == 3 and call.waited(service.clock.now()) == pytest.approx(12)
    )


@dataclass
class FakeHoldSession:
    """The AgiSession calls the hold route makes, recorded; ``keys`` are pressed in turn when prompted."""

    env: SimpleNamespace
    keys: list[str] = field(default_factory=list)
    log: list[tuple[str, str]] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)

    async def stream_file(self, filename: str, escape_digits: str = ""):
        self.log.append(("play", filename))
        digit = self.keys.pop(0) if escape_digits and self.keys else None
        return SimpleNamespace(digit=digit, endpos=0, played=True)

    async def say_digits(self, digits: str, escape_digits: str = "") -> str | None:
        self.log.append(("digits", digits))
        return None

    async def wait_for_digit(self, timeout_ms: int) -> str | None:
        return self.keys.pop(0) if self.keys else None

    async def set_variable(self, name: str, value: str) -> None:
        self.variables[name] = value

    async def exec(self, application: str, args: str = "") -> int:
        self.log.append(("exec", f"{application}({args})"))
        return 0


def hold_session(req, keys=()) -> FakeHoldSession:
    env = SimpleNamespace(uniqueid=req.uniqueid, channel=req.channel, callerid=req.caller_number)
    return FakeHoldSession(env, list(keys))


async def test_hold_loop_announces_position_and_estimated_wait(service, store, make_request, clock):
    for c in ("c1", "c2", "c3"):
        await service.enqueue(make_request(c))
    await service.login("a3")  # staffed (but a3 will ring c1 only when the dispatcher runs)
    await store.record_handle_time("billing", 120)
    session = hold_session(make_request("c3"))
    await HoldRoute(service)(session)
    assert ("play", "queue-thereare") in session.log and ("digits", "3") in session.log
    assert ("play", "queue-holdtime") in session.log and ("play", "queue-minutes") in session.log
    assert session.variables["SB_ANNOUNCE_EVERY"] == "30"
    assert ("play", "sb/acd-callback-offer") not in session.log  # not offered before the callback step


async def test_caller_pressing_the_callback_key_keeps_their_place(service, store, make_request, clock):
    await service.enqueue(make_request("c1"))
    await service.enqueue(make_request("c2"))
    await clock.advance(130)
    session = hold_session(make_request("c2"), keys=["1"])  # pressed during the position announcement
    await HoldRoute(service)(session)
    assert session.variables.get("SB_HOLD_ACTION") == "callback"
    call = await store.get_call("c2")
    assert call.callback and await store.position(call) == (2, 2)
    assert (await store.agent_status("a1")).state is AgentState.OFFLINE


async def test_music_on_hold_start_of_an_unknown_caller_adopts_them(service, store, fake_asterisk):
    from acd.ports import HoldStarted

    fake_asterisk.variables["PJSIP/carrier-7"] = {"SB_CALL_ID": "ivr-7", "SB_QUEUE": "sales"}
    fake_asterisk.add_channel("PJSIP/carrier-7", "7.7")
    await service.handle(HoldStarted("PJSIP/carrier-7", "7.7"))
    call = await store.get_call("ivr-7")
    assert call is not None and call.queue == "sales" and call.uniqueid == "7.7"


async def test_a_hang_up_during_the_adoption_check_calls_the_adoption_off(
    service, store, fake_asterisk, monkeypatch
):
    import asyncio

    from acd.ports import ChannelHungUp, HoldStarted

    fake_asterisk.variables["PJSIP/carrier-8"] = {"SB_CALL_ID": "ivr-8", "SB_QUEUE": "sales"}
    fake_asterisk.add_channel("PJSIP/carrier-8", "8.8")
    gate = asyncio.Event()
    lookup = store.call_for_channel

    async def slow_lookup(uniqueid: str):
        await gate.wait()
        return await lookup(uniqueid)

    monkeypatch.setattr(store, "call_for_channel", slow_lookup)
    check = asyncio.create_task(service.handle(HoldStarted("PJSIP/carrier-8", "8.8")))
    await asyncio.sleep(0.01)
    await service.handle(ChannelHungUp("PJSIP/carrier-8", "8.8", 16, "Normal Clearing"))
    gate.set()
    await asyncio.wait_for(check, 5)
    assert await store.get_call("ivr-8") is None
    assert await store.all_calls() == []
    # the next caller on that uniqueid-free path is adopted again as usual
    fake_asterisk.variables["PJSIP/carrier-9"] = {"SB_CALL_ID": "ivr-9", "SB_QUEUE": "sales"}
    fake_asterisk.add_channel("PJSIP/carrier-9", "9.1")
    await service.handle(HoldStarted("PJSIP/carrier-9", "9.1"))
    assert (await store.get_call("ivr-9")) is not None
