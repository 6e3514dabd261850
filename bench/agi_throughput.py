"""FastAGI throughput and added latency: our server vs a bare asyncio line server, one process, one core.

500 concurrent sessions from sim.agi_client.FastAgiClient (a trivial responder) run N commands each (a mix of
GET VARIABLE / SET VARIABLE / STREAM FILE / NOOP).
- throughput: every session sends its commands back to back; commands/s over the whole run;
- latency: once all sessions are connected, they pace themselves to the target aggregate rate (5,000
  commands/s) and we record, per command, the time from the handler's call (send) to the typed result being
  back in the handler (reply parsed, task resumed, ready for the next command): the latency the stack adds
  on top of Asterisk's own.
The bare server does the same exchange with asyncio streams (write + readline) and no parsing, as a floor.

Run: .venv/bin/python bench/agi_throughput.py [--sessions 500] [--commands 40] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import resource
import statistics
import time
from collections.abc import Awaitable, Callable

from ivr.fastagi import AgiSession, FastAgiServer
from sim.agi_client import FastAgiClient
from switchboard.heap import freeze_startup_heap

TARGET_RATE = 5_000.0
TARGET_P99_MS = 5.0
TARGET_RATIO = 1.5

ENV = {
    "agi_network": "yes",
    "agi_network_script": "bench/run",
    "agi_request": "agi://127.0.0.1/bench/run",
    "agi_channel": "PJSIP/carrier-00000001",
    "agi_language": "en",
    "agi_type": "PJSIP",
    "agi_uniqueid": "1795397069.0",
    "agi_version": "22.11.0",
    "agi_callerid": "+15557770001",
    "agi_calleridname": "Bench Caller",
    "agi_context": "sb-ivr",
    "agi_extension": "s",
    "agi_priority": "2",
    "agi_enhanced": "0.0",
    "agi_accountcode": "",
    "agi_threadid": "1",
}

_OK = "200 result=0\n"
_VALUE = "200 result=1 (x)\n"


async def responder(command: str) -> str:
    """Asterisk answering instantly."""
    return _VALUE if command.startswith("GET") else _OK


class Run:
    """One measured run: latencies in seconds, and the pacing (None = back to back)."""

    def __init__(self, commands: int, think: float | None, sessions: int) -> None:
        self.commands = commands
        self.think = think
        self.sessions = sessions
        self.arrived = 0
        self.all_connected = asyncio.Event()
        self.latencies: list[float] = []
        self.starts: list[float] = []

    async def pause(self, i: int) -> None:
        if self.think is not None and i < self.commands - 1:
            await asyncio.sleep(self.think * random.uniform(0.8, 1.2))

    async def start(self) -> None:
        """Paced runs measure steady state: every session connected before the first command."""
        if self.think is None:
            return
        self.arrived += 1
        if self.arrived == self.sessions:
            self.all_connected.set()
        await self.all_connected.wait()
        await asyncio.sleep(random.uniform(0, self.think))  # spread the sessions' phases

    def steady_rate(self) -> float:
        """Commands/s between the 5th and 95th percentile of send times (ignores ramp-up and tail)."""
        starts = sorted(self.starts)
        lo, hi = starts[len(starts) // 20], starts[len(starts) * 19 // 20]
        return (len(starts) * 0.9) / (hi - lo)


def ours_handler(run: Run) -> Callable[[AgiSession], Awaitable[None]]:
    async def handler(session: AgiSession) -> None:
        clock = time.perf_counter
        record, mark = run.latencies.append, run.starts.append
        await run.start()
        for i in range(run.commands):
            kind = i % 4
            start = clock()
            mark(start)
            if kind == 0:
                await session.get_variable("CALLERID(num)")
            elif kind == 1:
                await session.set_variable("SB_STEP", f"step {i}")
            elif kind == 2:
                await session.stream_file("custom/menu-main", "123#")
            else:
                await session.noop()
            record(clock() - start)
            await run.pause(i)

    return handler


_BARE_COMMANDS = (
    b"GET VARIABLE CALLERID(num)\n",
    b'SET VARIABLE SB_STEP "step 1"\n',
    b'STREAM FILE custom/menu-main "123#"\n',
    b"NOOP\n",
)


def bare_handler(run: Run) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        clock = time.perf_counter
        record, mark = run.latencies.append, run.starts.append
        while (await reader.readline()).strip():
            pass
        await run.start()
        for i in range(run.commands):
            start = clock()
            mark(start)
            writer.write(_BARE_COMMANDS[i % 4])
            await reader.readline()
            record(clock() - start)
            await run.pause(i)
        writer.close()

    return handler


PREEMPTED = {"count": 0}


async def drive(port: int, sessions: int) -> tuple[float, float]:
    """Run the sessions; (wall seconds, CPU seconds of this process) — CPU time ignores stolen time."""
    clients = [FastAgiClient("127.0.0.1", port, ENV, responder) for _ in range(sessions)]
    start, cpu = time.perf_counter(), time.process_time()
    switches = resource.getrusage(resource.RUSAGE_SELF).ru_nivcsw
    await asyncio.gather(*(client.run() for client in clients))
    # Involuntary context switches: how often another process took our core (the source of p99 spikes).
    PREEMPTED["count"] = resource.getrusage(resource.RUSAGE_SELF).ru_nivcsw - switches
    return time.perf_counter() - start, time.process_time() - cpu


async def measure(
    kind: str, sessions: int, commands: int, think: float | None
) -> tuple[float, float, list[float]]:
    """(commands per wall second, commands per CPU second, latencies) for one run of "ours" or "bare".

    Back to back, the rate is over the whole run (connects included); paced, over the steady part.
    """
    run = Run(commands, think, sessions)
    gc.collect()
    if kind == "ours":
        server = FastAgiServer(lambda env: ours_handler(run), host="127.0.0.1", port=0)
        await server.start()
        try:
            elapsed = await drive(server.port, sessions)
        finally:
            await server.close()
    else:
        bare = await asyncio.start_server(bare_handler(run), "127.0.0.1", 0, backlog=1024)
        try:
            elapsed = await drive(bare.sockets[0].getsockname()[1], sessions)
        finally:
            bare.close()
            await bare.wait_closed()
    assert len(run.latencies) == sessions * commands, "some sessions did not finish"
    wall, cpu = elapsed
    rate = len(run.latencies) / wall if think is None else run.steady_rate()
    return rate, len(run.latencies) / max(cpu, 1e-9), run.latencies


def p99_ms(latencies: list[float]) -> float:
    return statistics.quantiles(latencies, n=100)[98] * 1000


async def main(sessions: int, commands: int, rounds: int, paced_seconds: float) -> int:
    print(f"FastAGI: {sessions} concurrent sessions, one core, {rounds} interleaved rounds (medians shown)")
    print(f"CPU: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} (others may share our core)")
    for kind in ("ours", "bare"):  # warm-up (first connections, code paths), not measured
        await measure(kind, sessions, 4, None)
    # What `switchboard serve` and `demo` do once started (switchboard/heap.py); applies to both servers.
    print(f"heap frozen after start-up: {freeze_startup_heap():,} objects")
    # Paced: each session issues one command per `think` seconds, so the aggregate is the target rate.
    think = sessions / TARGET_RATE
    paced_commands = max(4, int(paced_seconds / think))
    rates: dict[str, list[float]] = {"ours": [], "bare": []}
    cpu_rates: dict[str, list[float]] = {"ours": [], "bare": []}
    sat_p99: dict[str, list[float]] = {"ours": [], "bare": []}
    paced_rate: dict[str, list[float]] = {"ours": [], "bare": []}
    p50s: dict[str, list[float]] = {"ours": [], "bare": []}
    p99s: dict[str, list[float]] = {"ours": [], "bare": []}
    preempted: dict[str, list[int]] = {"ours": [], "bare": []}
    for _ in range(rounds):  # interleaved, so a noisy neighbour hurts both sides alike
        for kind in ("ours", "bare"):
            rate, cpu_rate, lat = await measure(kind, sessions, commands, None)
            rates[kind].append(rate)
            cpu_rates[kind].append(cpu_rate)
            sat_p99[kind].append(p99_ms(lat))
        for kind in ("ours", "bare"):
            rate, _cpu_rate, lat = await measure(kind, sessions, paced_commands, think)
            preempted[kind].append(PREEMPTED["count"])
            paced_rate[kind].append(rate)
            p50s[kind].append(statistics.median(lat) * 1000)
            p99s[kind].append(p99_ms(lat))

    med = statistics.median
    ratio = med(rates["bare"]) / med(rates["ours"])
    cpu_ratio = med(cpu_rates["bare"]) / med(cpu_rates["ours"])
    print(f"back to back ({commands} commands per session, connects included):")
    for kind in ("ours", "bare"):
        each = ", ".join(f"{r:,.0f}" for r in rates[kind])
        print(f"  {kind}: {med(rates[kind]):9,.0f} commands/s wall (rounds: {each}), "
              f"{med(cpu_rates[kind]):,.0f} per CPU second; p99 under saturation {med(sat_p99[kind]):.1f} ms")
    print(f"  bare/ours: {ratio:.2f}x wall clock, {cpu_ratio:.2f}x per CPU second (same client on both)")
    print(f"paced at {TARGET_RATE:,.0f} commands/s, steady state ({paced_commands} commands per session):")
    for kind in ("ours", "bare"):
        pairs = zip(p99s[kind], preempted[kind], strict=True)
        each = ", ".join(f"{p:.2f} ms ({n} preemptions)" for p, n in pairs)
        print(f"  {kind}: {med(paced_rate[kind]):6,.0f} commands/s, added latency "
              f"p50 {med(p50s[kind]):.3f} ms, p99 {med(p99s[kind]):.3f} ms")
        print(f"        p99 per round: {each}")
    ours_p99 = med(p99s["ours"])
    checks = [
        (f"throughput >= {TARGET_RATE:,.0f} commands/s", med(rates["ours"]) >= TARGET_RATE),
        (f"p99 added latency at {TARGET_RATE:,.0f}/s <= {TARGET_P99_MS} ms", ours_p99 <= TARGET_P99_MS),
        (f"within {TARGET_RATIO}x of the bare server (per CPU second)", cpu_ratio <= TARGET_RATIO),
    ]
    for label, ok in checks:
        print(f"  target {label}: {'PASS' if ok else 'MISS'}")
    return 0 if all(ok for _, ok in checks) else 1


def pin_to_one_core() -> int:
    cores = sorted(os.sched_getaffinity(0))
    core = cores[-1]
    os.sched_setaffinity(0, {core})
    return core


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=500)
    parser.add_argument("--commands", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--paced-seconds", type=float, default=4.0)
    args = parser.parse_args()
    print(f"pinned to core {pin_to_one_core()}")
    raise SystemExit(asyncio.run(main(args.sessions, args.commands, args.rounds, args.paced_seconds)))
