"""New IVR calls per second through a DTMF-only flow, emulator and controller in one process on one core.

The real controller (``switchboard.app.controller``: FastAGI server, flow runner, SQL records through the
queued recorder, the ACD in Redis, AMI to the emulator) serves calls that the Asterisk emulator places into the
shipped ``sb-inbound`` context. Prompts have zero length and the emulator runs on a fast ScaledClock; every
caller presses its next key the moment the IVR waits for one, so what is left is the controller's own work.

Controller time per call = the real time the controller holds the call's turn: from the AGI connect until
the first command arrives, and from each reply the emulator sends until the next command arrives (or the
controller closes the connection). The emulator's command execution (media, DTMF waits) is excluded.

The flow (written to a temporary directory): business-hours check, VIP check, welcome, a 3-way menu;
1 = a one-step self-service script answered "yes" (resolved), 2 = a 4-digit account number then a goodbye,
3 = the ACD queue (the caller waits on hold, then hangs up). Callers mix 45% / 35% / 20%.

Phases: an open-loop run at the target rate (calls placed on a fixed schedule, latency measured), then a
closed-loop run with a fixed number of calls in flight (the saturation rate).

Run: .venv/bin/python bench/ivr_calls.py [--rate 200] [--seconds 10] [--concurrency 64]
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/ holds scripts named like packages (bench/surveys.py): keep them from shadowing the real ones
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse
import asyncio
import contextlib
import logging
import os
import random
import resource
import socket
import statistics
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from ivr.flows import FlowRegistry
from ivr.runtime.channel import rendered_name
from ivr.store import CallRow
from sim.agi_client import FastAgiClient
from sim.emulator import AsteriskEmulator
from sim.scripts import ScriptedCaller
from switchboard.app import controller, run_jobs
from switchboard.clock import ScaledClock
from switchboard.settings import Settings

TARGET_RATE = 200.0  # new calls per second
TARGET_P99_MS = 50.0  # controller time per call
CLOCK_SPEED = 20.0
START = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)  # Tuesday 10:00 in New York
DEMO_SITE = Path(__file__).resolve().parents[1] / "sim" / "demo_site.yaml"

FLOW = """\
start: hours
language: en
defaults: {timeout_ms: 3000, retries: 1, speech: false, invalid_prompt: invalid, timeout_prompt: no-input,
           queue: support}
hours:
  office: {timezone: America/New_York, weekly: {mon-fri: "08:00-20:00", sat: "09:00-17:00"}}
vip_lists: {gold: ["+15557770100"]}
prompts:
  welcome: "Thank you for calling."
  menu: "For internet problems press 1. For your balance press 2. For an agent press 3."
  step: "Switch your router off and on again."
  worked: "Did that fix it? Press 1 for yes, 2 for no."
  account: "Please enter your four digit account number."
  info: "Your balance is on its way by text message. Goodbye."
  fixed: "Glad that helped. Goodbye."
  hold: "Please hold for the next agent."
  closed: "We are closed."
  invalid: "Sorry, that is not a choice."
  no-input: "Sorry, I did not hear you."
nodes:
  hours: {kind: condition, if: {open: office}, then: vip, else: closed}
  vip: {kind: condition, if: {vip: gold}, then: agent, else: welcome}
  welcome: {kind: play, prompt: welcome, next: menu}
  menu:
    kind: menu
    prompt: menu
    options:
      - {dtmf: 1, next: fix, label: internet}
      - {dtmf: 2, next: account, label: balance}
      - {dtmf: 3, next: agent, label: agent}
    on_fail: agent
  fix:
    kind: script
    script: bench-router
    steps: [{prompt: step, check: worked}]
    resolved: fixed
    unresolved: agent
  account: {kind: collect, prompt: account, into: account, min_digits: 4, max_digits: 4, next: balance,
            on_fail: agent}
  balance: {kind: set, values: {topic: balance}, next: info}
  info: {kind: hangup, prompt: info}
  fixed: {kind: hangup, prompt: fixed, outcome: resolved}
  agent: {kind: queue, queue: support, skill: general, prompt: hold}
  closed: {kind: hangup, prompt: closed}
