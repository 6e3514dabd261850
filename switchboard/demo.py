"""``switchboard demo``: the real controller against the built-in Asterisk emulator with synthetic traffic.

Everything a new user needs runs in this one process on embedded defaults: SQLite and Redis under
``<var_dir>/demo``, the emulator's AMI on a free loopback port, FastAGI and HTTP on their configured ports.
Simulated time starts on a weekday morning so the default flows take their business-hours branch.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
import shutil
import sys
from collections import Counter
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from pydantic import SecretStr
from sqlalchemy import func, select

from acd.errors import AcdError
from acd.model import AgentState
from ivr.prompts import build_prompts
from ivr.store import CallRow
from sim.emulator import AsteriskEmulator
from sim.scripts import ScriptedAgent, ScriptedCaller
from switchboard.app import Controller, bind_http, build_http_app, controller, run_jobs, serve_http
from switchboard.clock import Clock, ScaledClock
from switchboard.heap import freeze_startup_heap
from switchboard.settings import Settings

log = logging.getLogger(__name__)

DEMO_SITE = Path(__file__).resolve().parents[1] / "sim" / "demo_site.yaml"
BUSINESS_MORNING = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)  # Tuesday 10:00 in New York
PROMPT_SECONDS = 1.5  # every prompt lasts this long in the emulator (no rendered audio needed)


@dataclass(frozen=True)
class CallerKind:
    """One kind of synthetic caller: which keys it keeps pressing and how patient it is."""

    label: str
    digit: str
    weight: int


CALLER_KINDS = (
    CallerKind("self-service", "1", 4),  # technical support -> router restart -> "yes, fixed"
    CallerKind("billing", "2", 3),
    CallerKind("agent", "0", 3),
)
NUMBERS = ("+12125550{:03d}", "+442071830{:03d}", "+61290000{:03d}", "+15557770100")


@dataclass
class Traffic:
    """Places synthetic calls on the emulator at a steady rate."""

    emulator: AsteriskEmulator
    clock: Clock
    rng: random.Random
    limit: int | None
    interval: float = 4.0
    placed: Counter[str] = field(default_factory=Counter)
    finished: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def total(self) -> int:
        return sum(self.placed.values())

    def caller(self, n: int) -> ScriptedCaller:
        kind = self.rng.choices(CALLER_KINDS, weights=[k.weight for k in CALLER_KINDS])[0]
        number = self.rng.choice(NUMBERS).format(n % 1000)
        # The caller keeps pressing its key: a menu takes it only while it listens, as on a real phone.
        presses = tuple((2.0 + 1.5 * i, kind.digit) for i in range(24))
        self.placed[kind.label] += 1
        return ScriptedCaller(
            number=number, name=f"Demo Caller {n}", dtmf=presses, hangup_after=self.rng.uniform(90, 240)
        )

    async def run(self) -> None:
        """Place calls until the limit; then wait for the last one to end and set ``finished``."""
        while self.limit is None or self.total < self.limit:
            n = self.total + 1
            await self.emulator.place_call(self.caller(n))
            await self.clock.sleep(self.rng.expovariate(1 / self.interval))
        while self.emulator.channels():
            await self.clock.sleep(1.0)
        self.finished.set()
        await asyncio.Event().wait()  # stay parked: a returning job would be restarted by the supervisor


def demo_settings(settings: Settings, ami_port: int, secret: str) -> Settings:
    """The user's settings, pointed at the emulator and at a separate ``demo`` data directory."""
    var_dir = settings.general.var_dir / "demo"
    update = {
        "general": settings.general.model_copy(update={"var_dir": var_dir}),
        "ami": settings.ami.model_copy(
            update={"host": "127.0.0.1", "port": ami_port, "secret": SecretStr(secret)}
        ),
        "acd": settings.acd.model_copy(update={"config_file": settings.acd.config_file or DEMO_SITE}),
    }
    if not settings.database.url:
        update["database"] = settings.database.model_copy(
            update={"url": f"sqlite+aiosqlite:///{(var_dir / 'switchboard.db').as_posix()}"}
        )
    return settings.model_copy(update=update)


async def summary_line(ctl: Controller, traffic: Traffic, started: float) -> str:
    """One line: calls placed, where they are now, outcomes, agents by state."""
    config = await ctl.acd.config()
    agent_ids = list(config.agents)
    snap = await ctl.acd.store.snapshot(list(config.queues), agent_ids=agent_ids)
    states = Counter(s.state for s in snap.statuses.values())
    async with ctl.ivr_store.sessions() as session:
        rows = await session.execute(select(CallRow.outcome, func.count()).group_by(CallRow.outcome))
        outcomes = {str(k or "in-ivr"): int(v) for k, v in rows.all()}
    elapsed = ctl.clock.monotonic() - started
    return (
        f"[{int(elapsed) // 60:02d}:{int(elapsed) % 60:02d}] calls {traffic.total} | "
        f"in IVR {outcomes.get('in-ivr', 0)} waiting {snap.waiting_total} | "
        f"resolved {outcomes.get('resolved', 0)} queued {outcomes.get('queued', 0)} "
        f"abandoned {outcomes.get('abandoned', 0)} | agents ready {states[AgentState.READY]} "
        f"ringing {states[AgentState.RINGING]} on call {states[AgentState.ON_CALL]} "
        f"wrap-up {states[AgentState.WRAP_UP]} paused {states[AgentState.PAUSED]} | "
        f"http://{ctl.settings.http.host}:{ctl.http_port}/health"
    )


