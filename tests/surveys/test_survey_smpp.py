"""SMPP against a real SMPP 3.4 server (smpp34.Server): from aiosmpplib directly and with Kannel as client."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from surveys.gateways.smpp import SmppGateway
from surveys.kannel_runner import SmppUpstream, free_port
from surveys.model import SurveyState
from surveys.ports import CallEnded


class Smsc:
    """An SMSC on loopback: records submits, accepts them (or rejects by script), pushes deliver_sm."""

    def __init__(self, reject: list[int] | None = None) -> None:
        import smpp34

        self.smpp34 = smpp34
        self.port = free_port()
        self.server = smpp34.Server("127.0.0.1", self.port, system_id="smsc")
        self.submits: list = []
        self.esmes: list = []
        self.reject = list(reject or [])
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.server.start()
        self._task = asyncio.create_task(self._serve())

    async def _serve(self) -> None:
        while True:
            event = await self.server.next()
            if isinstance(event, self.smpp34.Esme):
                self.esmes.append(event)
            elif isinstance(event, self.smpp34.SubmitSmEvent):
                self.submits.append(event)
                if self.reject:
                    event.reject(self.reject.pop(0))
                else:
                    event.accept(f"smsc-{len(self.submits)}")

    def text(self, index: int) -> str:
        submit = self.submits[index]
        codec = "utf-16-be" if submit.data_coding == 8 else "latin-1"
        return submit.short_message.decode(codec)

    async def receipt(self, message_id: str, stat: str = "DELIVRD") -> None:
        dates = "submit date:2601051505 done date:2601051505"
        body = f"id:{message_id} sub:001 dlvrd:001 {dates} stat:{stat} err:000 text:x"
        response = await self.esmes[-1].deliver_sm(
            "12345", body.encode(), source_addr="+12125550123", esm_class=4
        )
        assert response.is_success

    async def mo(self, sender: str, text: str) -> None:
        response = await self.esmes[-1].deliver_sm(
            "12345", text.encode("utf-16-be"), source_addr=sender, data_coding=8
        )
        assert response.is_success

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.server.stop()


# The store is exercised on both databases elsewhere; here the SMPP wire is what matters.
SQLITE_ONLY = pytest.mark.parametrize("survey_database", ["sqlite"], indirect=True)


@pytest.fixture
async def smsc(kit):
    kit.need_smpp34()
    started: list[Smsc] = []

    async def start(**kwargs) -> Smsc:
        server = Smsc(**kwargs)
        await server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        await server.stop()


def gateway_for(smsc: Smsc, clock) -> SmppGateway:
    return SmppGateway(
        host="127.0.0.1",
        port=smsc.port,
        system_id="sb",
        password="pw",
        clock=clock,
        source_addr="12345",
        timeout=2.0,
        enquire_link_interval=3.0,
        max_per_second=200.0,
    )


def call(clock, call_id: str, number: str, language: str = "en") -> CallEnded:
    return CallEnded(call_id, number, "ann", "billing", "billing", "queue", language, clock.now())


@SQLITE_ONLY
async def test_smpp_survey_is_submitted_receipted_and_answered(make_service, smsc, day_clock, kit):
    server = await smsc()
    gateway = gateway_for(server, day_clock)
    service = await make_service(gateway=gateway)
    assert await gateway.wait_bound(5.0)
    await service.on_call_ended(call(day_clock, "call-s1", kit.NY))
    await day_clock.advance(300)
    assert (await service.dispatch_due()).sent == 1
    assert server.submits[0].destination_addr == "12125550123"
    assert server.text(0).startswith("Thanks for calling Switchboard")
    record = (await service.survey_for_call("call-s1")).survey
    assert (record.state, record.gateway, record.gateway_message_id) == (SurveyState.SENT, "smpp", "smsc-1")

    await server.receipt("smsc-1")

    async def delivered() -> bool:
        return (await service.survey_for_call("call-s1")).survey.state is SurveyState.DELIVERED

    await kit.eventually(delivered)
    await server.mo("+12125550123", "5 très bien \U0001f600")

    async def answered() -> bool:
        return (await service.survey_for_call("call-s1")).survey.rating == 5

    await kit.eventually(answered)
    reply = (await service.survey_for_call("call-s1")).replies[0]
    assert (reply.text, reply.comment, reply.gateway) == (
        "5 très bien \U0001f600",
        "très bien \U0001f600",
        "smpp",
    )


@SQLITE_ONLY
async def test_smpp_korean_survey_goes_as_ucs2(make_service, smsc, day_clock, kit):
    server = await smsc()
    gateway = gateway_for(server, day_clock)
    service = await make_service(gateway=gateway)
    assert await gateway.wait_bound(5.0)
    await service.on_call_ended(call(day_clock, "call-ko", kit.SEOUL, "ko"))
    await day_clock.advance(9 * 3600)
    assert (await service.dispatch_due()).sent == 1
    assert server.submits[0].data_coding == 8 and "상담은" in server.text(0)


@SQLITE_ONLY
async def test_smpp_throttling_is_retried_and_sent_once(make_service, smsc, day_clock, kit):
    import smpp34

    server = await smsc(reject=[smpp34.ESME_RTHROTTLED])
    gateway = gateway_for(server, day_clock)
    service = await make_service(gateway=gateway, retry_initial=30)
    assert await gateway.wait_bound(5.0)
    await service.on_call_ended(call(day_clock, "c1", kit.NY))
    await day_clock.advance(300)
    assert (await service.dispatch_due()).retried == 1
    await day_clock.advance(30)
    assert (await service.dispatch_due()).sent == 1
    assert len(server.submits) == 2
    record = (await service.survey_for_call("c1")).survey
    assert (record.attempts, record.gateway_message_id) == (2, "smsc-2")


@SQLITE_ONLY
async def test_smpp_refusal_fails_the_survey(make_service, smsc, day_clock, kit):
    import smpp34

    server = await smsc(reject=[smpp34.ESME_RINVDSTADR])
    gateway = gateway_for(server, day_clock)
    service = await make_service(gateway=gateway)
    assert await gateway.wait_bound(5.0)
    await service.on_call_ended(call(day_clock, "c1", kit.NY))
    await day_clock.advance(300)
    assert (await service.dispatch_due()).failed == 1
    record = (await service.survey_for_call("c1")).survey
    assert (record.state, record.reason) == (SurveyState.FAILED, "rejected")
    assert "ESME_RINVDSTADR" in record.last_error


@SQLITE_ONLY
async def test_smsc_down_means_retry_later_never_a_lost_submit(make_service, day_clock, kit):
    kit.need_smpp34()
    gateway = SmppGateway(
        host="127.0.0.1", port=free_port(), system_id="sb", password="pw", clock=day_clock, timeout=1.0
    )
    service = await make_service(gateway=gateway)
    await service.on_call_ended(call(day_clock, "c1", kit.NY))
    await day_clock.advance(300)
    assert (await service.dispatch_due()).retried == 1
    record = (await service.survey_for_call("c1")).survey
    assert record.state is SurveyState.PENDING and "not bound" in record.last_error


async def test_kannel_as_smpp_client_carries_surveys_reports_and_replies(smsc, kannel_stack, kit):
    server = await smsc()
    stack = await kannel_stack(upstream=SmppUpstream("127.0.0.1", server.port, enquire_link_interval=1))
    service, clock = stack.service, stack.clock
    for _ in range(250):  # Kannel binds to the SMSC in the background
        if server.esmes:
            break
        await asyncio.sleep(0.02)
    assert server.esmes, "Kannel did not bind to the SMSC"
    await service.on_call_ended(call(clock, "call-ks", kit.NY))
    await clock.advance(300)
    assert (await service.dispatch_due()).sent == 1

    async def submitted() -> bool:
        return len(server.submits) == 1

    await kit.eventually(submitted)
    assert server.submits[0].destination_addr.endswith("12125550123")
    assert server.text(0).startswith("Thanks for calling Switchboard")

    assert (await service.survey_for_call("call-ks")).survey.state is SurveyState.SENT
    await server.receipt("smsc-1")

    async def delivered() -> bool:  # the SMSC's receipt became Kannel's DLR type 1, carrying smsc-1
        survey = (await service.survey_for_call("call-ks")).survey
        return survey.state is SurveyState.DELIVERED and survey.gateway_message_id == "smsc-1"

    await kit.eventually(delivered)
    await server.mo("+12125550123", "2 trop d'attente \U0001f61e")

    async def answered() -> bool:
        return (await service.survey_for_call("call-ks")).survey.rating == 2

    await kit.eventually(answered)
    assert (await service.survey_for_call("call-ks")).replies[0].comment == "trop d'attente \U0001f61e"