"""

# (share, keys pressed one per wait, expected outcome)
CALLER_MIX = (
    (100, "3", "queued"),
)


@dataclass
class Stats:
    """Per-call controller time and completions, keyed by caller number."""

    keys: dict[str, str] = field(default_factory=dict)
    controller_ms: list[float] = field(default_factory=list)
    commands: list[int] = field(default_factory=list)
    started: int = 0
    finished: int = 0
    failed: int = 0
    done: asyncio.Event = field(default_factory=asyncio.Event)
    expected: int = 0

    def reset(self, expected: int) -> None:
        self.controller_ms.clear()
        self.commands.clear()
        self.started = self.finished = self.failed = 0
        self.expected = expected
        self.done = asyncio.Event()


class BenchClient(FastAgiClient):
    """Asterisk's side of one AGI() call: times the controller's turns and presses the caller's keys."""

    def __init__(self, stats: Stats, host: str, port: int, env: Mapping[str, str], responder: Any, *,
                 connect_timeout: float = 2.0) -> None:
        super().__init__(host, port, env, self._respond, connect_timeout=connect_timeout)
        self._stats = stats
        self._inner = responder
        self._ivr = env.get("agi_network_script", "").startswith("ivr/")
        self._keys = list(stats.keys.get(env.get("agi_callerid", ""), ""))
        self._mark = 0.0
        self._controller = 0.0
        self._loop = asyncio.get_running_loop()

    async def _respond(self, command: str) -> str:
        self._controller += time.perf_counter() - self._mark
        if self._keys and command.startswith("WAIT FOR DIGIT"):
            # the caller presses the next key once the emulator listens (this call's command runs first)
            state = self._inner.state
            self._loop.call_soon(state.pbx.receive_dtmf, state.ch, self._keys.pop(0))
        try:
            return await self._inner(command)
        finally:
            self._mark = time.perf_counter()

    async def run(self) -> None:
        if self._ivr:
            self._stats.started += 1
        self._mark = time.perf_counter()
        try:
            await super().run()
        finally:
            if self._ivr:
                self._controller += time.perf_counter() - self._mark
                stats = self._stats
                stats.controller_ms.append(self._controller * 1000)
                stats.commands.append(len(self.commands))
                stats.finished += 1
                stats.failed += int(self.failed)
                if stats.finished >= stats.expected:
                    stats.done.set()


def prompt_sounds(flows_dir: Path, sounds_dir: Path) -> dict[str, float]:
    """Zero-length sounds for every prompt of the flows, under the names the controller streams."""
    registry = FlowRegistry(flows_dir)
    registry.reload()
    prefix = str(sounds_dir.resolve())
    sounds = {}
    for flow in registry.snapshot().values():
        for prompt in flow.spec.prompts.values():
            if prompt.say:
                sounds[f"{prefix}/{rendered_name(prompt.say, flow.spec.language)}"] = 0.0
    return sounds


def redis_url(tmp: Path) -> str:
    """The machine's Redis when it runs (db 13), else '' (the controller starts an embedded one)."""
    with socket.socket() as s:
        s.settimeout(0.3)
        if s.connect_ex(("127.0.0.1", 6379)) == 0:
            return "redis://127.0.0.1:6379/13"
    return ""


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


