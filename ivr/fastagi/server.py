"""The FastAGI server: accepts Asterisk's connections and runs one handler task per call, plus the Router."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine, Mapping
from typing import Any

from ivr.fastagi.connection import AgiConnection, AgiHandler, AgiRoute, ConnectionConfig
from ivr.fastagi.environment import AgiEnvironment
from switchboard.clock import Clock, SystemClock

log = logging.getLogger(__name__)

__all__ = ["AgiHandler", "AgiRoute", "FastAgiServer", "Router"]


class Router:
    """Maps the first segment of agi_network_script to a handler (``ivr/main`` -> ``ivr``, rest ``main``)."""

    def __init__(self, routes: Mapping[str, AgiHandler] | None = None) -> None:
        self._routes: dict[str, AgiHandler] = dict(routes or {})

    def add(self, name: str, handler: AgiHandler) -> None:
        """Register ``handler`` for scripts whose first segment is ``name``."""
        if not name or "/" in name:
            raise ValueError(f"route name must be one path segment, got {name!r}")
        if name in self._routes:
            raise ValueError(f"route {name!r} already registered")
        self._routes[name] = handler

    def __call__(self, env: AgiEnvironment) -> AgiHandler | None:
        return self._routes.get(env.route)


class FastAgiServer:
    """Listens for Asterisk's FastAGI connections; one task per call, isolated from every other call."""

    def __init__(self, route: AgiRoute, *, host: str, port: int, max_header_bytes: int = 65536,
                 header_timeout: float = 5.0, command_timeout: float = 3600.0, clock: Clock | None = None,
                 max_reply_bytes: int = 65536, backlog: int = 1024) -> None:
        self._route = route
        self._host = host
        self._port = port
        self._max_header_bytes = max_header_bytes
        self._max_reply_bytes = max_reply_bytes
        self._header_timeout = header_timeout
        self._command_timeout = command_timeout
        self._clock: Clock = clock or SystemClock()
        self._backlog = backlog
        self._server: asyncio.Server | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._connections: set[AgiConnection] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        # Timeouts are enforced by one periodic sweep, not a timer per command: cheaper, and on the clock.
        self._sweep_interval = max(0.01, min(1.0, header_timeout / 4, command_timeout / 4))

    @property
    def port(self) -> int:
        """The bound port (useful when constructed with port 0)."""
        if self._server is None or not self._server.sockets:
            raise RuntimeError("FastAGI server not started")
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def active_sessions(self) -> int:
        """Handler tasks currently running."""
        return len(self._tasks)

    async def start(self) -> None:
        """Bind and start accepting connections."""
        if self._server is not None:
            raise RuntimeError("FastAGI server already started")
        config = ConnectionConfig(
            route=self._route,
            max_header_bytes=self._max_header_bytes,
            max_reply_bytes=self._max_reply_bytes,
            header_timeout=self._header_timeout,
            command_timeout=self._command_timeout,
            clock=self._clock,
            spawn=self._spawn,
            forget=self._connections.discard,
        )

        def factory() -> AgiConnection:
            connection = AgiConnection(config)
            self._connections.add(connection)
            return connection

        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(factory, self._host, self._port, backlog=self._backlog)
        self._sweeper = loop.create_task(self._sweep(), name="fastagi-timeouts")
        log.info("fastagi listening host=%s port=%d", self._host, self.port)

    async def close(self) -> None:
        """Stop accepting, drop live calls (AGISTATUS=FAILURE for them), cancel and await their handlers."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        for connection in list(self._connections):
            connection.abort()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()
        log.info("fastagi closed")

    async def _sweep(self) -> None:
        clock = self._clock
        while True:
            await clock.sleep(self._sweep_interval)
            now = clock.monotonic()
            for connection in list(self._connections):
                try:
                    connection.check_deadlines(now)
                except Exception:
                    log.exception("agi timeout check failed call_id=%s", connection.call_id)

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("agi session task crashed task=%s", task.get_name(), exc_info=task.exception())
