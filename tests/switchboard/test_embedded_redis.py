"""Redis: the embedded server starts, answers, keeps its data and stops; a bad Redis is one clear line."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
import redis

from switchboard.errors import RedisUnavailableError
from switchboard.redis_server import EmbeddedRedis, _alive, open_redis
from switchboard.settings import load_settings


def test_embedded_redis_starts_answers_ping_and_stops(tmp_path: Path) -> None:
    with EmbeddedRedis(tmp_path / "var") as server:
        pid = server._server.pid
        client = redis.Redis(unix_socket_path=server.socket_path)
        assert client.ping() is True
        client.close()
        assert server.socket_path.endswith(".socket")
    assert not server.running
    assert not _alive(pid)
    assert (tmp_path / "var" / "redis").is_dir()


def test_embedded_redis_keeps_data_across_restarts(tmp_path: Path) -> None:
    with EmbeddedRedis(tmp_path) as server:
        client = redis.Redis(unix_socket_path=server.socket_path)
        client.set("sb:agent:101", "ready")
        client.close()
    assert (tmp_path / "redis" / "switchboard.rdb").is_file()
    with EmbeddedRedis(tmp_path) as server:
        client = redis.Redis(unix_socket_path=server.socket_path)
        assert client.get("sb:agent:101") == b"ready"
        client.close()


def test_embedded_redis_that_cannot_start_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "var"
    blocker.write_text("a file where the directory should be")
    with pytest.raises(RedisUnavailableError) as caught:
        EmbeddedRedis(blocker).start()
    message = str(caught.value)
    assert message.startswith(f"cannot start the embedded Redis server under {blocker / 'redis'}")
    assert "SWITCHBOARD_REDIS_URL" in message
    assert "\n" not in message


async def test_open_redis_without_url_uses_embedded_server_and_closer_stops_it(tmp_path: Path) -> None:
    settings = load_settings(general={"var_dir": tmp_path / "var"})
    client, close = await open_redis(settings, decode_responses=True)
    try:
        assert await client.ping() is True
        await client.set("k", "v")
        assert await client.get("k") == "v"
        info = await client.info("server")
        pid = int(info["process_id"])
    finally:
        await close()
    assert not _alive(pid)


async def test_open_redis_with_configured_url_connects(redis_url: str) -> None:
    settings = load_settings(redis={"url": redis_url})
    client, close = await open_redis(settings)
    try:
        assert await client.ping() is True
    finally:
        await close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_unreachable_configured_redis_is_one_line_without_password() -> None:
    url = f"redis://:pw-abcdef@127.0.0.1:{_free_port()}/0"
    settings = load_settings(redis={"url": url, "connect_timeout": 1})
    with pytest.raises(RedisUnavailableError) as caught:
        await open_redis(settings)
    message = str(caught.value)
    assert message.startswith("cannot connect to Redis at redis://:********@127.0.0.1:")
    assert "pw-abcdef" not in message
    assert "\n" not in message


async def test_bad_redis_url_is_one_line() -> None:
    settings = load_settings(redis={"url": "http://cache.example"})
    with pytest.raises(RedisUnavailableError, match="bad Redis URL"):
        await open_redis(settings)


def test_alive_reports_this_process_and_not_a_finished_one() -> None:
    assert _alive(os.getpid())
    pid = os.fork()
    if pid == 0:  # child: leave at once
        os._exit(0)
    os.waitpid(pid, 0)
    assert not _alive(pid)