async def print_summaries(ctl: Controller, traffic: Traffic, out: TextIO) -> None:
    """Refresh the one-line summary every real second (in place on a terminal)."""
    started = ctl.clock.monotonic()
    tty = out.isatty()
    while True:
        line = await summary_line(ctl, traffic, started)
        out.write(f"\r\033[K{line}" if tty else f"{line}\n")
        out.flush()
        await asyncio.sleep(1.0)


async def _run_until_done(
    jobs: Coroutine[Any, Any, None], finished: asyncio.Event, duration: float | None
) -> None:
    """Run ``jobs`` until ``finished`` is set or ``duration`` real seconds pass; a failing job propagates."""
    runner = asyncio.create_task(jobs, name="demo-jobs")
    waiter = asyncio.create_task(finished.wait(), name="demo-finished")
    try:
        await asyncio.wait({runner, waiter}, timeout=duration, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (runner, waiter):
            task.cancel()
        await asyncio.gather(runner, waiter, return_exceptions=True)
    if runner.done() and not runner.cancelled() and runner.exception() is not None:
        raise runner.exception()  # type: ignore[misc]


async def _render_prompts(settings: Settings) -> None:
    """Render the flows' text prompts once (incremental), so callers hear them; without espeak-ng, go on."""
    report = await asyncio.to_thread(
        build_prompts, settings.ivr.flows_dir, settings.ivr.sounds_dir,
        voice=settings.speech.prompt_voice, speed=settings.speech.prompt_speed,
    )  # fmt: skip
    if not report.ok:
        log.warning("prompts not rendered (is espeak-ng installed?): %s", report.summary())


def _quiet_console(var_dir: Path) -> None:
    """Keep the terminal for the summary line: full logs go to <var_dir>/switchboard.log."""
    var_dir.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    handler = logging.FileHandler(var_dir / "switchboard.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    for existing in root.handlers:
        if isinstance(existing, logging.StreamHandler) and not isinstance(existing, logging.FileHandler):
            existing.setLevel(logging.WARNING)
    root.addHandler(handler)


async def run_demo(
    settings: Settings, *, duration: float | None = None, speed: float = 1.0, calls: int | None = None,
    out: TextIO | None = None, seed: int | None = None,
) -> int:  # fmt: skip
    """Run the demo until ``duration`` seconds pass, ``calls`` calls are done, or Ctrl-C."""
    out = out or sys.stdout
    clock = ScaledClock(speed, start=BUSINESS_MORNING)
    secret = secrets.token_urlsafe(16)
    emulator = AsteriskEmulator(
        clock, agi_host=settings.agi.host, agi_port=settings.agi.port, ami_secret=secret,
        default_sound_seconds=PROMPT_SECONDS,
    )  # fmt: skip
    await emulator.start()
    try:
        demo = demo_settings(settings, emulator.ami_port, secret)
        # Each demo is a fresh simulated site: yesterday's demo calls and agent states would only confuse.
        shutil.rmtree(demo.general.var_dir, ignore_errors=True)
        _quiet_console(demo.general.var_dir)
        await _render_prompts(demo)
        rng = random.Random(seed)
        config_agents = (101, 102, 103, 104, 105, 106)
        for endpoint in config_agents:
            emulator.add_agent(
                ScriptedAgent(str(endpoint), answer_after=rng.uniform(1, 4), talk_for=rng.uniform(20, 60))
            )
        sock = bind_http(demo)
        try:
            async with controller(demo, clock) as ctl:
                ctl.http_port = sock.getsockname()[1]
                emulator.set_global("SB_CONTROLLER", f"{demo.agi.host}:{ctl.agi.port}")
                for agent_id in (await ctl.acd.config()).agents:
                    try:
                        await ctl.acd.login(agent_id)
                    except AcdError as exc:  # e.g. still on a call that survived a restart
                        log.warning("demo agent not logged in agent=%s reason=%s", agent_id, exc)
                traffic = Traffic(emulator, clock, rng, calls)
                out.write(
                    f"switchboard demo: emulated Asterisk on 127.0.0.1:{emulator.ami_port}, "
                    f"FastAGI on {demo.agi.host}:{ctl.agi.port}, "
                    f"HTTP on http://{demo.http.host}:{ctl.http_port}/health; "
                    f"logs in {demo.general.var_dir / 'switchboard.log'}; Ctrl-C stops\n"
                )
                app = build_http_app(ctl)
                freeze_startup_heap()
                jobs = {
                    "http": lambda: serve_http(app, sock),
                    "traffic": traffic.run,
                    "summary": lambda: print_summaries(ctl, traffic, out),
                }
                await _run_until_done(run_jobs(ctl, jobs), traffic.finished, duration)
                out.write("\n" + await summary_line(ctl, traffic, 0.0) + "\nswitchboard demo: stopped\n")
        finally:
            sock.close()
    finally:
        await emulator.stop()
    return 0
