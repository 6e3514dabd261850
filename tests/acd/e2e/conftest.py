"""End-to-end harness: the Asterisk emulator and the real controller (switchboard/app.py) over real TCP.

Each test gets a :class:`Site`: an AsteriskEmulator running the shipped asterisk-conf/extensions.conf on a
ManualClock, and controllers built by ``switchboard.app.controller`` against it (AMI on the emulator's port,
FastAGI on a free port, a temporary SQLite database, the real Redis under a key prefix of its own, the
routing configuration from a YAML file the test writes). Time is driven by hand in small steps with a
short real pause after each, so sockets, Redis and SQLite keep up with emulated time: a minute of
emulated calls takes about a second.

Calls enter through the real IVR (flows/main.yaml, by DTMF) or straight into ``sb-hold`` with the SB_*
variables the IVR would have set. Every Redirect the emulator receives is recorded (channel, agent
endpoint and attempt token at that moment), so tests can assert "one caller, one agent at a time".
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import SecretStr

import sim.ami_actions as ami_actions
from acd.model import AgentState, AgentStatus, CallStatus, WaitingCall
from acd.store import StreamEvent
from sim.channels import Party
from sim.emulator import AsteriskEmulator
from sim.events import EventRecorder, SimEvent
from sim.scripts import CallerRuntime, ScriptedAgent, ScriptedCaller
from switchboard.app import Controller, controller, run_jobs
from switchboard.clock import ManualClock
from switchboard.settings import (
    AcdSettings,
    AgiSettings,
    AmiSettings,
    DatabaseSettings,
    GeneralSettings,
    IvrSettings,
    RedisSettings,
    Settings,
    SpeechSettings,
)

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[3]
BUSINESS_MORNING = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)  # Tuesday 10:00 in New York: the IVR is open
STEP = 0.05  # emulated seconds per tick
REAL_PAUSE = 0.001  # real seconds after each tick, for I/O with Redis, SQLite and the sockets
QUIET_ROUNDS = 30  # at most this many pauses per tick while the emulator still sees activity
AMI_SECRET = "e2e-secret"

SITE: dict[str, Any] = {
    "skills": ["general", "internet", "billing"],
    "regions": ["americas", "emea", "apac"],
    "agents": [
        {"id": "a101", "name": "Ada", "endpoint": "PJSIP/101", "skills": {"general": 5, "internet": 5},
         "regions": ["americas"], "substitutes": ["a102"]},
        {"id": "a102", "name": "Ben", "endpoint": "PJSIP/102", "skills": {"general": 4, "internet": 3},
         "regions": ["americas"], "substitutes": ["a101"]},
        {"id": "a103", "name": "Chloe", "endpoint": "PJSIP/103", "skills": {"billing": 5, "general": 3},
         "regions": ["emea"]},
        {"id": "a104", "name": "Dev", "endpoint": "PJSIP/104", "skills": {"billing": 4, "general": 4},
         "regions": ["apac"]},
    ],
    "queues": [
        {"name": "support", "skill": "general", "wrap_up_seconds": 0, "ring_timeout_seconds": 8,
         "max_attempts": 5, "strategy": "longest-idle",
         "steps": [{"after": 20, "action": "any-region"}]},
        {"name": "billing", "skill": "billing", "wrap_up_seconds": 0, "ring_timeout_seconds": 8,
         "max_attempts": 5, "strategy": "longest-idle"},
        {"name": "vip", "skill": "general", "wrap_up_seconds": 0, "ring_timeout_seconds": 8,
         "max_attempts": 5, "strategy": "proficiency-first", "steps": [{"after": 0, "action": "any-region"}]},
    ],
    "vips": [{"number": "+15557770100", "name": "Big Co", "boost": 10}],
}  # fmt: skip


@dataclass(frozen=True)
class RedirectSeen:
    """A Redirect the emulator received: which channel, to which agent, for which attempt."""

    at: float
    channel: str
    endpoint: str
    attempt: str
    existed: bool


@dataclass
class Running:
    """One controller of the site, with its background jobs."""

    ctl: Controller
    stack: AsyncExitStack
    jobs: asyncio.Task[None]

    @property
    def acd(self) -> Any:
        return self.ctl.acd


@dataclass
class Site:
    """The emulated Asterisk, its controllers and the clock that drives them."""

    emulator: AsteriskEmulator
    clock: ManualClock
    tmp: Path
    redis_url: str
    prefix: str
    events: EventRecorder
    redirects: list[RedirectSeen] = field(default_factory=list)
    controllers: list[Running] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=lambda: dict(SITE))
    action_delays: dict[str, float] = field(default_factory=dict)  # emulated seconds an action takes
    actions_seen: int = 0  # AMI actions the emulator received (activity, for tick())

    def slow_action(self, action: str, seconds: float) -> None:
        """Make the emulated Asterisk take ``seconds`` (emulated) to answer each ``action`` (a busy box)."""
        self.action_delays[action.lower()] = seconds

    # ---- controllers ----

    def settings(self, **acd: Any) -> Settings:
        config_file = self.tmp / "site.yaml"
        config_file.write_text(yaml.safe_dump(self.config, sort_keys=False))
        return Settings(
            general=GeneralSettings(var_dir=self.tmp / "var"),
            database=DatabaseSettings(url=f"sqlite+aiosqlite:///{self.tmp / 'switchboard.db'}"),
            redis=RedisSettings(url=self.redis_url),
            ami=AmiSettings(host="127.0.0.1", port=self.emulator.ami_port, secret=SecretStr(AMI_SECRET)),
            agi=AgiSettings(host="127.0.0.1", port=0),
            ivr=IvrSettings(
                flows_dir=ROOT / "flows", sounds_dir=self.tmp / "sounds", spool_dir=self.tmp / "spool",
                flows_poll_seconds=0,
            ),
            speech=SpeechSettings(engine="none"),
            acd=AcdSettings(
                key_prefix=self.prefix,
                config_file=config_file,
                callback_channel="PJSIP/{number}@callbacks",
                **acd,
            ),
        )  # fmt: skip

    async def start_controller(self, *, ivr: bool = True, **acd: Any) -> Running:
        """Build a controller (switchboard.app.controller) and start its jobs; the IVR points at it."""
        stack = AsyncExitStack()
        ctl = await stack.enter_async_context(controller(self.settings(**acd), self.clock))
        jobs = asyncio.create_task(run_jobs(ctl), name="e2e controller jobs")
        running = Running(ctl, stack, jobs)
        self.controllers.append(running)
        if ivr:
            self.emulator.set_global("SB_CONTROLLER", f"127.0.0.1:{ctl.agi.port}")
        await self.run(0.2)
        return running

    async def stop_controller(self, running: Running) -> None:
        """Stop one controller the way a crash or a restart does (its jobs cancelled, sockets closed)."""
        running.jobs.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(running.jobs, timeout=10)
        await running.stack.aclose()
        if running in self.controllers:
            self.controllers.remove(running)

    async def login(self, running: Running, *agents: str) -> None:
        for agent_id in agents:
            await running.acd.login(agent_id)

    # ---- calls ----

    def add_agents(self, **behaviour: Any) -> None:
        """Softphones for PJSIP/101..104, registered, answering after 1 s and talking for 30 s."""
        for endpoint in ("101", "102", "103", "104"):
            options = {"answer_after": 1.0, "talk_for": 30.0, **behaviour.get(endpoint, {})}
            self.emulator.add_agent(ScriptedAgent(endpoint, **options))

    async def ivr_call(self, number: str, digit: str | None, **caller: Any) -> str:
        """A caller who goes through flows/main.yaml, pressing ``digit`` again and again (None: nothing)."""
        presses = tuple((0.4 + 0.8 * i, digit) for i in range(12)) if digit else ()
        return await self.emulator.place_call(ScriptedCaller(number=number, dtmf=presses, **caller))

    def hold_call(
        self,
        number: str,
        *,
        queue: str = "support",
        skill: str = "general",
        region: str = "americas",
        priority: int = 0,
        call_id: str | None = None,
        hangup_after: float | None = None,
    ) -> str:
        """A caller placed straight into sb-hold with the SB_* variables the IVR sets (no IVR run)."""
        caller = ScriptedCaller(number=number, hangup_after=hangup_after)
        trunk = self.emulator.pbx.pjsip.get(caller.trunk)
        if trunk is None:
            self.emulator.add_endpoint(caller.trunk, context="sb-inbound", trunk=True)
        pbx = self.emulator.pbx
        from sim.channels import ChannelState

        ch = pbx.new_pjsip(caller.trunk, context="sb-hold", exten="s", state=ChannelState.RING,
                           caller=Party(number, "Caller"))  # fmt: skip
        ch.party = CallerRuntime(caller)
        values = {"SB_CALL_ID": call_id or f"c-{uuid.uuid4().hex[:10]}", "SB_QUEUE": queue, "SB_SKILL": skill,
                  "SB_REGION": region, "SB_PRIORITY": str(priority)}  # fmt: skip
        for name, value in values.items():
            ch.variables[name] = value
        pbx.answer(ch)
        pbx.start_pbx(ch)
        return ch.name

    def hangup(self, channel: str) -> None:
        assert self.emulator.hangup(channel), f"no channel {channel}"

    # ---- time ----

    async def tick(self, step: float = STEP) -> None:
        """Advance the clock one step; while the emulated Asterisk is still seeing activity (events,
        actions from the controllers), give real time before the next step, so a slow machine slows the
        emulated clock instead of making the controllers look slow."""
        await self.clock.advance(step)
        seen = -1
        for _ in range(QUIET_ROUNDS):
            await asyncio.sleep(REAL_PAUSE)
            now = len(self.events.events) + self.actions_seen
            if now == seen:
                break
            seen = now

    async def run(self, seconds: float, step: float = STEP) -> None:
        """Let ``seconds`` of emulated time pass."""
        end = self.clock.monotonic() + seconds
        while self.clock.monotonic() < end - 1e-9:
            await self.tick(min(step, end - self.clock.monotonic()))

    async def until(
        self, check: Callable[[], Any] | Callable[[], Awaitable[Any]], limit: float = 60.0, what: str = ""
    ) -> Any:
        """Drive time until ``check()`` is truthy; fails after ``limit`` emulated (or 20 real) seconds."""
        end = self.clock.monotonic() + limit
        real_end = time.monotonic() + 20.0
        while True:
            value = check()
            if inspect.isawaitable(value):
                value = await value
            if value:
                return value
            if self.clock.monotonic() >= end or time.monotonic() > real_end:
                raise AssertionError(f"not reached within {limit} emulated seconds: {what or check}")
            await self.tick()

    # ---- looking ----

    @property
    def acd(self) -> Any:
        return self.controllers[0].acd

    def dials_to(self, endpoint: str) -> list[SimEvent]:
        """DialBegin events that rang ``endpoint`` (PJSIP/101)."""
        return [
            e
            for e in self.events.named("DialBegin")
            if (e.get("DestChannel") or "").startswith(endpoint + "-")
        ]

    def dialled(self, channel: str) -> list[str]:
        """The agent endpoints a caller's channel dialled, in order."""
        return [
            (e.get("DestChannel") or "").rpartition("-")[0]
            for e in self.events.named("DialBegin")
            if e.get("Channel") == channel
        ]

    def bridged_with(self, channel: str) -> list[str]:
        """Agent endpoints whose channel entered a bridge with ``channel``."""
        bridges = {
            e.get("BridgeUniqueid") for e in self.events.named("BridgeEnter") if e.get("Channel") == channel
        }
        return [
            (e.get("Channel") or "").rpartition("-")[0]
            for e in self.events.named("BridgeEnter")
            if e.get("BridgeUniqueid") in bridges and e.get("Channel") != channel
        ]

    def redirects_of(self, channel: str) -> list[RedirectSeen]:
        return [r for r in self.redirects if r.channel == channel]

    def alive(self, channel: str) -> bool:
        return self.emulator.channel(channel) is not None

    def uniqueid(self, channel: str) -> str:
        ch = self.emulator.channel(channel)
        if ch is not None:
            return ch.uniqueid
        for e in self.events.named("Newchannel"):
            if e.get("Channel") == channel:
                return e.get("Uniqueid") or ""
        raise KeyError(channel)

    async def call(self, channel: str) -> WaitingCall | None:
        return await self.acd.store.call_for_channel(self.uniqueid(channel))

    async def agent(self, agent_id: str) -> AgentStatus:
        return await self.acd.store.agent_status(agent_id)

    async def agent_in(self, agent_id: str, *states: AgentState) -> bool:
        return (await self.agent(agent_id)).state in states

    async def call_in(self, channel: str, status: CallStatus) -> bool:
        call = await self.call(channel)
        return call is not None and call.status is status

    async def stream(self, kind: str | None = None) -> list[StreamEvent]:
        events = await self.acd.store.events(count=10_000)
        return [e for e in events if kind is None or e.type == kind]

    def connected(self, channel: str) -> bool:
        return bool(self.bridged_with(channel))

    async def record(self, call_id: str) -> Any:
        """The ACD's SQL record of a call (acd_queue_calls row), or None."""
        return await self.acd.repository.get_call(call_id)

    async def ivr_outcome(self, channel: str) -> str | None:
        """The IVR's recorded outcome for the caller on ``channel`` (calls table)."""
        from sqlalchemy import select

        from ivr.store import CallRow

        uniqueid = self.uniqueid(channel)
        async with self.controllers[0].ctl.ivr_store.sessions() as session:
            rows = await session.execute(select(CallRow.outcome).where(CallRow.uniqueid == uniqueid))
            return rows.scalar_one_or_none()


