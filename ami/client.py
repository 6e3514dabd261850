"""AmiClient: one logged-in AMI session kept alive, typed events fanned out to bounded subscriptions.

Lifecycle: ``start()`` connects and logs in once (raising AmiConnectionError/AmiAuthError), then a
supervisor task owns the session. Each ``FullyBooted`` (sent at every login, and when Asterisk finishes
booting) makes the client not ready, re-read live channels with ``CoreShowChannels``, hand them to the
``on_resync`` callbacks and to every subscription (as a :class:`ResyncEvent`), and only then become
ready again. ``Shutdown`` marks it not ready; when the socket drops, the supervisor reconnects with
capped exponential backoff (on the injected Clock) and logs in again. A Ping keepalive detects a
silently dead socket. Every action has a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING

from ami.actions import AmiActions
from ami.backoff import Backoff
from ami.connection import AmiConnection
from ami.errors import AmiActionError, AmiAuthError, AmiConnectionError, AmiError, AmiTimeout
from ami.events import AmiEvent, AmiResponse, CoreShowChannel
from ami.protocol import DEFAULT_MAX_MESSAGE_BYTES, encode_action
from ami.subscription import REASON_FULLY_BOOTED, REASON_OVERFLOW, EventSubscription
from ami.timing import wait_with_timeout
from switchboard.clock import Clock
from switchboard.ids import new_id

if TYPE_CHECKING:
    from switchboard.settings import AmiSettings

__all__ = ["AmiClient", "AmiResponse", "EventSubscription", "ResyncCallback"]

log = logging.getLogger(__name__)

ResyncCallback = Callable[[list[AmiEvent]], Awaitable[None]]
BOOT_WARNING_AFTER = 30.0  # seconds after login without FullyBooted before we say so in the log


class AmiClient(AmiActions):
    """The controller's AMI connection: actions with timeouts, typed events, resync after each boot."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        username: str,
        secret: str,
        clock: Clock,
        action_timeout: float = 5.0,
        connect_timeout: float = 5.0,
        reconnect_initial: float = 0.5,
        reconnect_max: float = 30.0,
        queue_size: int = 10000,
        keepalive_interval: float | None = 20.0,
        reconnect_jitter: float = 0.1,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    ) -> None:
        self.host = host
        self.port = port
        self.username = username
        self._secret = secret
        self._clock = clock
        self._action_timeout = action_timeout
        self._connect_timeout = connect_timeout
        self._queue_size = queue_size
        self._keepalive_interval = keepalive_interval
        self._max_message_bytes = max_message_bytes
        self._backoff = Backoff(reconnect_initial, reconnect_max, jitter=reconnect_jitter)
        self._ids = itertools.count(1)
        self._id_prefix = new_id()[-6:].lower()
        self._conn: AmiConnection | None = None
        self._runner: asyncio.Task[None] | None = None
        self._closing = False
        self._ready = False
        self._ready_event = asyncio.Event()
        self._resync_wanted = asyncio.Event()
        self._resync_reason: str | None = None
        self._boots = 0  # FullyBooted events seen; a resync only makes us ready if none came since
        self._subscriptions: list[EventSubscription] = []
        self._resync_callbacks: list[ResyncCallback] = []

    @classmethod
    def from_settings(cls, settings: AmiSettings, clock: Clock) -> AmiClient:
        """Build from the ``[ami]`` settings section (the composition root's one-liner)."""
        return cls(
            host=settings.host,
            port=settings.port,
            username=settings.username,
            secret=settings.secret.get_secret_value(),
            clock=clock,
            action_timeout=settings.action_timeout,
            connect_timeout=settings.connect_timeout,
            reconnect_initial=settings.reconnect_initial,
            reconnect_max=settings.reconnect_max,
            queue_size=settings.event_queue_size,
        )

    def __repr__(self) -> str:
        return f"AmiClient({self.peer} user={self.username!r} state={self.state})"

    @property
    def peer(self) -> str:
        """``host:port`` of Asterisk."""
        return f"{self.host}:{self.port}"

    @property
    def ready(self) -> bool:
        """Logged in and resynchronised after the last FullyBooted."""
        # The socket may have dropped a moment before the supervisor noticed.
        return self._ready and self._conn is not None and self._conn.is_open

    @property
    def state(self) -> str:
        """``new``, ``connecting``, ``logged_in``, ``ready`` or ``closed`` (for health checks and logs)."""
        if self._closing:
            return "closed"
        if self.ready:
            return "ready"
        if self._conn is not None:
            return "logged_in"
        return "connecting" if self._runner is not None else "new"

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect and log in; raises AmiConnectionError or AmiAuthError (one line, never the secret)."""
        if self._runner is not None or self._closing:
            raise RuntimeError("AmiClient.start() may be called once")
        conn = await self._open_session()
        self._runner = asyncio.create_task(self._supervise(conn), name=f"ami-supervisor {self.peer}")

    async def close(self) -> None:
        """Log off, stop reconnecting, end every subscription."""
        if self._closing:
            return
        self._closing = True
        self._set_not_ready()
        conn = self._conn
        if conn is not None and conn.is_open:
            with contextlib.suppress(AmiError):
                await conn.send("Logoff", action_id=self._next_id(), timeout=min(self._action_timeout, 2.0))
            conn.close()
        if self._runner is not None:
            self._runner.cancel()
            await asyncio.gather(self._runner, return_exceptions=True)
        for sub in list(self._subscriptions):
            sub._close_from_client()
        self._subscriptions.clear()
        log.info("ami client closed peer=%s", self.peer)

    async def wait_ready(self, timeout: float) -> None:  # noqa: ASYNC109 (Clock-driven)
        """Return once ready; AmiTimeout after ``timeout`` seconds of the client's clock."""
        if self._closing:
            raise AmiConnectionError(f"AMI client for {self.peer} is closed")
        deadline = self._clock.monotonic() + timeout
        try:
            while not self.ready:
                if self._closing:
                    raise AmiConnectionError(f"AMI client for {self.peer} is closed")
                remaining = deadline - self._clock.monotonic()
                if remaining <= 0:
                    raise TimeoutError
                # The event can be set by a connection that dropped right after: check again.
                await wait_with_timeout(self._ready_event.wait(), remaining, self._clock)
                if not self.ready:
                    await asyncio.sleep(0)
        except TimeoutError:
            raise AmiTimeout(
                f"AMI at {self.peer} not ready within {timeout:g} s (state {self.state})"
            ) from None

    # -- events ----------------------------------------------------------------------------------

    def subscribe(self, names: Iterable[str] | None = None, maxsize: int | None = None) -> EventSubscription:
        """A bounded queue of events (all, or only ``names``); resync markers are always delivered."""
        sub = EventSubscription(
            frozenset(names) if names is not None else None,
            maxsize or self._queue_size,
            request_resync=lambda: self._request_resync(REASON_OVERFLOW),
            on_close=self._forget,
        )
        if self._closing:
            sub._close_from_client()
        else:
            self._subscriptions.append(sub)
        return sub

    def on_resync(self, callback: ResyncCallback) -> None:
        """Call ``callback(channels)`` after each resync with the live CoreShowChannel events."""
        self._resync_callbacks.append(callback)

    def _forget(self, sub: EventSubscription) -> None:
        if sub in self._subscriptions:
            self._subscriptions.remove(sub)

    def _dispatch(self, event: AmiEvent) -> None:
        # Runs inside the socket reader for every event: no awaits, bounded work per subscriber.
        name = event.name
        if name == "FullyBooted":
            self._boots += 1
            self._set_not_ready()
            log.info(
                "ami asterisk fully booted peer=%s uptime=%s; resynchronising channels",
                self.peer,
                event.get("Uptime"),
            )
            self._request_resync(REASON_FULLY_BOOTED)
        elif name == "Shutdown":
            self._set_not_ready()
            log.warning(
                "ami asterisk shutting down peer=%s shutdown=%s restart=%s; will reconnect",
                self.peer,
                event.get("Shutdown"),
                event.get("Restart"),
            )
        for sub in self._subscriptions:
            sub._offer(event)

    # -- actions ---------------------------------------------------------------------------------

    async def action(
        self,
        name: str,
        fields: Mapping[str, str] | None = None,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 (measured on the injected Clock)
        variables: Mapping[str, str] | None = None,
    ) -> AmiResponse:
        """Send an action; AmiActionError on an error response, AmiTimeout, AmiConnectionError."""
        return await self._action(name, fields, timeout=timeout, variables=variables)

    async def _action(
        self,
        name: str,
        fields: Mapping[str, str] | None = None,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 (measured on the injected Clock)
        variables: Mapping[str, str] | None = None,
        action_id: str | None = None,
    ) -> AmiResponse:
        action_id = action_id or self._next_id()
        encode_action(name, action_id, fields, variables)  # ValueError even while disconnected
        conn = self._conn
        if conn is None or not conn.is_open:
            raise AmiConnectionError(f"not connected to AMI at {self.peer} (state {self.state})")
        response = await conn.send(
            name,
            fields,
            action_id=action_id,
            timeout=self._action_timeout if timeout is None else timeout,
            variables=variables,
        )
        if not response.success:
            raise AmiActionError(name, response)
        return response

    def _next_id(self) -> str:
        return f"sb-{self._id_prefix}-{next(self._ids)}"

    # -- session supervision ---------------------------------------------------------------------

    async def _open_session(self) -> AmiConnection:
        conn = AmiConnection(
            self.host,
            self.port,
            clock=self._clock,
            on_event=self._dispatch,
            max_message_bytes=self._max_message_bytes,
        )
        await conn.open(self._connect_timeout)
        try:
            response = await conn.send(
                "Login",
                {"Username": self.username, "Secret": self._secret},
                action_id=self._next_id(),
                timeout=self._action_timeout,
            )
        except AmiTimeout:
            conn.close()
            raise AmiConnectionError(
                f"AMI at {self.peer} did not answer the login of user {self.username!r} "
                f"within {self._action_timeout:g} s"
            ) from None
        except BaseException:
            conn.close()
            raise
        if not response.success:
            conn.close()
            raise AmiAuthError(
                f"AMI login to {self.peer} as user {self.username!r} refused: "
                f"{response.message or response.status}"
            )
        self._conn = conn
        log.info("ami logged in peer=%s user=%s banner=%r", self.peer, self.username, conn.banner)
        return conn

    async def _supervise(self, conn: AmiConnection | None) -> None:
        while not self._closing:
            if conn is None:
                conn = await self._reconnect()
            try:
                await self._serve(conn)
            except Exception:
                log.exception("ami session failed peer=%s", self.peer)
            finally:
                conn.close()
                self._conn = None
                self._set_not_ready()
                self._resync_wanted.clear()
                self._resync_reason = None
            if not self._closing:
                log.warning("ami connection lost peer=%s; reconnecting", self.peer)
            conn = None

    async def _reconnect(self) -> AmiConnection:
        while True:
            delay = self._backoff.next_delay()
            log.info(
                "ami reconnect scheduled peer=%s attempt=%d delay=%.2fs",
                self.peer,
                self._backoff.attempts,
                delay,
            )
            await self._clock.sleep(delay)
            try:
                return await self._open_session()
            except AmiAuthError as exc:
                log.error("ami reconnect refused attempt=%d: %s", self._backoff.attempts, exc)
            except AmiConnectionError as exc:
                log.warning("ami reconnect failed attempt=%d: %s", self._backoff.attempts, exc)
            except Exception:
                log.exception("ami reconnect crashed peer=%s attempt=%d", self.peer, self._backoff.attempts)

    async def _serve(self, conn: AmiConnection) -> None:
        tasks = [asyncio.create_task(self._resync_loop(conn), name=f"ami-resync {self.peer}")]
        if self._keepalive_interval:
            tasks.append(asyncio.create_task(self._keepalive_loop(conn), name=f"ami-keepalive {self.peer}"))
        try:
            await conn.wait_closed()
        finally:
            for task in tasks:
                task.cancel()
            for result in await asyncio.gather(*tasks, return_exceptions=True):
                if isinstance(result, Exception):
                    log.error("ami session task failed peer=%s error=%r", self.peer, result)

    def _request_resync(self, reason: str) -> None:
        if self._resync_reason != REASON_FULLY_BOOTED:
            self._resync_reason = reason
        self._resync_wanted.set()

    async def _resync_loop(self, conn: AmiConnection) -> None:
        try:
            await wait_with_timeout(self._resync_wanted.wait(), BOOT_WARNING_AFTER, self._clock)
        except TimeoutError:
            log.warning(
                "ami logged in but no FullyBooted after %gs peer=%s; Asterisk may still be booting, "
                "or the AMI user lacks read=system (needed for FullyBooted and Shutdown)",
                BOOT_WARNING_AFTER,
                self.peer,
            )
        while True:
            await self._resync_wanted.wait()
            self._resync_wanted.clear()
            reason = self._resync_reason or REASON_OVERFLOW
            self._resync_reason = None
            try:
                await self._resync(conn, reason)
            except AmiError as exc:
                log.error(
                    "ami resync failed peer=%s reason=%s: %s; dropping the connection", self.peer, reason, exc
                )
                conn.close()
                return

    async def _resync(self, conn: AmiConnection, reason: str) -> None:
        boots = self._boots

        def at_snapshot(response: AmiResponse) -> None:
            # Runs in the reader right at CoreShowChannelsComplete, so each marker sits exactly
            # between the events older and newer than the snapshot.
            received_at = self._clock.monotonic()
            channels = tuple(e for e in response.events if isinstance(e, CoreShowChannel))
            for sub in list(self._subscriptions):
                sub._deliver_resync(reason, channels, received_at)

        response = await conn.send(
            "CoreShowChannels",
            action_id=self._next_id(),
            timeout=self._action_timeout,
            on_complete=at_snapshot,
        )
        if not response.success:
            raise AmiActionError("CoreShowChannels", response)
        channels: list[AmiEvent] = [e for e in response.events if isinstance(e, CoreShowChannel)]
        log.info(
            "ami channels resynchronised peer=%s reason=%s channels=%d", self.peer, reason, len(channels)
        )
        for callback in list(self._resync_callbacks):
            try:
                await callback(list(channels))
            except Exception:
                log.exception("ami on_resync callback failed peer=%s callback=%r", self.peer, callback)
        if reason == REASON_FULLY_BOOTED and boots == self._boots and conn.is_open and not self._closing:
            self._ready = True
            self._ready_event.set()
            # Only a session that got this far resets the backoff: a server that accepts logins and
            # then drops us straight away keeps being retried ever more slowly.
            self._backoff.reset()
            log.info("ami ready peer=%s", self.peer)

    async def _keepalive_loop(self, conn: AmiConnection) -> None:
        interval = self._keepalive_interval or 0.0
        while True:
            await self._clock.sleep(interval)
            try:
                await conn.send("Ping", action_id=self._next_id(), timeout=self._action_timeout)
            except AmiTimeout:
                log.warning(
                    "ami keepalive got no Pong peer=%s within=%gs; dropping the connection",
                    self.peer,
                    self._action_timeout,
                )
                conn.close()
                return
            except AmiConnectionError:
                return

    def _set_not_ready(self) -> None:
        self._ready = False
        self._ready_event.clear()
