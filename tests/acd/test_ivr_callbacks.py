"""The IVR's callback node reaches the ACD (acd/ivr_callbacks.py), on the real Redis (and SQL for records)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from acd.ivr_callbacks import CallbackNumberError, IvrCallbacks
from acd.model import AgentState, CallStatus
from acd.ports import OriginateResult
from acd.repository import AcdRepository
from acd.service import AcdService
from ivr.ports import CallbackRequest
from ivr.runtime.state import Outcome
from switchboard.settings import AcdSettings
from tests.ivr.conftest import Kit


def callback_request(call_id: str = "cb1", **changes: Any) -> CallbackRequest:
    values: dict[str, Any] = {
        "call_id": call_id, "number": "+15551230002", "caller_name": "Caller", "queue": "billing",
        "skill": "billing", "region": "eu", "priority": 5, "language": "en", "vip": False,
        "requested_at": changes.pop("requested_at", None), "reason": "main:callback",
        "variables": {"sb_flow": "main"},
    }  # fmt: skip
    values.update(changes)
    return CallbackRequest(**values)


@pytest.fixture
def callbacks(service: AcdService) -> IvrCallbacks:
    return IvrCallbacks(service)


async def ask(callbacks: IvrCallbacks, clock: Any, call_id: str = "cb1", **changes: Any) -> None:
    await callbacks.request_callback(callback_request(call_id, requested_at=clock.now(), **changes))


async def test_callback_request_waits_in_its_queue_with_its_number_and_no_channel(
    service, callbacks, clock, fake_asterisk, make_request
):
    earlier = make_request("earlier", priority=0)
    fake_asterisk.add_channel(earlier.channel, earlier.uniqueid)
    await service.enqueue(earlier)
    await ask(callbacks, clock, priority=5)
    call = await service.store.get_call("cb1")
    assert call is not None and call.status is CallStatus.WAITING
    assert call.callback and call.callback_number == "+15551230002" and call.caller_number == "+15551230002"
    assert (call.channel, call.uniqueid) == ("", "")
    assert (call.queue, call.skill, call.region, call.language, call.priority) == ("billing", "billing", "eu",
                                                                                   "en", 5)  # fmt: skip
    # a higher priority than the caller already on hold: first in line
    assert await service.store.position(call) == (1, 2)
    (event,) = [e for e in await service.store.events() if e.fields.get("call") == "cb1"]
    assert event.type == "enqueued" and event.fields["callback"] == "1" and event.fields["queue"] == "billing"


async def test_vip_callback_gets_the_vip_boost_and_its_wait_counts_from_the_request(
    service, callbacks, clock
):
    requested = clock.now()
    await clock.advance(4)
    await callbacks.request_callback(callback_request(vip=True, priority=1, requested_at=requested))
    call = await service.store.get_call("cb1")
    assert call.vip and call.priority == 1 + AcdSettings().vip_priority_boost
    assert call.enqueued_at == requested


async def test_retried_request_does_not_create_a_second_callback_even_after_the_first_ended(
    service, callbacks, clock
):
    await ask(callbacks, clock)
    await ask(callbacks, clock)  # a retry while it waits
    assert [c.call_id for c in await service.store.all_calls()] == ["cb1"]
    first = await service.store.get_call("cb1")
    await service.store.end_call(first, clock.now(), None, "callback done")
    await ask(callbacks, clock)  # a late retry: the customer was already called
    assert await service.store.all_calls() == []
    enqueued = [e for e in await service.store.events() if e.type == "enqueued"]
    assert len(enqueued) == 1


async def test_concurrent_duplicate_requests_make_one_callback(service, callbacks, clock):
    await asyncio.gather(*(ask(callbacks, clock) for _ in range(8)))
    assert [c.call_id for c in await service.store.all_calls()] == ["cb1"]
    assert await service.store.waiting_count("billing") == 1


@pytest.mark.parametrize(
    "number",
    [
        "+15551230002\r\nAction: Hangup",
        "+15551230002\n",
        "+15551230002&PJSIP/666",
        "+15551230002@evil",
        "PJSIP/200",
        "15551230002",  # not E.164: no plus
        "+1" + "5" * 20,  # too long for E.164
        "+0155512300",
        "",
    ],
)
async def test_hostile_or_malformed_number_is_refused_and_nothing_is_queued(
    service, callbacks, clock, number
):
    with pytest.raises(CallbackNumberError, match=r"E\.164"):
        await ask(callbacks, clock, number=number)
    assert await service.store.all_calls() == []
    assert [e for e in await service.store.events() if e.type == "enqueued"] == []
    # the refusal leaves no trace: the same call id may still ask with a good number
    await ask(callbacks, clock)
    assert (await service.store.get_call("cb1")).callback_number == "+15551230002"


async def test_service_refuses_a_callback_number_with_a_line_break(service, make_request):
    with pytest.raises(ValueError, match="callback number"):
        await service.enqueue_call(make_request("x", channel="", uniqueid=""), callback_number="+1555\r\n")
    assert await service.store.all_calls() == []


async def test_ready_agent_gets_the_callback_and_the_customer_is_originated(
    service, callbacks, clock, fake_asterisk
):
    await ask(callbacks, clock)
    await service.login("a1")
    await service.dispatcher.run_pending()
    (originate,) = fake_asterisk.named("originate")
    assert originate["channel"] == "PJSIP/+15551230002@carrier"
    assert originate["context"] == "sb-connect"
    assert originate["variables"]["SB_CALLBACK"] == "1"
    assert originate["variables"]["SB_AGENT_ENDPOINT"] == "PJSIP/101"
    assert originate["variables"]["SB_CALL_ID"] == "cb1"
    assert fake_asterisk.named("redirect") == []
    assert (await service.store.agent_status("a1")).state is AgentState.RINGING
    # the customer answers: the callback leg is the call's channel from now on
    answered = OriginateResult(originate["action_id"], True, "PJSIP/carrier-0001", "u-cb-leg", reason=4)
    await service.handle(answered)
    call = await service.store.get_call("cb1")
    assert call.status is CallStatus.RINGING and call.uniqueid == "u-cb-leg"


async def test_ivr_callback_node_queues_a_callback_for_the_callers_number(service, clock, tmp_path):
    kit = Kit(tmp_path)
    flows = kit.flows(
        tmp_path / "flows",
        main="""\
        start: cb
        prompts: {thanks: "We will call you back."}
        nodes:
          cb: {kind: callback, queue: sales, prompt: thanks}
        """,
    )
    runner = kit.runner(clock, callbacks=IvrCallbacks(service))
    channel = kit.channel(callerid="(212) 555-0100")
    path = await runner.run(channel, flows, "main")
    assert path.outcome == Outcome.CALLBACK and channel.hangup_sent
    (call,) = await service.store.all_calls()
    assert call.callback and call.callback_number == "+12125550100" and call.queue == "sales"
    assert call.call_id == channel.call_id  # the IVR's record of the call has the same id


async def test_ivr_falls_back_to_the_default_queue_when_the_acd_refuses_the_number(
    service, clock, tmp_path, monkeypatch
):
    # The IVR normalises numbers itself; should a bad one ever get past it, the ACD still refuses it.
    monkeypatch.setattr("ivr.runtime.handoff.normalise_number", lambda raw, country: raw)
    kit = Kit(tmp_path)
    flows = kit.flows(tmp_path / "flows", main="start: cb\nnodes:\n  cb: {kind: callback}\n")
    runner = kit.runner(clock, callbacks=IvrCallbacks(service))
    path = await runner.run(kit.channel(callerid="+12125550100&PJSIP/666"), flows, "main")
    assert path.outcome == Outcome.QUEUED
    assert kit.queue.requests[0].reason == "callback-failed:cb"
    assert await service.store.all_calls() == []


async def test_callback_is_recorded_in_sql_and_survives_a_redis_loss(
    store, fake_asterisk, clock, acd_config, db_engine
):
    from switchboard.db import session_factory

    repository = AcdRepository(session_factory(db_engine))
    service = AcdService(store, fake_asterisk, clock, AcdSettings(key_prefix="sbtest"),
                         repository=repository, listen=False)  # fmt: skip
    await service.load(acd_config)
    await IvrCallbacks(service).request_callback(callback_request(requested_at=clock.now()))
    row = await repository.get_call("cb1")
    assert row is not None and row.outcome == "waiting" and row.queue == "billing"
    assert row.callback and row.callback_number == "+15551230002" and row.uniqueid == ""
    await clock.advance(30)
    await store.clear()  # Redis lost everything (no caller channel to find: it is a callback)
    await service.recover()
    call = await store.get_call("cb1")
    assert call is not None and call.callback and call.status is CallStatus.WAITING
    assert clock.now() - call.enqueued_at == timedelta(seconds=30)