class Bench:
    def __init__(self, emulator: AsteriskEmulator, stats: Stats, rng: random.Random) -> None:
        self.emulator = emulator
        self.stats = stats
        self.rng = rng
        self.serial = 0
        self.placed: Counter[str] = Counter()

    def caller(self) -> ScriptedCaller:
        self.serial += 1
        number = f"+1415{self.serial:07d}"
        share = self.rng.uniform(0, 100)
        for weight, keys, outcome in CALLER_MIX:
            share -= weight
            if share <= 0:
                break
        self.stats.keys[number] = keys
        self.placed[outcome] += 1
        # queued callers hang up after a while on hold; the others are hung up by the flow
        return ScriptedCaller(number=number, name="Bench", hangup_after=20.0)

    async def open_loop(self, rate: float, seconds: float) -> tuple[float, float]:
        """Place ``rate`` calls per second for ``seconds``; returns (placing seconds, seconds to last end)."""
        total = int(rate * seconds)
        self.stats.reset(total)
        interval = 1.0 / rate
        begin = time.perf_counter()
        for i in range(total):
            delay = begin + i * interval - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            await self.emulator.place_call(self.caller())
        placing = time.perf_counter() - begin
        await asyncio.wait_for(self.stats.done.wait(), 120)
        return placing, time.perf_counter() - begin

    async def closed_loop(self, concurrency: int, total: int) -> float:
        """Keep ``concurrency`` IVR calls in flight until ``total`` have finished; returns seconds."""
        self.stats.reset(total)
        begin = time.perf_counter()
        placed = 0
        while placed < total:
            in_flight = placed - self.stats.finished
            if in_flight < concurrency:
                await self.emulator.place_call(self.caller())
                placed += 1
                continue
            await asyncio.sleep(0.0005)
        await asyncio.wait_for(self.stats.done.wait(), 120)
        return time.perf_counter() - begin


async def outcomes(ctl: Any) -> Counter[str]:
    async with ctl.ivr_store.sessions() as session:
        rows = await session.execute(select(CallRow.outcome, func.count()).group_by(CallRow.outcome))
        return Counter({str(k): int(v) for k, v in rows.all()})


async def drain_records(ctl: Any) -> None:
    recorder = ctl.runner.recorder
    if hasattr(recorder, "drain"):
        await asyncio.wait_for(recorder.drain(), 120)


