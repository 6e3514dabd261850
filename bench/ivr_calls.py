"""New IVR calls per second through a DTMF-only flow: the Asterisk emulator against the real controller.

The real controller (``switchboard.app.controller``: FastAGI server, flow runner, SQL records through the
queued writer, the ACD in Redis, AMI to the emulator) serves calls that the emulator places into the shipped
``sb-inbound`` context. Prompts have zero length and the emulator runs on a fast ScaledClock; every caller
presses its next key the moment the IVR waits for one, so what is measured is the controller's own work.

Controller time per call = the real time the controller holds the call's turn: from the AGI connect until
the first command arrives, and from each reply the emulator sends until the next command arrives (or the
controller closes the connection). The emulator's command execution (media, DTMF waits) is excluded.

Two layouts (``--layout``):
- ``split`` (default): the emulator in its own process on one core, the controller on the other core;
  controller CPU per call is measured in the controller's process;
- ``single``: emulator and controller in one process on one core (their work shares one event loop, so
  every controller turn also waits for the emulator's work).

The flow (written to a temporary directory): business-hours and VIP checks, welcome, a 3-way menu:
1 = a self-service step answered "yes" (resolved), 2 = a 4-digit account number, then goodbye, 3 = the ACD
queue. Phases: warm-up; an open-loop run at ``--rate`` for ``--seconds`` (55% self-service, 45% account);
a closed-loop run with ``--concurrency`` calls in flight (the saturation rate); then, for information, an
open-loop run of callers who all ask for an agent (hand-off to the ACD: Redis + its SQL record).

The x20 clock is part of the set-up: periodic jobs (AMI keep-alive, ACD heartbeats, FastAGI timeout sweeps)
run twenty times as often as on a real site, which costs the controller some CPU per call here.

Run: .venv/bin/python bench/ivr_calls.py [--layout split|single|both] [--rate 200] [--seconds 10] [--speed 20]
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/ holds scripts named like packages (bench/surveys.py): keep them from shadowing the real ones
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse  # noqa: E402
import asyncio  # noqa: E402
import contextlib  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections import Counter  # noqa: E402
from collections.abc import AsyncIterator, Mapping  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from typing import Any  # noqa: E402

from sqlalchemy import func, select  # noqa: E402

from ivr.flows import FlowRegistry  # noqa: E402
from ivr.ports import QueueRequest  # noqa: E402
from ivr.runtime.channel import rendered_name  # noqa: E402
from ivr.store import CallRow  # noqa: E402
from sim.agi_client import FastAgiClient  # noqa: E402
from sim.emulator import AsteriskEmulator  # noqa: E402
from sim.scripts import ScriptedCaller  # noqa: E402
from switchboard.app import Controller, controller, run_jobs  # noqa: E402
from switchboard.clock import ScaledClock  # noqa: E402
from switchboard.heap import freeze_startup_heap  # noqa: E402
from switchboard.settings import Settings  # noqa: E402

TARGET_RATE = 200.0  # new calls per second
TARGET_P99_MS = 50.0  # controller time per call
CLOCK_SPEED = 20.0  # --speed
START = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)  # Tuesday 10:00 in New York
DEMO_SITE = Path(__file__).resolve().parents[1] / "sim" / "demo_site.yaml"
HANDOFF_RATE = 30.0
HANDOFF_SECONDS = 4.0

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

# (share %, keys pressed one per wait, expected outcome)
Mix = tuple[tuple[int, str, str], ...]
IVR_MIX: Mix = ((55, "11", "resolved"), (45, "21234", "ended"))
HANDOFF_MIX: Mix = ((100, "3", "queued"),)


# ---- the emulator's side: calls, keys, controller time ---------------------------------------------------
@dataclass
class Stats:
    """Per-call controller time and completions of the current phase."""

    keys: dict[str, str] = field(default_factory=dict)
    controller_ms: list[float] = field(default_factory=list)
    commands: list[int] = field(default_factory=list)
    finished: int = 0
    failed: int = 0
    expected: int = 0
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def reset(self, expected: int) -> None:
        self.controller_ms, self.commands = [], []
        self.finished = self.failed = 0
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
        self._keys = list(stats.keys.pop(env.get("agi_callerid", ""), "")) if self._ivr else []
        self._mark = 0.0
        self._controller = 0.0
        self._loop = asyncio.get_running_loop()

    async def _respond(self, command: str) -> str:
        self._controller += time.perf_counter() - self._mark
        if self._keys and command.startswith("WAIT FOR DIGIT"):
            # the caller presses the next key once the emulator listens (this command starts first)
            state = self._inner.state
            self._loop.call_soon(state.pbx.receive_dtmf, state.ch, self._keys.pop(0))
        try:
            return await self._inner(command)
        finally:
            self._mark = time.perf_counter()

    async def run(self) -> None:
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


def write_flow(tmp: Path) -> Path:
    flows = tmp / "flows"
    flows.mkdir(exist_ok=True)
    (flows / "main.yaml").write_text(FLOW)
    return flows


def zero_length_prompts(flows_dir: Path, sounds_dir: Path) -> dict[str, float]:
    """Every prompt of the flows as a zero-length sound, under the name the controller streams."""
    registry = FlowRegistry(flows_dir)
    registry.reload()
    prefix = str(sounds_dir.resolve())
    return {
        f"{prefix}/{rendered_name(prompt.say, flow.spec.language)}": 0.0
        for flow in registry.snapshot().values()
        for prompt in flow.spec.prompts.values()
        if prompt.say
    }


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))]


class Load:
    """Places calls on the emulator and collects the emulator-side figures of each phase."""

    def __init__(self, emulator: AsteriskEmulator, stats: Stats) -> None:
        self.emulator = emulator
        self.stats = stats
        self.rng = random.Random(7)
        self.serial = 0
        self.placed: Counter[str] = Counter()

    def caller(self, mix: Mix) -> ScriptedCaller:
        self.serial += 1
        number = f"+1415{self.serial:07d}"  # a new caller each time: no repeat-caller skips
        share = self.rng.uniform(0, 100)
        keys, outcome = mix[-1][1], mix[-1][2]
        for weight, k, o in mix:
            share -= weight
            if share <= 0:
                keys, outcome = k, o
                break
        self.stats.keys[number] = keys
        self.placed[outcome] += 1
        # callers handed to the ACD give up after a while on hold; the flow hangs up on the others
        return ScriptedCaller(number=number, name="Bench", hangup_after=20.0 if outcome == "queued" else None)

    async def open_loop(self, rate: float, seconds: float, mix: Mix) -> dict[str, Any]:
        total = int(rate * seconds)
        self.stats.reset(total)
        begin = time.perf_counter()
        for i in range(total):
            delay = begin + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            await self.emulator.place_call(self.caller(mix))
        placing = time.perf_counter() - begin
        await asyncio.wait_for(self.stats.done.wait(), 180)
        return self.figures(total, placing, time.perf_counter() - begin)

    async def closed_loop(self, concurrency: int, total: int, mix: Mix) -> dict[str, Any]:
        self.stats.reset(total)
        begin = time.perf_counter()
        placed = 0
        while placed < total:
            if placed - self.stats.finished < concurrency:
                await self.emulator.place_call(self.caller(mix))
                placed += 1
            else:
                await asyncio.sleep(0.0005)
        await asyncio.wait_for(self.stats.done.wait(), 180)
        elapsed = time.perf_counter() - begin
        return self.figures(total, elapsed, elapsed)

    def figures(self, total: int, placing: float, elapsed: float) -> dict[str, Any]:
        ms = self.stats.controller_ms
        return {
            "calls": total, "offered_rate": total / placing, "rate": self.stats.finished / elapsed,
            "elapsed": elapsed, "p50": percentile(ms, 50), "p99": percentile(ms, 99), "max": max(ms),
            "commands": statistics.mean(self.stats.commands), "failed": self.stats.failed,
        }  # fmt: skip


async def run_phases(load: Load, args: argparse.Namespace, mark: Any) -> dict[str, Any]:
    """The benchmark's phases; ``mark(name)`` is awaited at each phase boundary (CPU sampling)."""
    await load.closed_loop(16, 200, IVR_MIX)  # warm-up: imports, caches, SQL, Redis scripts
    await mark("open-start")
    opened = await load.open_loop(args.rate, args.seconds, IVR_MIX)
    await mark("open-end")
    closed = await load.closed_loop(args.concurrency, args.concurrency * 40, IVR_MIX)
    await mark("handoff-start")
    handoff = await load.open_loop(HANDOFF_RATE, HANDOFF_SECONDS, HANDOFF_MIX)
    await mark("handoff-end")
    return {"open": opened, "closed": closed, "handoff": handoff, "placed": dict(load.placed)}


