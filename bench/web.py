"""Wallboard benchmarks: event-to-browser latency over SSE, and the wallboard API under load.

    .venv/bin/python bench/web.py

Runs a whole controller (emulated Asterisk, real Redis at 127.0.0.1:6379 db 11, SQLite) on loopback.
Latency is from the ACD event's XADD (the time in its stream id) to the SSE frame carrying it arriving in an
HTTP client, while calls are enqueued at 200 per minute. Transcription throughput: bench/transcription.py.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from switchboard.ids import new_id
from switchboard.users.model import Role
from switchboard.web.pages.live import event_millis
from tests.acd.conftest import request
from tests.web.pages.pages_harness import start_controller_server

REDIS = "redis://127.0.0.1:6379/11"
CALLS_PER_MINUTE = 200
LOAD_SECONDS = 30
API_RATE = 100
API_SECONDS = 10


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = start_controller_server(Path(tmp), REDIS)
        try:
            boss = server.users[Role.SUPERVISOR]
            latencies: list[float] = []
            seen: set[str] = set()
            stop = threading.Event()

            def listen() -> None:
                headers = {**boss.bearer, "accept": "text/event-stream"}
                with (
                    httpx.Client(base_url=server.url, timeout=30) as client,
                    client.stream("GET", "/api/wallboard", headers=headers) as stream,
                ):
                    for line in stream.iter_lines():
                        if stop.is_set():
                            return
                        if line.startswith("data:") and '"event_id":"' in line:
                            event_id = line.split('"event_id":"', 1)[1].split('"', 1)[0]
                            sent = event_millis(event_id)
                            # A heartbeat frame repeats the last event's id: only its first frame counts.
                            if sent and event_id not in seen:
                                seen.add(event_id)
                                latencies.append(time.time() * 1000 - sent)

            listener = threading.Thread(target=listen, daemon=True)
            listener.start()
            time.sleep(1.0)
            latencies.clear()
            gap = 60 / CALLS_PER_MINUTE
            queues = ["billing", "support", "sales"]
            started = time.monotonic()
            n = 0
            while time.monotonic() - started < LOAD_SECONDS:
                q = queues[n % 3]
                server.run(server.ctl.acd.enqueue(request(f"b-{new_id()[-12:]}", queue=q, skill=q)))
                n += 1
                time.sleep(max(0.0, started + n * gap - time.monotonic()))
            time.sleep(2.5)
            stop.set()
            print(
                f"wallboard event-to-client latency at {CALLS_PER_MINUTE} calls/min over {LOAD_SECONDS}s "
                f"({n} calls, {len(latencies)} frames): p50 {pct(latencies, 0.5):.0f} ms, "
                f"p95 {pct(latencies, 0.95):.0f} ms, max {max(latencies or [0]):.0f} ms"
                " (target p95 <= 1000 ms)"
            )

            # The load comes from another process: in this one it would share the GIL with the server.
            token = boss.bearer["authorization"]
            done = subprocess.run(
                [sys.executable, __file__, "--api-load", server.url, token],
                capture_output=True, text=True, timeout=API_SECONDS + 60, check=True,
            )
            api = json.loads(done.stdout)
            print(
                f"wallboard API at {API_RATE} req/s for {API_SECONDS}s ({len(api)} requests, "
                f"{n} calls queued): p50 {statistics.median(api):.1f} ms, p99 {pct(api, 0.99):.1f} ms "
                f"(target p99 <= 50 ms)"
            )
            print("transcription throughput: run bench/transcription.py (audio hours per CPU hour)")
        finally:
            server.stop()


async def _get(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> bool:
    """One GET on a kept-alive connection; True for a complete 200 response."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    await reader.readexactly(length)
    return head.startswith(b"HTTP/1.1 200")


async def api_load(url: str, authorization: str) -> list[float]:
    """GET the wallboard JSON at API_RATE per second for API_SECONDS; each request's time in ms.

    A minimal HTTP/1.1 client on kept-alive connections (like wrk): an HTTP library's own overhead in the
    load generator would be measured as the server's.
    """
    host, port = url.removeprefix("http://").split(":")
    request = (
        f"GET /api/wallboard HTTP/1.1\r\nhost: {host}:{port}\r\nauthorization: {authorization}\r\n"
        "accept: application/json\r\n\r\n"
    ).encode()
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    out: list[float] = []

    async def one() -> None:
        t0 = time.perf_counter()
        conn = idle.pop() if idle else await asyncio.open_connection(host, int(port))
        try:
            ok = await asyncio.wait_for(_get(*conn, request), 10)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            ok = False
            conn[1].close()
        else:
            idle.append(conn)
        # A failed or timed-out request counts as the 10 s timeout: it must not flatter p99.
        out.append((time.perf_counter() - t0) * 1000 if ok else 10_000.0)

    idle.append(await asyncio.open_connection(host, int(port)))
    tasks = []
    t_start = time.perf_counter()
    for i in range(API_RATE * API_SECONDS):
        await asyncio.sleep(max(0.0, t_start + i / API_RATE - time.perf_counter()))
        tasks.append(asyncio.create_task(one()))
    await asyncio.gather(*tasks)
    for _, writer in idle:
        writer.close()
    return out


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--api-load":
        print(json.dumps(asyncio.run(api_load(sys.argv[2], sys.argv[3]))))
    else:
        main()
