"""AMI ingest benchmark: golden events over loopback TCP into AmiClient, one subscriber draining.

Prints events/s through the whole client (socket -> framing -> typed events -> bounded queue ->
consumer), the event-loop lag seen by a ticker task meanwhile, and the ratio to a bare parse of the
same bytes (parser + typed events, no socket). Asterisk is played by a child process so that the
client has its own core. Run: ``.venv/bin/python bench/ami_ingest.py [events]``.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import socket
import statistics
import sys
import time
from multiprocessing.connection import Connection
from pathlib import Path

from ami.client import AmiClient
from ami.connection import PARSE_SLICE, AmiConnection
from ami.events import RESYNC_EVENT, parse_event
from ami.protocol import AmiParser
from switchboard.clock import SystemClock

GOLDEN = Path(__file__).resolve().parents[2] / "shared" / "asterisk-golden" / "ami"
TARGET_RATE = 20_000
TARGET_LAG_MS = 20.0
TICK = 0.005
CHUNK = 65536


def golden_event_block() -> tuple[bytes, int]:
    """Every call/device event Asterisk sent in the golden transcripts, as one byte string."""
    events: list[bytes] = []
    for path in sorted(GOLDEN.glob("*.ami.txt")):
        data = b""
        for line in path.read_text("ascii").splitlines():
            if not line.strip():
                continue
            _at, direction, text = line.strip().split(" ", 2)
            if direction == "<<<":
                data += bytes(text, "ascii").decode("unicode_escape").encode("latin-1")
        for block in data.split(b"\r\n\r\n"):
            block = block.lstrip(b"\r\n")
            # Session-life events would make the client resynchronise or expect a restart.
            session_life = block.startswith((b"Event: FullyBooted", b"Event: Shutdown"))
            if block.startswith(b"Event: ") and not session_life:
                events.append(block + b"\r\n\r\n")
    return b"".join(events), len(events)


def _read_action(sock: socket.socket, buf: bytearray) -> dict[str, str]:
    while b"\r\n\r\n" not in buf:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("client went away")
        buf += data
    end = buf.index(b"\r\n\r\n")
    block = bytes(buf[:end]).decode()
    del buf[: end + 4]
    return dict(line.split(": ", 1) for line in block.split("\r\n") if ": " in line)


def fake_asterisk(block: bytes, repeats: int, pipe: Connection) -> None:
    """A blocking AMI server: banner, login, an empty channel list, then the events as fast as TCP goes."""
    server = socket.create_server(("127.0.0.1", 0))
    pipe.send(server.getsockname()[1])
    sock, _ = server.accept()
    buf = bytearray()
    sock.sendall(b"Asterisk Call Manager/11.0.0\r\n")
    login = _read_action(sock, buf)
    sock.sendall(
        f"Response: Success\r\nActionID: {login['ActionID']}\r\nMessage: Authentication accepted\r\n\r\n"
        "Event: FullyBooted\r\nPrivilege: system,all\r\nUptime: 1\r\nLastReload: 1\r\n"
        "Status: Fully Booted\r\n\r\n".encode()
    )
    listing = _read_action(sock, buf)
    sock.sendall(
        f"Response: Success\r\nActionID: {listing['ActionID']}\r\nEventList: start\r\n"
        "Message: Channels will follow\r\n\r\n"
        f"Event: CoreShowChannelsComplete\r\nActionID: {listing['ActionID']}\r\nEventList: Complete\r\n"
        "ListItems: 0\r\n\r\n".encode()
    )
    pipe.recv()  # the client is ready and its ticker runs
    pieces = [block[i : i + CHUNK] for i in range(0, len(block), CHUNK)]
    for _ in range(repeats):
        for piece in pieces:
            sock.sendall(piece)
    try:
        logoff = _read_action(sock, buf)
        sock.sendall(f"Response: Goodbye\r\nActionID: {logoff['ActionID']}\r\n\r\n".encode())
    except ConnectionError:
        pass
    sock.close()
    server.close()


def bare_parse(block: bytes, repeats: int) -> tuple[int, float]:
    """Parser + typed events alone, same bytes and chunk size."""
    pieces = [block[i : i + CHUNK] for i in range(0, len(block), CHUNK)]
    parser = AmiParser(expect_banner=False)
    count = 0
    started = time.perf_counter()
    for _ in range(repeats):
        for piece in pieces:
            for message in parser.feed(piece):
                parse_event(message, 0.0)
                count += 1
    return count, time.perf_counter() - started


class Ticker:
    """Measures how late a 5 ms sleep wakes up: the event-loop lag other tasks would see."""

    def __init__(self) -> None:
        self.wall: list[float] = []
        self.running = True

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while self.running:
            before = loop.time()
            await asyncio.sleep(TICK)
            self.wall.append(max(0.0, loop.time() - before - TICK))


class ReaderTimer:
    """Wraps the reader's loop callback to record how long each one holds the loop (CPU time).

    Wall-clock lag on a shared machine also counts time the OS gave the core to other processes;
    this is the part the AMI client itself is responsible for.
    """

    def __init__(self) -> None:
        self.durations: list[float] = []
        self._original = AmiConnection._parse_some

    def install(self) -> None:
        original, durations = self._original, self.durations

        def timed(conn: AmiConnection, budget: int = PARSE_SLICE) -> None:
            started = time.thread_time()
            original(conn, budget)
            durations.append(time.thread_time() - started)

        AmiConnection._parse_some = timed  # type: ignore[method-assign]

    def remove(self) -> None:
        AmiConnection._parse_some = self._original  # type: ignore[method-assign]


def summary(lags: list[float]) -> tuple[float, float, float]:
    """max, p99, median in milliseconds."""
    ms = sorted(lag * 1000 for lag in lags) or [0.0]
    return ms[-1], ms[min(len(ms) - 1, int(len(ms) * 0.99))], statistics.median(ms)


async def idle_lag(seconds: float = 1.0) -> Ticker:
    """The machine's own noise: the same ticker with nothing else running."""
    ticker = Ticker()
    task = asyncio.create_task(ticker.run())
    await asyncio.sleep(seconds)
    ticker.running = False
    await task
    return ticker