def make_emulator(clock: ScaledClock, tmp: Path, secret: str, stats: Stats) -> AsteriskEmulator:
    flows = write_flow(tmp)

    def factory(host: str, port: int, env: Mapping[str, str], responder: Any, *,
                connect_timeout: float = 2.0) -> BenchClient:
        return BenchClient(stats, host, port, env, responder, connect_timeout=connect_timeout)

    return AsteriskEmulator(clock, ami_secret=secret, file_root=tmp / "asterisk",
                            sounds=zero_length_prompts(flows, tmp / "sounds"), agi_client_factory=factory)


# ---- the controller's side -------------------------------------------------------------------------------
def machine_redis() -> str:
    """The machine's Redis when it runs (db 13), else '' (the controller starts an embedded one)."""
    with socket.socket() as s:
        s.settimeout(0.3)
        if s.connect_ex(("127.0.0.1", 6379)) == 0:
            return "redis://127.0.0.1:6379/13"
    return ""


class TimedQueue:
    """The ACD as the IVR sees it, with the time each hand-off takes."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.ms: list[float] = []

    async def enqueue(self, request: QueueRequest) -> None:
        began = time.perf_counter()
        try:
            await self.inner.enqueue(request)
        finally:
            self.ms.append((time.perf_counter() - began) * 1000)


@contextlib.asynccontextmanager
async def running_controller(tmp: Path, ami_port: int, secret: str, prefix: str,
                             url: str) -> AsyncIterator[tuple[Controller, TimedQueue, LoopLag, HandlerTimer]]:
    settings = Settings(
        general={"var_dir": tmp / "var", "log_level": "ERROR"},
        database={"url": f"sqlite+aiosqlite:///{tmp / 'bench.db'}"},
        redis={"url": url},
        ami={"host": "127.0.0.1", "port": ami_port, "secret": secret, "action_timeout": 60 * CLOCK_SPEED},
        agi={"host": "127.0.0.1", "port": 0},
        ivr={"flows_dir": write_flow(tmp), "sounds_dir": tmp / "sounds", "flows_poll_seconds": 0},
        speech={"engine": "none"},
        acd={"key_prefix": prefix, "config_file": DEMO_SITE},
        # features that poll on the clock and have nothing to do with the IVR
        surveys={"enabled": False},
        recordings={"engine": "none"},
    )  # fmt: skip
    async with controller(settings, ScaledClock(CLOCK_SPEED, start=START)) as ctl:
        timed = TimedQueue(ctl.runner.handoff.call_queue)
        ctl.runner.handoff.call_queue = timed
        lag = LoopLag()
        handler = HandlerTimer(ctl.runner)
        freeze_startup_heap()  # as `switchboard serve` does once the controller is built
        jobs = asyncio.create_task(run_jobs(ctl, {"bench-loop-lag": lag.run}))
        try:
            yield ctl, timed, lag, handler
        finally:
            jobs.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await jobs


async def outcomes(ctl: Controller) -> Counter[str]:
    recorder = ctl.runner.recorder
    if hasattr(recorder, "drain"):
        await asyncio.wait_for(recorder.drain(), 120)
    async with ctl.ivr_store.sessions() as session:
        rows = await session.execute(select(CallRow.outcome, func.count()).group_by(CallRow.outcome))
        return Counter({str(k): int(v) for k, v in rows.all()})


async def forget_redis(url: str, prefix: str) -> None:
    if not url:
        return
    import redis.asyncio as aioredis

    client = aioredis.from_url(url)
    try:
        keys = [k async for k in client.scan_iter(match=f"{prefix}*", count=1000)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


_COMMANDS = frozenset({"answer", "stream_file", "get_data", "wait_for_digit", "say_digits", "record_file",
                       "set_variable", "get_variable", "get_full_variable", "exec", "hangup", "noop"})


class TimedChannel:
    """The AGI session as the flow runner sees it, adding up the time spent waiting for Asterisk."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.waiting = 0.0

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._inner, name)
        if name not in _COMMANDS:
            return value

        async def timed(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return await value(*args, **kwargs)
            finally:
                self.waiting += time.perf_counter() - began

        return timed


class HandlerTimer:
    """Controller-side time per call: the flow runner's run, minus its waits for Asterisk's replies."""

    def __init__(self, runner: Any) -> None:
        self.ms: list[float] = []
        self.recording = False
        self._run = runner.run
        runner.run = self.run

    async def run(self, channel: Any, flows: Any, name: str) -> Any:
        proxy = TimedChannel(channel)
        began = time.perf_counter()
        try:
            return await self._run(proxy, flows, name)
        finally:
            if self.recording:
                self.ms.append((time.perf_counter() - began - proxy.waiting) * 1000)


class LoopLag:
    """How late a 5 ms sleep wakes up on this process's event loop (stalls delay every call)."""

    def __init__(self) -> None:
        self.lag_ms: list[float] = []
        self.recording = False

    async def run(self) -> None:
        while True:
            began = time.perf_counter()
            await asyncio.sleep(0.005)
            if self.recording:
                self.lag_ms.append((time.perf_counter() - began) * 1000 - 5)


class CpuMarks:
    """Process CPU time at phase boundaries."""

    def __init__(self) -> None:
        self.at: dict[str, tuple[float, float]] = {}
        self.lag: LoopLag | None = None
        self.handler: HandlerTimer | None = None

    async def __call__(self, name: str) -> None:
        self.at[name] = (time.process_time(), time.perf_counter())
        for probe in (self.lag, self.handler):
            if probe is not None:
                probe.recording = name == "open-start"

    def per_call(self, start: str, end: str, calls: int) -> tuple[float, float]:
        """(ms CPU per call, share of one core) between two marks."""
        cpu = self.at[end][0] - self.at[start][0]
        wall = self.at[end][1] - self.at[start][1]
        return 1000 * cpu / calls, cpu / wall


def pin(cpu: int) -> None:
    with contextlib.suppress(AttributeError, OSError):
        if (os.cpu_count() or 1) > cpu:
            os.sched_setaffinity(0, {cpu})


# ---- layouts -----------------------------------------------------------------------------------------------
async def single(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    """Emulator and controller in this process, pinned to one core."""
    pin(0)
    stats = Stats()
    secret = uuid.uuid4().hex
    emulator = make_emulator(ScaledClock(CLOCK_SPEED, start=START), tmp, secret, stats)
    await emulator.start()
    prefix, url = f"bench-ivr-{uuid.uuid4().hex[:8]}", machine_redis()
    marks = CpuMarks()
    try:
        running = running_controller(tmp, emulator.ami_port, secret, prefix, url)
        async with running as (ctl, timed, lag, handler):
            marks.lag, marks.handler = lag, handler
            emulator.set_global("SB_CONTROLLER", f"127.0.0.1:{ctl.agi.port}")
            result = await run_phases(Load(emulator, stats), args, marks)
            result["outcomes"] = await outcomes(ctl)
            result["handoff_ms"] = timed.ms[-int(HANDOFF_RATE * HANDOFF_SECONDS):]
            result["lag"], result["handler_ms"] = lag.lag_ms, handler.ms
    finally:
        await emulator.stop()
        await forget_redis(url, prefix)
    result["cpu"] = marks.per_call("open-start", "open-end", result["open"]["calls"])
    result["cpu_what"] = "emulator + controller"
    return result


async def emulator_role(args: argparse.Namespace) -> None:
    """The child process of the split layout: the emulator and the load, on its own core."""
    pin(1)
    tmp = Path(args.tmp)
    stats = Stats()
    secret = uuid.uuid4().hex
    emulator = make_emulator(ScaledClock(CLOCK_SPEED, start=START), tmp, secret, stats)
    await emulator.start()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    def say(line: str) -> None:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    marks = CpuMarks()

    async def mark(name: str) -> None:
        await marks(name)
        say(f"MARK {name}")
        assert (await reader.readline()).strip() == b"OK"  # the controller sampled its CPU

    try:
        say(f"AMI {emulator.ami_port} {secret}")
        agi_port = int((await reader.readline()).split()[1])
        emulator.set_global("SB_CONTROLLER", f"127.0.0.1:{agi_port}")
        result = await run_phases(Load(emulator, stats), args, mark)
        result["emulator_cpu"] = marks.per_call("open-start", "open-end", result["open"]["calls"])
        say("RESULT " + json.dumps(result))
        await reader.readline()  # the controller is done reading the records
    finally:
        await emulator.stop()


async def split(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    """The controller here on core 0, the emulator in a child process on core 1."""
    pin(0)
    child = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--role", "emulator", "--tmp", str(tmp), "--rate", str(args.rate),
        "--seconds", str(args.seconds), "--concurrency", str(args.concurrency), "--speed", str(args.speed),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert child.stdin is not None and child.stdout is not None
    prefix, url = f"bench-ivr-{uuid.uuid4().hex[:8]}", machine_redis()
    marks = CpuMarks()
    try:
        first = (await asyncio.wait_for(child.stdout.readline(), 30)).decode().split()
        ami_port, secret = int(first[1]), first[2]
        async with running_controller(tmp, ami_port, secret, prefix, url) as (ctl, timed, lag, handler):
            marks.lag, marks.handler = lag, handler
            child.stdin.write(f"AGI {ctl.agi.port}\n".encode())
            while True:
                line = (await asyncio.wait_for(child.stdout.readline(), 300)).decode()
                if not line:
                    raise RuntimeError("the emulator process ended early")
                if line.startswith("MARK "):
                    await marks(line.split()[1])
                    child.stdin.write(b"OK\n")
                elif line.startswith("RESULT "):
                    result = json.loads(line[7:])
                    break
            result["outcomes"] = await outcomes(ctl)
            result["handoff_ms"] = timed.ms[-int(HANDOFF_RATE * HANDOFF_SECONDS):]
            result["lag"], result["handler_ms"] = lag.lag_ms, handler.ms
            child.stdin.write(b"DONE\n")
        await asyncio.wait_for(child.wait(), 30)
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
        await forget_redis(url, prefix)
    result["cpu"] = marks.per_call("open-start", "open-end", result["open"]["calls"])
    result["cpu_what"] = "controller process only"
    return result


# ---- report ------------------------------------------------------------------------------------------------
def report(layout: str, r: dict[str, Any], args: argparse.Namespace) -> bool:
    o, c, h = r["open"], r["closed"], r["handoff"]
    cpu_ms, core = r["cpu"]
    print(f"\n== layout {layout}: "
          + ("emulator process on core 1, controller on core 0" if layout == "split"
             else "emulator and controller in one process on one core"))  # fmt: skip
    print(f"open loop: {o['calls']} calls offered at {o['offered_rate']:.0f}/s; all done after "
          f"{o['elapsed']:.1f} s -> {o['rate']:.0f} calls/s")
    print(f"  controller time per call: p50 {o['p50']:.2f} ms  p99 {o['p99']:.2f} ms  max {o['max']:.2f} ms "
          f"({o['commands']:.1f} AGI commands per call)")
    print(f"  CPU ({r['cpu_what']}): {cpu_ms:.2f} ms per call, {100 * core:.0f}% of one core")
    hm = r["handler_ms"]
    print(f"  handler time per call (controller side, without Asterisk's replies): "
          f"p50 {percentile(hm, 50):.2f} ms  p99 {percentile(hm, 99):.2f} ms")
    lag = r["lag"]
    print(f"  controller event loop lag: p50 {percentile(lag, 50):.1f} ms  p99 {percentile(lag, 99):.1f} ms  "
          f"max {max(lag, default=0):.1f} ms")
    if "emulator_cpu" in r:
        e_ms, e_core = r["emulator_cpu"]
        print(f"  CPU (emulator process): {e_ms:.2f} ms per call, {100 * e_core:.0f}% of one core")
    print(f"closed loop: {args.concurrency} in flight, {c['calls']} calls -> {c['rate']:.0f} calls/s "
          f"(p99 controller time {c['p99']:.1f} ms, queueing included)")
    handoff = r["handoff_ms"]
    print(f"ACD hand-off run (information): {h['calls']} callers asking for an agent "
          f"at {HANDOFF_RATE:.0f}/s: "
          f"controller time p50 {h['p50']:.1f} ms p99 {h['p99']:.1f} ms, of which ACD enqueue p50 "
          f"{percentile(handoff, 50):.1f} ms p99 {percentile(handoff, 99):.1f} ms")
    seen: Counter[str] = Counter(r["outcomes"])
    placed: Counter[str] = Counter(r["placed"])
    wrong = sum(abs(seen[k] - placed[k]) for k in set(seen) | set(placed))
    failed = o["failed"] + c["failed"] + h["failed"]
    print(f"outcomes in SQL: {dict(seen)} (expected {dict(placed)}; "
          f"mismatches {wrong}, AGI failures {failed})")
    ok_rate = o["rate"] >= TARGET_RATE * 0.98 and o["offered_rate"] >= TARGET_RATE * 0.98
    ok_p99 = o["p99"] <= TARGET_P99_MS
    ok_all = wrong == 0 and failed == 0
    print(f"targets: >= {TARGET_RATE:.0f} new calls/s: {o['rate']:.0f}/s (saturation {c['rate']:.0f}/s) "
          f"{'OK' if ok_rate else 'MISSED'}; p99 controller time <= {TARGET_P99_MS:.0f} ms: "
          f"{o['p99']:.2f} ms {'OK' if ok_p99 else 'MISSED'}; every call recorded with its outcome: "
          f"{'OK' if ok_all else 'MISSED'}")
    return ok_rate and ok_p99 and ok_all


async def main(args: argparse.Namespace) -> int:
    global CLOCK_SPEED
    CLOCK_SPEED = args.speed
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s %(message)s")
    if args.role == "emulator":
        await emulator_role(args)
        return 0
    print(f"IVR calls benchmark: DTMF-only flow, zero-length prompts, clock x{CLOCK_SPEED:g}; "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    layouts = ["split", "single"] if args.layout == "both" else [args.layout]
    ok = True
    for layout in layouts:
        with tempfile.TemporaryDirectory(prefix="sb-bench-ivr-") as tmpdir:
            result = await (split if layout == "split" else single)(args, Path(tmpdir))
        ok = report(layout, result, args) and ok
    return 0 if ok else 1


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--layout", choices=["split", "single", "both"], default="both")
    parser.add_argument("--rate", type=float, default=TARGET_RATE, help="offered new calls per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the open-loop run")
    parser.add_argument("--concurrency", type=int, default=64, help="calls in flight in the closed loop")
    parser.add_argument("--speed", type=float, default=CLOCK_SPEED, help="emulated seconds per real second")
    parser.add_argument("--role", default="main", help=argparse.SUPPRESS)
    parser.add_argument("--tmp", default="", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args(sys.argv[1:]))))
