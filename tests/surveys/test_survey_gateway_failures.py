"""Gateways that time out, answer with errors, drop the connection, or stay down: real TCP on loopback.

The invariant under test: a survey is retried only when the gateway certainly did not take it, and a
survey whose fate is unknown is never sent again; every survey ends in a visible state.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import timedelta
from urllib.parse import parse_qsl, urlsplit

import pytest

from surveys.kannel_runner import free_port
from surveys.model import SurveyState
from surveys.ports import CallEnded

Answer = Callable[[dict[str, str]], "tuple[int, str] | str | None"]


# HTTP and gateway behaviour do not depend on the database; the store runs on both in test_survey_service.
pytestmark = pytest.mark.parametrize("survey_database", ["sqlite"], indirect=True)


class ScriptedSendsms:
    """An HTTP server standing in for a misbehaving smsbox: the script decides each answer.

    An answer is (status, body), "drop" (close without answering) or None (never answer).
    """

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.requests: list[dict[str, str]] = []
        self.port = 0
        self._server: asyncio.Server | None = None
        self._held: list[asyncio.StreamWriter] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/cgi-bin/sendsms"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            request_line = await reader.readline()
            if not request_line:
                writer.close()
                return
            while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                pass
            target = request_line.split(b" ")[1].decode()
            params = dict(parse_qsl(urlsplit(target).query))
            self.requests.append(params)
            answer = self.answer(params)
            if answer is None:
                self._held.append(writer)  # never answer, keep the socket open
                return
            if answer == "drop":
                writer.close()
                return
            status, body = answer
            data = body.encode()
            writer.write(b"HTTP/1.1 %d X\r\nContent-Length: %d\r\n\r\n%s" % (status, len(data), data))
            await writer.drain()

    async def stop(self) -> None:
        for writer in self._held:
            writer.close()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()

    def sends_to(self, number: str) -> int:
        return sum(1 for r in self.requests if r.get("to") == number)


@pytest.fixture
async def sendsms():
    servers: list[ScriptedSendsms] = []

    async def start(answer: Answer) -> ScriptedSendsms:
        server = ScriptedSendsms(answer)
        await server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.stop()


def call(clock, call_id: str, number: str) -> CallEnded:
    return CallEnded(call_id, number, "ann", "billing", "billing", "queue", "en", clock.now())


async def survey(service, call_id: str):
    return (await service.survey_for_call(call_id)).survey


async def test_gateway_that_never_answers_is_never_asked_twice(make_service, day_clock, sendsms, kit):
    server = await sendsms(lambda params: None if params else (400, "Authorization failed"))
    gateway = kit.kannel_gateway_for(server.url, timeout=0.3)
    service = await make_service(gateway=gateway, send_timeout=0.3, uncertain_window=300)
    await service.on_call_ended(call(day_clock, "c1", kit.NY))
    await day_clock.advance(300)
    stats = await service.dispatch_due()
    assert stats.uncertain == 1
    assert (await survey(service, "c1")).state is SurveyState.UNCERTAIN
    for _ in range(4):  # time passes, the sender keeps working: never a second request for c1
        await day_clock.advance(120)
        await service.dispatch_due()
    record = await survey(service, "c1")
    assert (record.state, record.reason) == (SurveyState.FAILED, "outcome-unknown")
    assert "did not answer" in record.last_error
    assert server.sends_to(kit.NY) == 1


async def test_connection_dropped_before_the_answer_is_uncertain_not_retried(
    make_service, day_clock, sendsms, kit
):
    server = await sendsms(lambda params: "drop" if params.get("to") else (400, "no"))
    service = await make_service(gateway=kit.kannel_gateway_for(server.url))
    await service.on_call_ended(call(day_clock, "c1", kit.NY))
    await day_clock.advance(300)
    assert (await service.dispatch_due()).uncertain == 1
    await day_clock.advance(3600)
    await service.dispatch_due()
    assert server.sends_to(kit.NY) == 1
    assert (await survey(service, "c1")).reason == "outcome-unknown"


async def test_server_errors_are_retried_with_backoff_and_refusals_fail_at_once(
    make_service, day_clock, sendsms, kit
):
    answers = {kit.NY: [(503, "Temporal failure, try again later."), (202, "0: Accepted for delivery")]}

    def answer(params: dict[str, str]) -> tuple[int, str]:
        if params.get("to") == kit.PARIS:
            return 400, "Invalid receiver number"
        script = answers.get(params.get("to", ""))
        return script.pop(0) if script else (400, "Authorization failed")  # health probe: any answer

    server = await sendsms(answer)
    service = await make_service(gateway=kit.kannel_gateway_for(server.url), retry_initial=30, retry_max=600)
    await service.on_call_ended(call(day_clock, "ny", kit.NY))
    await service.on_call_ended(call(day_clock, "paris", kit.PARIS))
    await day_clock.advance(300)
    stats = await service.dispatch_due()
    assert (stats.retried, stats.failed) == (1, 1)
    paris = await survey(service, "paris")
    assert (paris.state, paris.reason) == (SurveyState.FAILED, "rejected")
    assert "Invalid receiver" in paris.last_error
    ny = await survey(service, "ny")
    assert ny.state is SurveyState.PENDING and ny.due_at == day_clock.now() + timedelta(seconds=30)
    await day_clock.advance(29)
    assert (await service.dispatch_due()).claimed == 0  # backoff respected
    await day_clock.advance(1)
    assert (await service.dispatch_due()).sent == 1
    assert (await survey(service, "ny")).state is SurveyState.SENT
    assert server.sends_to(kit.NY) == 2 and server.sends_to(kit.PARIS) == 1


async def test_gateway_down_for_a_day_ends_in_a_visible_failed_state(make_service, day_clock, kit):
    port = free_port()  # nothing listens: connection refused
    service = await make_service(
        gateway=kit.kannel_gateway_for(f"http://127.0.0.1:{port}/cgi-bin/sendsms"),
        expire_after_hours=24,
        retry_initial=60,
        retry_max=900,
    )
    await service.on_call_ended(call(day_clock, "c1", kit.NY))
    await day_clock.advance(300)
    await service.dispatch_due()
    for _ in range(25):
        await day_clock.advance(3600)
        await service.dispatch_due()
    record = await survey(service, "c1")
    assert (record.state, record.reason) == (SurveyState.FAILED, "expired")
    assert "unreachable" in record.last_error
    assert record.attempts == 1  # while the gateway was down the sender probed it instead of burning attempts


async def test_retries_end_after_max_attempts(make_service, day_clock, sendsms, kit):
    server = await sendsms(lambda params: (503, "busy") if params.get("to") else (400, "probe"))
    service = await make_service(
        gateway=kit.kannel_gateway_for(server.url), max_attempts=3, retry_initial=10, retry_max=20
    )
    await service.on_call_ended(call(day_clock, "c1", kit.NY))
    await day_clock.advance(300)
    for _ in range(10):
        await service.dispatch_due()
        await day_clock.advance(30)
    record = await survey(service, "c1")
    assert (record.state, record.reason, record.attempts) == (SurveyState.FAILED, "retries-exhausted", 3)
    assert server.sends_to(kit.NY) == 3
