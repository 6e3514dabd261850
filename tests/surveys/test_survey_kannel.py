"""Surveys through a real Kannel (bearerbox + smsbox, fake SMSC) with a real uvicorn webhook on loopback."""

from __future__ import annotations

import asyncio

import pytest

from surveys.gateways.kannel import KannelGateway
from surveys.kannel_runner import FakeSmscClient, KannelConfig, KannelProcess
from surveys.model import SurveyState
from surveys.ports import CallEnded


def call(clock, call_id: str, number: str, language: str = "en") -> CallEnded:
    return CallEnded(call_id, number, "ann", "billing", "billing", "queue", language, clock.now())


async def state_of(service, call_id: str) -> SurveyState:
    return (await service.survey_for_call(call_id)).survey.state


@pytest.mark.parametrize("reply_post", [True, False], ids=["post-url", "get-url"])
async def test_survey_reaches_the_phone_via_kannel_and_the_reply_lands_on_the_call(
    kannel_stack, kit, reply_post
):
    stack = await kannel_stack(reply_post=reply_post)
    service, clock, phone = stack.service, stack.clock, stack.phone
    await service.on_call_ended(call(clock, "call-k1", kit.NY))
    await clock.advance(300)
    assert (await service.dispatch_due()).sent == 1

    sms = await phone.receive()
    assert (sms.sender, sms.receiver) == ("Switchboard", kit.NY)
    assert sms.text.startswith("Thanks for calling Switchboard. How did we do?")

    async def delivered() -> bool:  # DLR 8 then 1 came back through Kannel's dlr-url
        return await state_of(service, "call-k1") is SurveyState.DELIVERED

    await kit.eventually(delivered)

    mixed = "5 très bien \U0001f600 最高 \u0645\u0645\u062a\u0627\u0632"
    long_reply = ("3 " + "the agent was patient and kind. " * 31).strip()
    texts = ["4 great service", mixed, long_reply]
    for count, text in enumerate(texts, start=1):  # a person types them seconds apart

        async def stored(count: int = count) -> bool:
            return len((await service.survey_for_call("call-k1")).replies) == count

        await phone.send(kit.NY, "Switchboard", text)
        await kit.eventually(stored)
    view = await service.survey_for_call("call-k1")
    assert [r.text for r in view.replies] == texts
    assert [(r.rating, r.comment) for r in view.replies] == [
        (4, "great service"),
        (5, mixed[2:]),
        (3, long_reply[2:]),
    ]
    assert len(view.replies[2].text) > 990
    assert view.survey.rating == 3


async def test_reply_in_ucs2_survey_language_and_stop_through_kannel(kannel_stack, kit):
    stack = await kannel_stack()
    service, clock, phone = stack.service, stack.clock, stack.phone
    await service.on_call_ended(call(clock, "call-ko", kit.SEOUL, "ko"))
    await clock.advance(9 * 3600)  # 00:00 in Seoul: wait for 09:00 KST
    assert (await service.dispatch_due()).sent == 1
    sms = await phone.receive()
    assert "상담은 어떠셨나요" in sms.text  # Kannel sent it as UCS-2; the phone decoded it
    for count, text in enumerate(["다섯 친절해요", "  "], start=1):

        async def stored(count: int = count) -> bool:
            return len((await service.survey_for_call("call-ko")).replies) == count

        await phone.send(kit.SEOUL, "Switchboard", text)
        await kit.eventually(stored)
    replies = (await service.survey_for_call("call-ko")).replies
    assert [(r.kind, r.rating) for r in replies] == [("comment", None), ("empty", None)]
    await phone.send(kit.SEOUL, "Switchboard", "5점")
    await phone.send("+33699999999", "Switchboard", "STOP")

    async def rated_and_stopped() -> bool:
        rated = (await service.survey_for_call("call-ko")).survey.rating == 5
        kept = len(await service.unmatched()) == 1
        return rated and kept and await service.store.is_opted_out("+33699999999")

    await kit.eventually(rated_and_stopped)
    assert [r.kind for r in await service.unmatched()] == ["opt-out"]


@pytest.mark.parametrize("survey_database", ["sqlite"], indirect=True)
async def test_kannel_down_for_minutes_then_back_sends_each_survey_exactly_once(
    make_service, day_clock, tmp_path, kit
):
    kit.need_kannel()
    config = KannelConfig(reply_url="http://127.0.0.1:9/unused")
    gateway = KannelGateway(
        sendsms_url=config.sendsms_url,
        username=config.username,
        password=config.password,
        dlr_url="",
        webhook_secret=kit.SECRET,
        timeout=2.0,
    )
    service = await make_service(gateway=gateway, min_days_between=0, retry_initial=30, retry_max=120)
    numbers = [kit.NY, "+12125550124", "+12125550125"]
    for i, number in enumerate(numbers):
        await service.on_call_ended(call(day_clock, f"c{i}", number))
    await day_clock.advance(300)
    first = await service.dispatch_due()
    assert first.sent == 0 and first.retried + first.claimed >= 1
    for _ in range(5):  # five minutes of outage: the sender rests and probes, sends nothing
        await day_clock.advance(60)
        assert (await service.dispatch_due()).sent == 0
    assert service.gateway_state == "degraded"
    assert [await state_of(service, f"c{i}") for i in range(3)] == [SurveyState.PENDING] * 3

    kannel = KannelProcess(config, tmp_path / "kannel")
    await kannel.start()
    phone = FakeSmscClient()
    try:
        await phone.connect(config.fake_smsc_port)
        for _ in range(10):
            await day_clock.advance(60)
            await service.dispatch_due()
        received = [await phone.receive() for _ in numbers]
        assert sorted(sms.receiver for sms in received) == sorted(numbers)
        with pytest.raises(TimeoutError):
            await phone.receive(within=0.5)  # and nothing more: no duplicates
        for i in range(3):
            view = await service.survey_for_call(f"c{i}")
            assert view.survey.state is SurveyState.SENT and view.survey.last_error is None
        assert service.gateway_state == "ok"
    finally:
        await phone.close()
        await kannel.stop()


@pytest.mark.parametrize("survey_database", ["sqlite"], indirect=True)
async def test_wrong_kannel_credentials_are_retried_not_failed(make_service, day_clock, tmp_path, kit):
    kit.need_kannel()
    config = KannelConfig(reply_url="http://127.0.0.1:9/unused")
    kannel = KannelProcess(config, tmp_path / "kannel")
    await kannel.start()
    try:
        gateway = KannelGateway(
            sendsms_url=config.sendsms_url,
            username=config.username,
            password="wrong",
            dlr_url="",
            webhook_secret=kit.SECRET,
        )
        service = await make_service(gateway=gateway)
        await service.on_call_ended(call(day_clock, "c1", kit.NY))
        await day_clock.advance(300)
        stats = await service.dispatch_due()
        assert stats.retried == 1
        view = await service.survey_for_call("c1")
        assert view.survey.state is SurveyState.PENDING and "403" in (view.survey.last_error or "")
        assert "wrong" not in (view.survey.last_error or "")
    finally:
        await kannel.stop()


async def test_kannel_stack_processes_are_stopped_by_pid(kannel_stack):
    stack = await kannel_stack()
    pids = stack.kannel.pids
    assert len(pids) == 2
    await stack.kannel.stop()
    await asyncio.sleep(0)
    assert stack.kannel.pids == []
