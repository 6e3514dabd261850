"""FastAGI throughput and added latency: our server vs a bare asyncio line server, one process, one core.

500 concurrent sessions from sim.agi_client.FastAgiClient (a trivial responder) run N commands each (a mix of
GET VARIABLE / SET VARIABLE / STREAM FILE / NOOP).
- throughput: every session sends its commands back to back; commands/s over the whole run;
- latency: sessions pace themselves to the target aggregate rate (5,000 commands/s) and we record, per command,
  the time from the handler's call (send) to the typed result being back in the handler (reply parsed, task
  resumed, ready for the next command): the latency the stack adds on top of Asterisk's own.
The bare server does the same exchange with asyncio streams (write + readline) and no parsing, as a floor.

Run: .venv/bin/python bench/agi_throughput.py [--sessions 500] [--commands 40] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import statistics
import time
from collections.abc import Awaitable, Callable

from ivr.fastagi import AgiSession, FastAgiServer
from sim.agi_client import FastAgiClient

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

    def __init__(self, commands: int, think: float | None) -> None:
        self.commands = commands
        self.think = think
        self.latencies: list[float] = []

    async def pause(self) -> None:
        if self.think is not None:
            await asyncio.sleep(self.think * random.uniform(0.5, 1.5))


def ours_handler(run: Run) -> Callable[[AgiSession], Awaitable[None]]:
    async def handler(session: AgiSession) -> None:
        clock = time.perf_counter
        record = run.latencies.append
        if run.think is not None:
            await asyncio.sleep(random.uniform(0, run.think))  # spread the sessions' phases
        for i in range(run.commands):
            kind = i % 4
            start = clock()
            if kind == 0:
                await session.get_variable("CALLERID(num)")
            elif kind == 1:
                await session.set_variable("SB_STEP", f"step {i}")
            elif kind == 2:
                await session.stream_file("custom/menu-main", "123#")
            else:
                await session.noop()
            record(clock() - start)
            await run.pause()

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
        record = run.latencies.append
        while (await reader.readline()).strip():
            pass
        if run.think is not None:
            await asyncio.sleep(random.uniform(0, run.think))
        for i in range(run.commands):
            start = clock()
            writer.write(_BARE_COMMANDS[i % 4])
            await reader.readline()
            record(clock() - start)
            await run.pause()
        writer.close()

    return handler


async def drive(port: int, sessions: int) -> float:
    clients = [FastAgiClient("127.0.0.1", port, ENV, responder) for _ in range(sessions)]
    start = time.perf_counter()
    await asyncio.gather(*(client.run() for client in clients))
    return time.perf_counter() - start


async def measure(kind: str, sessions: int, commands: int, think: float | None) -> tuple[float, list[float]]:
    """(commands per second, latencies) for one run of ``kind`` ("ours" or "bare")."""
    run = Run(commands, think)
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
    return len(run.latencies) / elapsed, run.latencies


def p99_ms(latencies: list[float]) -> float:
    return statistics.quantiles(latencies, n=100)[98] * 1000


async def main(sessions: int, commands: int, rounds: int, paced_seconds: float) -> int:
    print(f"FastAGI throughput: {sessions} concurrent sessions x {commands} commands, one core, {rounds} rounds")
    rates: dict[str, list[float]] = {"ours": [], "bare": []}
    for _ in range(rounds):
        for kind in ("ours", "bare"):
            rate, _lat = await measure(kind, sessions, commands, None)
            rates[kind].append(rate)
    ours_rate, bare_rate = statistics.median(rates["ours"]), statistics.median(rates["bare"])
    ratio = bare_rate / ours_rate

    # Paced: each session issues one command per `think` seconds, so the aggregate is the target rate.
    think = sessions / TARGET_RATE
    paced_commands = max(4, int(paced_seconds / think))
    paced: dict[str, tuple[float, list[float]]] = {}
    for kind in ("ours", "bare"):
        paced[kind] = await measure(kind, sessions, paced_commands, think)

    sat_p99 = {kind: p99_ms((await measure(kind, sessions, commands, None))[1]) for kind in ("ours", "bare")}

    print(f"  throughput ours: {ours_rate:10,.0f} commands/s   (rounds: {', '.join(f'{r:,.0f}' for r in rates['ours'])})")
    print(f"  throughput bare: {bare_rate:10,.0f} commands/s   (rounds: {', '.join(f'{r:,.0f}' for r in rates['bare'])})")
    print(f"  bare/ours ratio: {ratio:10.2f}x")
    for kind in ("ours", "bare"):
        rate, lat = paced[kind]
        print(f"  paced {kind}: {rate:8,.0f} commands/s, added latency p50 {statistics.median(lat) * 1000:.3f} ms, "
              f"p99 {p99_ms(lat):.3f} ms, max {max(lat) * 1000:.3f} ms ({len(lat):,} commands)")
    print(f"  saturated p99 (queueing of {sessions} sessions on one core, for reference): "
          f"ours {sat_p99['ours']:.1f} ms, bare {sat_p99['bare']:.1f} ms")
    ours_p99 = p99_ms(paced["ours"][1])
    checks = [
        (f"throughput >= {TARGET_RATE:,.0f} commands/s", ours_rate >= TARGET_RATE),
        (f"p99 added latency at {TARGET_RATE:,.0f} commands/s <= {TARGET_P99_MS} ms", ours_p99 <= TARGET_P99_MS),
        (f"within {TARGET_RATIO}x of the bare server", ratio <= TARGET_RATIO),
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