def _delayed(
    site: Site, action: str, handler: Callable[..., Awaitable[None]]
) -> Callable[..., Awaitable[None]]:
    async def delayed(session: Any, req: Any) -> None:
        site.actions_seen += 1
        delay = site.action_delays.get(action, 0.0)
        if delay > 0:
            await site.clock.sleep(delay)
        await handler(session, req)

    return delayed


def _record_redirects(site: Site) -> Callable[..., Awaitable[None]]:
    original = ami_actions.ACTIONS["redirect"]

    async def recording(session: Any, req: Any) -> None:
        site.actions_seen += 1
        delay = site.action_delays.get("redirect", 0.0)
        if delay > 0:
            await site.clock.sleep(delay)
        name = (req.get("Channel") or "").strip()
        ch = session.server.pbx.find_channel(name)
        if session.server.pbx is site.emulator.pbx:
            site.redirects.append(
                RedirectSeen(
                    site.clock.monotonic(),
                    name,
                    (ch.variables.get("SB_AGENT_ENDPOINT", "") if ch is not None else ""),
                    (ch.variables.get("SB_ATTEMPT", "") if ch is not None else ""),
                    ch is not None,
                )
            )
        await original(session, req)

    return recording


@contextlib.asynccontextmanager
async def open_site(tmp: Path, redis_url: str) -> AsyncIterator[Site]:
    """An emulator on a ManualClock recording Redirects; on exit controllers stop and keys go."""
    clock = ManualClock(start=BUSINESS_MORNING)
    emulator = AsteriskEmulator(clock, ami_secret=AMI_SECRET, agi_port=1)
    await emulator.start()
    prefix = f"e2e{uuid.uuid4().hex[:12]}"
    s = Site(emulator, clock, tmp, redis_url, prefix, emulator.record_events())
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(ami_actions.ACTIONS, "redirect", _record_redirects(s))
        for action in ("setvar", "getvar", "coreshowchannels", "originate", "hangup"):
            patch.setitem(ami_actions.ACTIONS, action, _delayed(s, action, ami_actions.ACTIONS[action]))
        try:
            yield s
        finally:
            for running in list(s.controllers):
                await s.stop_controller(running)
            s.events.close()
            await emulator.stop()
            await _clear_prefix(s.redis_url, prefix)


@pytest.fixture
async def site(tmp_path: Path, redis_url: str) -> AsyncIterator[Site]:
    async with open_site(tmp_path, redis_url) as s:
        yield s


async def _clear_prefix(redis_url: str, prefix: str) -> None:
    import redis.asyncio as aioredis
    from redis.exceptions import ConnectionError as RedisConnectionError

    client = aioredis.from_url(redis_url)
    try:
        keys = [k async for k in client.scan_iter(match=f"{prefix}:*", count=1000)]
        if keys:
            await client.delete(*keys)
    except RedisConnectionError:
        pass  # a test's own Redis, already stopped: its keys went with it
    finally:
        await client.aclose()


def site_with(**changes: Any) -> dict[str, Any]:
    """A copy of the site configuration with top-level keys replaced."""
    data: dict[str, Any] = {k: (list(v) if isinstance(v, list) else v) for k, v in SITE.items()}
    data.update(changes)
    return data


def queue_with(name: str, **changes: Any) -> list[Mapping[str, Any]]:
    """The site's queues with ``name`` changed."""
    return [({**q, **changes} if q["name"] == name else q) for q in SITE["queues"]]
