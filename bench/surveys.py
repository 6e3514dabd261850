"""Survey SMS throughput through a real Kannel on loopback, and reply handling.

A real bearerbox + smsbox (fake SMSC) and a uvicorn webhook (delivery reports and replies) run on
127.0.0.1; the benchmark is also the handset side of the fake SMSC. It measures:
- sends/s: N surveys due at once, from the first sender pass until Kannel accepted all N (outbox rows
  SENT), and until the phones received all N; checks none lost and none duplicated;
- delivery reports: time until every survey is DELIVERED (Kannel DLR type 8 then 1 via dlr-url);
- replies/s through Kannel: every phone answers "4 ..."; until all N replies are stored against calls;
- replies/s in process: SurveyService.handle_reply alone (database included, no HTTP, no Kannel).

Run: .venv/bin/python bench/surveys.py [--surveys 1000] [--concurrency 50]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# This file is bench/surveys.py: with its directory on sys.path, "import surveys" would import this
# script instead of the package. The project imports below run once that entry is gone.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import uvicorn  # noqa: E402
from fastapi import FastAPI  # noqa: E402

import surveys.tables  # noqa: E402, F401  (registers the tables)
from surveys.api import make_router  # noqa: E402
from surveys.factory import build_survey_service  # noqa: E402
from surveys.kannel_runner import (  # noqa: E402
    FakeSmscClient,
    KannelConfig,
    KannelNotFound,
    KannelProcess,
    find_kannel,
    free_port,
    reply_url,
)
from surveys.model import InboundSms, SurveyState  # noqa: E402
from surveys.phone import InvalidNumber, parse_number  # noqa: E402
from surveys.ports import CallEnded  # noqa: E402
from switchboard.clock import ManualClock  # noqa: E402
from switchboard.db import create_engine, session_factory  # noqa: E402
from switchboard.orm import Base  # noqa: E402
from switchboard.settings import SurveysSettings  # noqa: E402

TARGET_SENDS = 100.0
SECRET = "bench-secret"
# RAM-backed when available: the figures are about the SMS path, not about this machine's disk.
SCRATCH_DIR = "/dev/shm" if Path("/dev/shm").is_dir() else None


def numbers(count: int) -> list[str]:
    """Distinct valid US numbers."""
    found: list[str] = []
    for area in ("212", "646", "718", "917", "347", "929"):
        for line in range(10_000):
            candidate = f"+1{area}555{line:04d}"
            try:
                parse_number(candidate, "US")
            except InvalidNumber:
                continue
            found.append(candidate)
            if len(found) == count:
                return found
    raise SystemExit(f"could not find {count} valid numbers")


async def wait_until(check, within: float, what: str) -> float:
    """Seconds until ``check()`` holds (polling); exit with a message if it never does."""
    start = time.perf_counter()
    while not await check():
        if time.perf_counter() - start > within:
            raise SystemExit(f"FAILED: {what} did not happen within {within:.0f}s")
        await asyncio.sleep(0.02)
    return time.perf_counter() - start


async def count_states(service: Any, states: set[SurveyState]) -> int:
    return sum(1 for r in await service.outbox([], limit=1_000_000) if r.state in states)


async def main(count: int, concurrency: int) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    try:
        find_kannel()
    except KannelNotFound as exc:
        print(f"cannot run: {exc}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(dir=SCRATCH_DIR) as scratch:
        work = Path(scratch)
        engine = create_engine(f"sqlite+aiosqlite:///{work / 'bench.db'}", pool_size=1, max_overflow=0)
        async with engine.begin() as conn:
            tables = [t for name, t in Base.metadata.tables.items() if name.startswith("survey")]
            await conn.run_sync(lambda c: Base.metadata.create_all(c, tables=tables))
        web_port = free_port()
        kannel_config = KannelConfig(
            reply_url=reply_url(f"http://127.0.0.1:{web_port}/surveys/kannel/mo", SECRET)
        )
        settings = SurveysSettings(
            gateway="kannel",
            kannel_sendsms_url=kannel_config.sendsms_url,
            kannel_username=kannel_config.username,
            kannel_password=kannel_config.password,
            kannel_dlr_url=f"http://127.0.0.1:{web_port}/surveys/kannel/dlr",
            webhook_secret=SECRET,
            delay_minutes=0,
            quiet_start="00:00",
            quiet_end="00:00",
            min_days_between=0,
            prefix_hourly_cap=1_000_000,
            batch_size=200,
            concurrency=concurrency,
        )
        clock = ManualClock()
        await clock.advance(6 * 3600)
        service = build_survey_service(settings, session_factory(engine), clock)
        await service.open()
        app = FastAPI()
        app.include_router(make_router(service, settings))
        server = uvicorn.Server(
            uvicorn.Config(
                app, host="127.0.0.1", port=web_port, log_level="warning", access_log=False, lifespan="off"
            )
        )
        server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        web = asyncio.create_task(server.serve())
        kannel = KannelProcess(kannel_config, work / "kannel")
        phone = FakeSmscClient()
        received: collections.Counter[str] = collections.Counter()
        reader: asyncio.Task[None] | None = None
        try:
            await kannel.start()
            await phone.connect(kannel_config.fake_smsc_port)

            async def read_phones() -> None:
                while True:
                    sms = await phone.receive(within=3600)
                    received[sms.receiver] += 1

            reader = asyncio.create_task(read_phones())
            targets = numbers(count)
            for i, number in enumerate(targets):
                await service.on_call_ended(
                    CallEnded(
                        f"bench-{i}",
                        number,
                        f"agent-{i % 20}",
                        "support",
                        "support",
                        "queue",
                        "en",
                        clock.now(),
                    )
                )

            # -- sending ---------------------------------------------------------------------------
            start = time.perf_counter()
            passes = 0
            while True:
                stats = await service.dispatch_due()
                passes += 1
                if stats.claimed == 0:
                    break
            accepted_s = time.perf_counter() - start
            sent = await count_states(service, {SurveyState.SENT, SurveyState.DELIVERED})

            async def all_received() -> bool:
                return sum(received.values()) >= count

            await wait_until(all_received, 120, "all phones receiving their survey")
            on_phone_s = time.perf_counter() - start

            async def all_delivered() -> bool:
                return await count_states(service, {SurveyState.DELIVERED}) >= count

            await wait_until(all_delivered, 120, "all delivery reports")
            delivered_s = time.perf_counter() - start
            await asyncio.sleep(0.5)  # anything extra would show up now
            duplicates = sum(1 for n in received.values() if n > 1)
            lost = count - len(received)

            # -- replies through Kannel ------------------------------------------------------------
            start = time.perf_counter()
            for number in targets:
                await phone.send(number, "Switchboard", "4 quick and friendly")

            async def all_replies() -> bool:
                report = await service.store.result_rows(
                    clock.now().replace(hour=0), clock.now().replace(hour=23)
                )
                return sum(1 for r in report if r.rating == 4) >= count

            await wait_until(all_replies, 120, "all replies stored")
            replies_s = time.perf_counter() - start

            # -- replies in process ----------------------------------------------------------------
            start = time.perf_counter()
            for number in targets:
                await service.handle_reply(InboundSms(sender=number, text="5 great", gateway="bench"))
            direct_s = time.perf_counter() - start
        finally:
            if reader is not None:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader
            await phone.close()
            await kannel.stop(grace=2.0)
            await service.close()
            server.should_exit = True
            with contextlib.suppress(Exception):
                await asyncio.wait_for(web, 5)
            await engine.dispose()

    rate = count / accepted_s
    clean = lost == 0 and duplicates == 0 and sent == count
    print(
        f"surveys: {count} through Kannel (fake SMSC) on loopback, SQLite outbox, concurrency {concurrency}"
    )
    print(
        f"  sends accepted by Kannel   {rate:8.0f} /s   ({accepted_s:.2f} s, {passes} sender passes)"
        f"   target >= {TARGET_SENDS:.0f}/s  {'OK' if rate >= TARGET_SENDS else 'MISSED'}"
    )
    print(f"  received by the phones     {count / on_phone_s:8.0f} /s   ({on_phone_s:.2f} s)")
    print(f"  delivered (DLR 1 stored)   {count / delivered_s:8.0f} /s   ({delivered_s:.2f} s)")
    print(
        f"  outbox rows sent: {sent}/{count}   lost: {lost}   duplicated: {duplicates}"
        f"   target 0 lost, 0 duplicated  {'OK' if clean else 'MISSED'}"
    )
    print(
        f"  replies via Kannel webhook {count / replies_s:8.0f} /s   ({replies_s:.2f} s, all {count} stored)"
    )
    print(
        f"  replies in process         {count / direct_s:8.0f} /s   ({direct_s:.2f} s, handle_reply with SQL)"
    )
    ok = rate >= TARGET_SENDS and clean
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--surveys", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=20)
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.surveys, args.concurrency)))