async def through_client(port: int, expected: int, pipe: Connection) -> tuple[float, Ticker, Ticker]:
    client = AmiClient(
        host="127.0.0.1",
        port=port,
        username="bench",
        secret="bench",
        clock=SystemClock(),
        keepalive_interval=None,
        queue_size=10_000,
    )
    sub = client.subscribe()
    await client.start()
    await client.wait_ready(timeout=10)
    baseline = await idle_lag()
    ticker = Ticker()
    tick_task = asyncio.create_task(ticker.run())
    pipe.send("go")
    count = 0
    started = 0.0
    async for event in sub:
        if event.name == RESYNC_EVENT or event.name == "FullyBooted":
            continue
        if count == 0:
            started = time.perf_counter()
        count += 1
        if count == expected:
            break
    elapsed = time.perf_counter() - started
    ticker.running = False
    await tick_task
    dropped = sub.total_dropped
    await client.close()
    if dropped:
        print(f"note: the draining subscriber fell behind and dropped {dropped} events")
    return elapsed, ticker, baseline


def main() -> None:
    wanted = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    block, per_block = golden_event_block()
    repeats = max(1, wanted // per_block)
    total = repeats * per_block
    print(f"golden events: {per_block} distinct, {len(block) / per_block:.0f} bytes each on average")
    print(f"replaying {total} events ({len(block) * repeats / 1e6:.1f} MB) over loopback TCP")

    load_before = os.getloadavg()[0]
    parsed, parse_seconds = bare_parse(block, repeats)
    bare_rate = parsed / parse_seconds

    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe()
    server = ctx.Process(target=fake_asterisk, args=(block, repeats, child), daemon=True)
    server.start()
    try:
        port = parent.recv()
        reader = ReaderTimer()
        reader.install()
        elapsed, ticker, baseline = asyncio.run(through_client(port, total, parent))
    finally:
        reader.remove()
        server.join(timeout=10)
        if server.is_alive():
            server.kill()
    rate = total / elapsed
    wall_max, wall_p99, wall_median = summary(ticker.wall)
    cpu_max, cpu_p99, _ = summary(reader.durations)
    idle_max, idle_p99, _ = summary(baseline.wall)
    load_after = os.getloadavg()[0]
    print(f"load average before/after: {load_before:.1f} / {load_after:.1f} on {os.cpu_count()} cores")
    print(f"bare parse (parser + typed events, no socket): {bare_rate:,.0f} events/s")
    print(
        f"through AmiClient (TCP, dispatch, 1 subscriber): {rate:,.0f} events/s "
        f"[target >= {TARGET_RATE:,}] {'OK' if rate >= TARGET_RATE else 'MISSED'}"
    )
    print(f"client / bare parse ratio: {rate / bare_rate:.2f}")
    print(
        f"event-loop lag during ingest ({len(ticker.wall)} ticks of {TICK * 1000:.0f} ms): "
        f"max {wall_max:.1f} ms, p99 {wall_p99:.1f} ms, median {wall_median:.1f} ms "
        f"[target max <= {TARGET_LAG_MS:.0f} ms] {'OK' if wall_max <= TARGET_LAG_MS else 'MISSED'}"
    )
    print(
        f"  AMI reader callbacks ({len(reader.durations)}, {PARSE_SLICE // 1024} KiB each): "
        f"longest {cpu_max:.2f} ms of CPU, p99 {cpu_p99:.2f} ms"
    )
    print(f"  idle loop just before (machine noise floor): max {idle_max:.1f} ms, p99 {idle_p99:.1f} ms")


if __name__ == "__main__":
    main()
