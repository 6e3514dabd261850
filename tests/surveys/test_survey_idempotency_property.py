"""Property: whatever the gateway does (accept, refuse, fail, hang) and however often the controller
restarts or crashes mid-send, no survey is ever handed to the gateway twice in a way it could have
taken, no call gets two surveys, and every survey ends in a visible final state."""

from __future__ import annotations

import asyncio
import tempfile
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import surveys.tables  # noqa: F401  (registers the tables)
from surveys.factory import build_survey_service
from surveys.gateways.base import GatewayRejected, GatewayUnavailable, GatewayUncertain, InboundHandlers
from surveys.model import DeliveryReport, DeliveryStatus, OutboundSms, SendReceipt, SurveyState
from surveys.ports import CallEnded
from surveys.service import SurveyService
from switchboard.clock import ManualClock
from switchboard.db import create_engine, session_factory
from switchboard.orm import Base
from switchboard.settings import SurveysSettings

NUMBERS = ["+12125550123", "+12125550124", "+12125550125", "+12125550126", "+12125550199"]
FINAL = {
    SurveyState.SENT,
    SurveyState.DELIVERED,
    SurveyState.FAILED,
    SurveyState.SKIPPED,
    SurveyState.CANCELLED,
}
OUTCOMES = ["accept", "unavailable", "reject", "uncertain", "crash"]


class ScriptedGateway:
    """Answers each send as the script says; counts sends it may have taken."""

    name = "scripted"

    def __init__(self, script: list[str]) -> None:
        self.script = list(script)
        self.maybe_taken: Counter[str] = Counter()
        self.hung = asyncio.Event()

    async def start(self, handlers: InboundHandlers) -> None:
        return None

    async def close(self) -> None:
        return None

    async def healthy(self) -> bool:
        return True

    async def send(self, sms: OutboundSms) -> SendReceipt:
        outcome = self.script.pop(0) if self.script else "accept"
        if outcome in ("accept", "uncertain", "crash"):
            self.maybe_taken[sms.survey_id] += 1
        if outcome == "accept":
            return SendReceipt(gateway=self.name, message_id=f"m-{sms.survey_id}-{sms.attempt}")
        if outcome == "unavailable":
            raise GatewayUnavailable("down")
        if outcome == "reject":
            raise GatewayRejected("bad number")
        if outcome == "uncertain":
            raise GatewayUncertain("timeout after sending")
        self.hung.set()  # crash: the gateway has it, and the controller dies before hearing back
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


step = st.one_of(
    st.tuples(st.just("call"), st.integers(0, len(NUMBERS) - 1)),
    st.tuples(st.just("advance"), st.sampled_from([1, 30, 130, 400, 3600])),
    st.just(("dispatch",)),
    st.just(("restart",)),
    st.tuples(st.just("report"), st.integers(0, len(NUMBERS) - 1), st.sampled_from(list(DeliveryStatus))),
)


@pytest.mark.slow
@given(script=st.lists(st.sampled_from(OUTCOMES), max_size=12), steps=st.lists(step, min_size=1, max_size=25))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_no_survey_is_sent_twice_across_failures_restarts_and_crashes(script: list[str], steps: list) -> None:
    # A RAM-backed directory when there is one: hundreds of tiny commits per example, no need to fsync them.
    shm = Path("/dev/shm")
    with tempfile.TemporaryDirectory(dir=shm if shm.is_dir() else None) as directory:
        asyncio.run(_scenario(script, steps, Path(directory)))


async def _scenario(script: list[str], steps: list, directory: Path) -> None:
    url = f"sqlite+aiosqlite:///{directory / 'p.db'}"
    setup = create_engine(url)
    async with setup.begin() as conn:
        tables = [t for name, t in Base.metadata.tables.items() if name.startswith("survey")]
        await conn.run_sync(lambda c: Base.metadata.create_all(c, tables=tables))
    await setup.dispose()
    clock = ManualClock()
    await clock.advance(6 * 3600)  # 15:00 UTC: daytime in New York
    gateway = ScriptedGateway(script)
    config = SurveysSettings(
        min_days_between=0,
        uncertain_window=300,
        retry_initial=30,
        retry_max=120,
        max_attempts=3,
        concurrency=1,
        send_timeout=5.0,
        delay_minutes=1,
    )

    async def boot() -> tuple[SurveyService, object]:
        engine = create_engine(url)
        service = build_survey_service(config, session_factory(engine), clock, gateway=gateway)
        await service.open()
        return service, engine

    service, engine = await boot()
    calls = 0
    for action in steps:
        kind = action[0]
        if kind == "call":
            calls += 1
            await service.on_call_ended(
                CallEnded(f"call-{calls}", NUMBERS[action[1]], "ann", "q", "s", "queue", "en", clock.now())
            )
        elif kind == "advance":
            await clock.advance(action[1])
        elif kind == "dispatch":
            if await _dispatch_or_crash(service, gateway):
                await engine.dispose()  # the process died: its connections go with it
                service, engine = await boot()
        elif kind == "restart":
            await service.close()
            await engine.dispose()
            service, engine = await boot()
        else:
            survey = await _latest_survey(service, NUMBERS[action[1]])
            if survey is not None:
                await service.handle_delivery_report(
                    DeliveryReport(gateway="scripted", status=action[2], survey_id=survey)
                )
    for _ in range(20):  # let time run out: everything must settle without a second send
        await clock.advance(600)
        if await _dispatch_or_crash(service, gateway):
            await engine.dispose()
            service, engine = await boot()
        records = await service.outbox([], limit=1000)
        if all(r.state in FINAL for r in records):
            break
    await service.close()
    await engine.dispose()
    assert all(count <= 1 for count in gateway.maybe_taken.values()), gateway.maybe_taken
    assert len(records) == calls and len({r.call_id for r in records}) == calls
    unsettled = [(r.call_id, r.state) for r in records if r.state not in FINAL]
    assert not unsettled


async def _dispatch_or_crash(service: SurveyService, gateway: ScriptedGateway) -> bool:
    """Run one sender pass; if the gateway hangs, kill the pass like a dying process. True on a crash."""
    gateway.hung.clear()
    task = asyncio.create_task(service.dispatch_due())
    hung = asyncio.create_task(gateway.hung.wait())
    await asyncio.wait({task, hung}, return_when=asyncio.FIRST_COMPLETED)
    hung.cancel()
    crashed = not task.done()
    if crashed:
        task.cancel()
    await asyncio.gather(task, hung, return_exceptions=True)
    return crashed


async def _latest_survey(service: SurveyService, number: str) -> str | None:
    for record in await service.outbox([], limit=1000):
        if record.number == number:
            return record.id
    return None
