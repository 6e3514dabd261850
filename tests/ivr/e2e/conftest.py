"""End-to-end IVR harness: the Asterisk emulator running the shipped dialplan, and the real controller
(``switchboard.app.controller``: FastAGI server, flow runner, ACD on the real Redis, SQLite records) on one
virtual clock. Tests place calls with ``ScriptedCaller``s and read the outcome back from SQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
import shutil
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from sqlalchemy import select

from ivr.flows import FlowRegistry
from ivr.runtime import texts
from ivr.runtime.channel import rendered_name
from ivr.store import CallRow, IvrStepRow, ScriptRunRow
from sim.channels import Channel
from sim.emulator import AsteriskEmulator
from sim.events import EventRecorder
from sim.scripts import ScriptedCaller
from switchboard.app import Controller, controller, run_jobs
from switchboard.settings import Settings
from tests.ivr.e2e.virtual_time import AgiCall, Driver, TurnTracker, VirtualClock

REPO = Path(__file__).resolve().parents[3]
FLOWS_DIR = REPO / "flows"
DEMO_SITE = REPO / "sim" / "demo_site.yaml"
ASTERISK_SPOOL = "/var/spool/asterisk/tmp"

# New York office hours (flows/main.yaml): Tuesday 10:00, Sunday 10:00, Christmas Day 10:00 (a Friday)
IN_HOURS = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
SUNDAY = datetime(2026, 11, 29, 15, 0, tzinfo=UTC)
CHRISTMAS = datetime(2026, 12, 25, 15, 0, tzinfo=UTC)
PROMPT_SECONDS = 1.0  # every flow prompt lasts this long on the emulator


@dataclass
class CallResult:
    """What one call left behind: the SQL record, the AGI conversation and the emulated channel."""

    channel: Channel
    row: CallRow | None
    steps: list[IvrStepRow]
    agi: list[AgiCall]
    events: list[Any]

    @property
    def outcome(self) -> str | None:
        return self.row.outcome if self.row is not None else None

    @property
    def nodes(self) -> list[str]:
        return [f"{s.flow}:{s.node}" for s in self.steps]

    @property
    def variables(self) -> dict[str, str]:
        return self.channel.variables

    @property
    def on_hold(self) -> bool:
        """The caller waits in the hold context (music on hold), not hung up."""
        return not self.channel.destroyed and self.channel.context == "sb-hold" and (
            self.channel.application == "MusicOnHold"
        )

    @property
    def commands(self) -> list[str]:
        return [c for call in self.agi for c in call.commands]

    def event_names(self) -> list[str]:
        return [e.name for e in self.events]


@dataclass
class E2E:
    """One emulated site: emulator + controller + virtual time."""

    clock: VirtualClock
    emulator: AsteriskEmulator
    ctl: Controller
    tracker: TurnTracker
    driver: Driver
    events: EventRecorder
    settings: Settings
    placed: list[Channel] = field(default_factory=list)

    async def place(self, caller: ScriptedCaller, exten: str = "s") -> Channel:
        name = await self.emulator.place_call(caller, exten=exten)
        ch = self.emulator.pbx.channels[name]
        self.placed.append(ch)
        return ch

    def ivr_done(self, ch: Channel) -> bool:
        """The IVR is over for this channel: its AGI ended (or never ran) and the dialplan moved on."""
        agi = self.tracker.for_channel(ch.name)
        if ch.destroyed:
            return all(c.finished for c in agi)
        return bool(agi) and all(c.finished for c in agi) and ch.application not in ("AGI", "Answer")

    async def call(self, caller: ScriptedCaller, *, limit: float = 180.0, exten: str = "s") -> CallResult:
        """Place a call and drive time until the IVR has finished with it; return its record."""
        ch = await self.place(caller, exten=exten)
        return await self.finish(ch, limit=limit)

    async def finish(self, ch: Channel, *, limit: float = 180.0) -> CallResult:
        await self.driver.until(lambda: self.ivr_done(ch), limit, f"IVR end on {ch.name}")
        await self.drain()
        return await self.result(ch)

    async def drain(self) -> None:
        """Wait (real time) until every queued IVR record is in SQL."""
        recorder = self.ctl.runner.recorder
        drain = getattr(recorder, "drain", None)
        if drain is not None:
            await asyncio.wait_for(drain(), 10)

    async def result(self, ch: Channel) -> CallResult:
        async with self.ctl.ivr_store.sessions() as session:
            row = await session.scalar(select(CallRow).where(CallRow.uniqueid == ch.uniqueid))
            steps: list[IvrStepRow] = []
            if row is not None:
                steps = list(await session.scalars(
                    select(IvrStepRow).where(IvrStepRow.call_id == row.call_id).order_by(IvrStepRow.seq)
                ))  # fmt: skip
        return CallResult(ch, row, steps, self.tracker.for_channel(ch.name),
                          self.events.for_channel(ch.name))

    async def script_runs(self, script: str) -> list[ScriptRunRow]:
        async with self.ctl.ivr_store.sessions() as session:
            return list(await session.scalars(select(ScriptRunRow).where(ScriptRunRow.script == script)))

    def press(self, ch: Channel, digits: str) -> None:
        """The caller presses keys now (for tests that react to what the IVR is doing)."""
        for digit in digits:
            self.emulator.pbx.receive_dtmf(ch, digit)

    async def warm_speech(self, wav: Path, workers: int = 2) -> None:
        """Load every speech worker before calls come (a cold engine would miss its first deadline)."""
        speech = self.ctl.runner.listener.speech
        assert speech is not None, "no speech engine configured"
        results = await asyncio.gather(
            *(speech.recognize_grammar(wav, ["hello", "billing"], deadline=30.0) for _ in range(workers))
        )
        assert all(r.engine for r in results)

    async def hang_up_all(self) -> None:
        for ch in self.placed:
            if not ch.destroyed:
                self.emulator.hangup(ch.name)
        await self.driver.until(lambda: all(ch.destroyed for ch in self.placed), 30, "all channels gone")


def prompt_sounds(flows_dir: Path, sounds_dir: Path, seconds: float) -> dict[str, float]:
    """Every text prompt of the flows (and the built-in texts) as the emulator will be asked to play it."""
    registry = FlowRegistry(flows_dir)
    registry.reload()
    sounds: dict[str, float] = {}
    prefix = str(sounds_dir.resolve())
    for flow in registry.snapshot().values():
        language = flow.spec.language
        for prompt in flow.spec.prompts.values():
            if prompt.say is not None:
                sounds[f"{prefix}/{rendered_name(prompt.say, language)}"] = seconds
        for text in texts.BUILTIN_TEXTS:
            sounds[f"{prefix}/{rendered_name(text, language)}"] = seconds
    return sounds


def refused_port() -> int:
    """A loopback port nobody listens on (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once; each test copies it (migrating per test would cost a second each)."""
    from switchboard.db import upgrade

    path = tmp_path_factory.mktemp("e2e-db") / "template.db"
    asyncio.run(upgrade(f"sqlite+aiosqlite:///{path}"))
    return path


E2EFactory = Callable[..., Awaitable[E2E]]
E2E_REDIS_DB = 12


def e2e_redis_url(redis_url: str) -> str:
    """The session's Redis, on a database of its own: suites that flush theirs (db 9) while these calls
    wait on hold, in another process on a shared machine, would otherwise take the waiting calls away."""
    if "db=" in redis_url:
        return re.sub(r"db=\d+", f"db={E2E_REDIS_DB}", redis_url)
    return re.sub(r"/\d+$", f"/{E2E_REDIS_DB}", redis_url)


@pytest.fixture
async def site(
    tmp_path: Path, redis_url: str, template_db: Path, caplog: pytest.LogCaptureFixture
) -> AsyncIterator[E2EFactory]:
    """``await site(start=IN_HOURS, speech="none", flows_dir=None, ...)`` -> a running E2E site."""
    caplog.set_level(logging.INFO)
    redis_url = e2e_redis_url(redis_url)
    stack = contextlib.AsyncExitStack()
    prefix = f"e2e-{uuid.uuid4().hex[:10]}"

    async def build(
        start: datetime = IN_HOURS,
        *,
        speech: str = "none",
        flows_dir: Path | None = None,
        prompt_seconds: float = PROMPT_SECONDS,
        ivr: dict[str, Any] | None = None,
        speech_settings: dict[str, Any] | None = None,
        extra_sounds: dict[str, float] | None = None,
        controller_factory: Callable[[Settings, VirtualClock], Any] | None = None,
    ) -> E2E:
        clock = VirtualClock(start)
        tracker = TurnTracker(clock)
        files = tmp_path / "asterisk"
        sounds_dir = tmp_path / "sounds"
        flows = flows_dir or FLOWS_DIR
        sounds = {**prompt_sounds(flows, sounds_dir, prompt_seconds), **(extra_sounds or {})}
        secret = uuid.uuid4().hex
        emulator = AsteriskEmulator(
            clock, ami_secret=secret, file_root=files, sounds=sounds, agi_client_factory=tracker
        )
        await emulator.start()
        stack.push_async_callback(emulator.stop)
        db_path = tmp_path / "switchboard.db"
        shutil.copyfile(template_db, db_path)
        settings = Settings(
            general={"var_dir": tmp_path / "var"},
            database={"url": f"sqlite+aiosqlite:///{db_path}"},
            redis={"url": redis_url},
            ami={"host": "127.0.0.1", "port": emulator.ami_port, "secret": secret},
            agi={"host": "127.0.0.1", "port": 0},
            ivr={
                "flows_dir": flows,
                "sounds_dir": sounds_dir,
                "spool_dir": files / ASTERISK_SPOOL.lstrip("/"),
                "asterisk_spool_dir": ASTERISK_SPOOL,
                **(ivr or {}),
            },
            speech={"engine": speech, **(speech_settings or {})},
            acd={"key_prefix": prefix, "config_file": DEMO_SITE},
        )
        (files / ASTERISK_SPOOL.lstrip("/")).mkdir(parents=True, exist_ok=True)
        make = controller_factory or controller
        ctl = await stack.enter_async_context(make(settings, clock))
        emulator.set_global("SB_CONTROLLER", f"127.0.0.1:{ctl.agi.port}")
        jobs = asyncio.create_task(run_jobs(ctl), name="e2e-controller-jobs")

        async def stop_jobs() -> None:
            jobs.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await jobs

        stack.push_async_callback(stop_jobs)
        events = emulator.record_events()
        stack.callback(events.close)
        driver = Driver(clock, tracker)
        return E2E(clock, emulator, ctl, tracker, driver, events, settings)

    try:
        yield build
    finally:
        await stack.aclose()
        client = aioredis.from_url(redis_url)
        try:
            keys = [k async for k in client.scan_iter(match=f"{prefix}*", count=1000)]
            if keys:
                await client.delete(*keys)
        finally:
            await client.aclose()


def errors_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Log records that show a bug: errors, and anything carrying a traceback."""
    return [
        f"{r.name}: {r.getMessage()}"
        for r in caplog.records
        if r.levelno >= logging.ERROR or r.exc_info is not None
    ]


class Clips:
    """Caller utterances rendered with espeak-ng and sox (8 kHz, telephone band), cached per session."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def say(self, text: str, voice: str = "en-us", speed: int = 140) -> Path:
        from ivr.prompts import render_wav

        name = re.sub(r"[^a-z0-9]+", "-", f"{text[:60]}-{voice}-{speed}".lower())
        digest = hashlib.sha256(f"{text}|{voice}|{speed}".encode()).hexdigest()[:10]
        path = self.root / f"{name}-{digest}.wav"
        if not path.is_file():
            render_wav(text, path, voice=voice, speed=speed, telephone=True, pad=(0.2, 0.3))
        return path


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Clips:
    from tests.conftest import unavailable

    if shutil.which("espeak-ng") is None or shutil.which("sox") is None:
        unavailable("espeak-ng and sox are needed to make the callers' voices")
    return Clips(tmp_path_factory.mktemp("e2e-voices"))


def prompt_file(h: E2E, flow: str, key: str) -> str:
    """The file name the controller streams for prompt ``key`` of ``flow``."""
    spec = h.ctl.flows.snapshot()[flow].spec
    text = spec.prompts[key].say
    assert text is not None
    return f"{h.settings.ivr.sounds_dir.resolve()}/{rendered_name(text, spec.language)}"


def in_flight(h: E2E, ch: Channel) -> str | None:
    """The AGI command the emulator is executing for ``ch`` right now, if any."""
    for call in h.tracker.for_channel(ch.name):
        if not call.finished and len(call.sent_at) > len(call.replied_at):
            return call.commands[-1]
    return None