async def main(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    rng = random.Random(7)
    stats = Stats()
    with tempfile.TemporaryDirectory(prefix="sb-bench-ivr-") as tmpdir:
        tmp = Path(tmpdir)
        flows = tmp / "flows"
        flows.mkdir()
        (flows / "main.yaml").write_text(FLOW)
        sounds_dir = tmp / "sounds"
        clock = ScaledClock(CLOCK_SPEED, start=START)
        secret = uuid.uuid4().hex

        def factory(host: str, port: int, env: Mapping[str, str], responder: Any, *,
                    connect_timeout: float = 2.0) -> BenchClient:
            return BenchClient(stats, host, port, env, responder, connect_timeout=connect_timeout)

        emulator = AsteriskEmulator(clock, ami_secret=secret, file_root=tmp / "asterisk",
                                    sounds=prompt_sounds(flows, sounds_dir), agi_client_factory=factory)
        await emulator.start()
        prefix = f"bench-ivr-{uuid.uuid4().hex[:8]}"
        url = redis_url(tmp)
        settings = Settings(
            general={"var_dir": tmp / "var", "log_level": "ERROR"},
            database={"url": f"sqlite+aiosqlite:///{tmp / 'bench.db'}"},
            redis={"url": url},
            ami={"host": "127.0.0.1", "port": emulator.ami_port, "secret": secret,
                 "action_timeout": 60 * CLOCK_SPEED},
            agi={"host": "127.0.0.1", "port": 0},
            ivr={"flows_dir": flows, "sounds_dir": sounds_dir, "flows_poll_seconds": 0},
            speech={"engine": "none"},
            acd={"key_prefix": prefix, "config_file": DEMO_SITE},
            surveys={"enabled": False},
            recordings={"engine": "none"},
        )
        try:
            async with controller(settings, clock) as ctl:
                emulator.set_global("SB_CONTROLLER", f"127.0.0.1:{ctl.agi.port}")
                import os as _o
                if _o.environ.get("NOREC"): ctl.runner.recorder = None
                _acd = ctl.runner.handoff.call_queue
                class _T:
                    times = []
                    async def enqueue(self, req):
                        t = time.perf_counter()
                        try:
                            await _acd.enqueue(req)
                        finally:
                            _T.times.append(time.perf_counter() - t)
                ctl.runner.handoff.call_queue = _T()
                global _TT
                _TT = _T
                if _o.environ.get("NOSS"):
                    from ivr.runtime.selfservice import MemorySelfServiceStore
                    ctl.runner.nodes.selfservice.store = MemorySelfServiceStore()
                jobs = asyncio.create_task(run_jobs(ctl))
                try:
                    return await measure(args, emulator, ctl, stats, rng)
                finally:
                    jobs.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await jobs
        finally:
            await emulator.stop()
            if url:
                import redis.asyncio as aioredis

                client = aioredis.from_url(url)
                keys = [k async for k in client.scan_iter(match=f"{prefix}*", count=1000)]
                if keys:
                    await client.delete(*keys)
                await client.aclose()


async def measure(args: argparse.Namespace, emulator: AsteriskEmulator, ctl: Any, stats: Stats,
                  rng: random.Random) -> int:
    bench = Bench(emulator, stats, rng)
    print(f"IVR calls benchmark: emulator + controller in one process (pid {os.getpid()}), "
          f"clock x{CLOCK_SPEED:g}, zero-length prompts, DTMF-only flow")
    await bench.closed_loop(16, 200)  # warm-up: imports, caches, SQLite file, Redis scripts
    await drain_records(ctl)

    cpu0 = time.process_time()
    placing, elapsed = await bench.open_loop(args.rate, args.seconds)
    cpu = time.process_time() - cpu0
    ms = list(stats.controller_ms)
    offered = stats.expected / placing
    achieved = stats.finished / elapsed
    p50, p99, worst = percentile(ms, 50), percentile(ms, 99), max(ms)
    commands = statistics.mean(stats.commands)
    print(f"\nopen loop: {stats.expected} calls offered at {offered:.0f}/s over {placing:.1f} s; "
          f"all done after {elapsed:.1f} s -> {achieved:.0f} calls/s")
    print(f"  controller time per call: p50 {p50:.2f} ms  p99 {p99:.2f} ms  max {worst:.2f} ms "
          f"({commands:.1f} AGI commands per call)")
    print(f"  process CPU: {cpu:.1f} s for {elapsed:.1f} s ({100 * cpu / elapsed:.0f}% of one core), "
          f"{1000 * cpu / stats.expected:.2f} ms CPU per call (emulator, controller, AMI, ACD, SQL writer)")
    print(f"  AGI FAILURE endings: {stats.failed}")

    total = args.concurrency * 40
    seconds = await bench.closed_loop(args.concurrency, total)
    saturation = total / seconds
    sat_p99 = percentile(stats.controller_ms, 99)
    print(f"\nclosed loop: {args.concurrency} calls in flight, {total} calls in {seconds:.1f} s -> "
          f"{saturation:.0f} calls/s (p99 controller time {sat_p99:.1f} ms, queueing included)")

    await drain_records(ctl)
    seen = await outcomes(ctl)
    print("ACD enqueue ms p50 %.1f p99 %.1f n=%d" % (percentile([x*1000 for x in _TT.times], 50), percentile([x*1000 for x in _TT.times], 99), len(_TT.times)))
    expected = Counter()
    for _, _, outcome in CALLER_MIX:
        expected[outcome] = bench.placed[outcome]
    wrong = sum(abs(seen[k] - expected[k]) for k in expected) + sum(v for k, v in seen.items()
                                                                     if k not in expected)
    print(f"\noutcomes in SQL: {dict(seen)} (expected {dict(expected)}; mismatches {wrong})")
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {rss_mb:.0f} MB")

    ok_rate = achieved >= TARGET_RATE * 0.98 and offered >= TARGET_RATE * 0.98
    ok_p99 = p99 <= TARGET_P99_MS
    print("\ntargets:")
    print(f"  >= {TARGET_RATE:.0f} new calls/s sustained: {achieved:.0f}/s "
          f"(saturation {saturation:.0f}/s)  {'OK' if ok_rate else 'MISSED'}")
    print(f"  p99 controller time per call <= {TARGET_P99_MS:.0f} ms: {p99:.2f} ms  "
          f"{'OK' if ok_p99 else 'MISSED'}")
    print(f"  every call got its outcome: {'OK' if wrong == 0 and stats.failed == 0 else 'MISSED'}")
    return 0 if ok_rate and ok_p99 and wrong == 0 else 1


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=TARGET_RATE, help="offered new calls per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the open-loop run")
    parser.add_argument("--concurrency", type=int, default=64, help="calls in flight in the closed loop")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args(sys.argv[1:]))))
