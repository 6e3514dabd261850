"""One FastAGI TCP connection as an asyncio Protocol: environment, line dispatch, replies, HANGUP, limits.

Reading is event-driven (``data_received``), so an asynchronous ``HANGUP`` is seen the moment it arrives, even
while the handler is busy elsewhere, and is never taken as a reply. A line longer than the limit is refused as
soon as the buffered part passes the limit, without reading the rest.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, cast

from ivr.fastagi.environment import AgiEnvironment, EnvironmentParser
from ivr.fastagi.errors import AgiError, AgiHangup, AgiProtocolError, AgiTimeout
from ivr.fastagi.protocol import AgiReply, ReplyAssembler
from ivr.fastagi.session import AgiSession
from switchboard.clock import Clock
from switchboard.ids import new_id

log = logging.getLogger(__name__)

AgiHandler = Callable[[AgiSession], Awaitable[None]]
AgiRoute = Callable[[AgiEnvironment], AgiHandler | None]

#: Sent instead of a command to end the AGI with AGISTATUS=FAILURE (res_agi.c run_agi: a line starting
#: with "failure"), so the dialplan's fallback (the hold queue) takes the caller instead of a hang-up.
FAILURE_LINE = b"FAILURE\n"
MAX_UNSOLICITED_LINES = 20


@dataclass(frozen=True)
class ConnectionConfig:
    """What every connection needs from its server."""

    route: AgiRoute
    max_header_bytes: int
    max_reply_bytes: int
    header_timeout: float
    command_timeout: float
    clock: Clock
    spawn: Callable[[Coroutine[Any, Any, None], str], asyncio.Task[None]]
    forget: Callable[[AgiConnection], None]


class AgiConnection(asyncio.Protocol):
    """Asterisk's side of one call, from accept to close. Implements the session's ``AgiWire``."""

    def __init__(self, config: ConnectionConfig) -> None:
        self._config = config
        self._loop = asyncio.get_running_loop()
        self._now = config.clock.monotonic
        self.call_id = new_id()
        self._transport: asyncio.Transport | None = None
        self._peer: object = None
        self._partial = b""
        self._limit = config.max_header_bytes
        self._env: EnvironmentParser | None = EnvironmentParser(config.max_header_bytes)
        # Deadlines on the server's clock, checked by the server's sweeper (no timer per command).
        self._header_deadline = self._now() + config.header_timeout
        self._command_deadline = 0.0
        self._inflight = b""
        self._assembler = ReplyAssembler()
        self._waiter: asyncio.Future[AgiReply] | None = None
        self._skip = 0  # replies still owed to commands that timed out or were cancelled
        self._unsolicited = 0
        self._write_ready: asyncio.Future[None] | None = None
        self._hung_up = False
        self._closed = False
        self.commands = 0

    # -- AgiWire ---------------------------------------------------------------------------------------
    @property
    def hung_up(self) -> bool:
        return self._hung_up

    @property
    def closed(self) -> bool:
        return self._closed

    async def request(self, data: bytes) -> AgiReply:
        """Write one command and wait for its complete reply."""
        if self._closed:
            raise self._lost_error()
        if self._waiter is not None:
            raise RuntimeError("an AGI command is already in flight on this session")
        if self._write_ready is not None:
            await self._write_ready
            if self._closed:
                raise self._lost_error()
        transport = self._transport
        assert transport is not None
        waiter: asyncio.Future[AgiReply] = self._loop.create_future()
        self._waiter = waiter
        self._inflight = data
        self._command_deadline = self._now() + self._config.command_timeout
        self.commands += 1
        transport.write(data)
        try:
            return await waiter
        except asyncio.CancelledError:
            self._abandon(waiter)
            raise

    def check_deadlines(self, now: float) -> None:
        """Called periodically by the server: enforce the environment and command timeouts."""
        if self._closed:
            return
        if self._env is not None:
            if now >= self._header_deadline:
                self._header_timeout()
        elif self._waiter is not None and now >= self._command_deadline:
            self._expire(self._waiter)

    def _abandon(self, waiter: asyncio.Future[AgiReply]) -> None:
        # Replies come strictly in order: the one this command is owed must be discarded when it arrives.
        if self._waiter is waiter:
            self._waiter = None
            self._skip += 1

    def _expire(self, waiter: asyncio.Future[AgiReply]) -> None:
        if waiter.done():
            return
        self._abandon(waiter)
        log.warning("agi command timed out call_id=%s command=%r timeout=%s",
                    self.call_id, self._inflight[:60], self._config.command_timeout)
        waiter.set_exception(AgiTimeout(f"no reply within {self._config.command_timeout} s"))

    def _lost_error(self) -> AgiError:
        if self._hung_up:
            return AgiHangup("connection closed after the caller hung up")
        return AgiProtocolError("connection to Asterisk lost")

    # -- asyncio.Protocol ------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # a stream transport by construction (create_server); uvloop's transports do not subclass asyncio's
        self._transport = cast(asyncio.Transport, transport)
        self._peer = transport.get_extra_info("peername")

    def data_received(self, data: bytes) -> None:
        try:
            self._feed(data)
        except Exception:  # a bug here must cost one call, with a clear log line, not the whole server
            log.exception("agi connection failed call_id=%s peer=%s", self.call_id, self._peer)
            self._shutdown(failure=True, error=AgiProtocolError("internal error while reading"))

    def _feed(self, data: bytes) -> None:
        if self._partial:
            data = self._partial + data
        lines = data.split(b"\n")
        self._partial = lines.pop()
        for raw in lines:
            if self._closed:
                return
            if self._env is not None:
                self._header_line(raw)
            else:
                self._reply_line(raw)
        if len(self._partial) > self._limit and not self._closed:
            what = "environment" if self._env is not None else "reply"
            log.warning("agi %s line too long, closing call_id=%s peer=%s limit=%d buffered=%d",
                        what, self.call_id, self._peer, self._limit, len(self._partial))
            self._partial = b""
            self._env = None
            self._shutdown(failure=True, error=AgiProtocolError(f"{what} line over {self._limit} bytes"))

    def eof_received(self) -> bool | None:
        return None  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self._config.forget(self)
        if self._env is not None:
            log.warning("agi client closed during environment call_id=%s peer=%s received=%d error=%s",
                        self.call_id, self._peer, self._env.received, exc)
            self._env = None
        self._fail_waiter(self._lost_error())
        self._release_writer()

    def pause_writing(self) -> None:
        if self._write_ready is None:
            self._write_ready = self._loop.create_future()

    def resume_writing(self) -> None:
        self._release_writer()

    # -- environment -----------------------------------------------------------------------------------
    def _header_line(self, raw: bytes) -> None:
        parser = self._env
        assert parser is not None
        try:
            done = parser.feed_line(raw)
        except AgiProtocolError as exc:
            log.warning("agi environment refused call_id=%s peer=%s reason=%s", self.call_id, self._peer, exc)
            self._env = None
            self._shutdown(failure=True)
            return
        if not done:
            return
        self._env = None
        self._limit = self._config.max_reply_bytes
        for warning in parser.warnings:
            log.warning("agi environment call_id=%s peer=%s %s", self.call_id, self._peer, warning)
        self._start(parser.environment())

    def _header_timeout(self) -> None:
        if self._env is None or self._closed:
            return
        log.warning("agi environment timed out call_id=%s peer=%s received=%d timeout=%s",
                    self.call_id, self._peer, self._env.received, self._config.header_timeout)
        self._env = None
        self._shutdown(failure=True)

    def _start(self, env: AgiEnvironment) -> None:
        try:
            handler = self._config.route(env)
        except Exception:
            log.exception("agi route lookup failed call_id=%s script=%r", self.call_id, env.network_script)
            handler = None
        else:
            if handler is None:
                log.warning("agi no route call_id=%s script=%r channel=%s", self.call_id, env.network_script,
                            env.channel)
        if handler is None:
            self._shutdown(failure=True)
            return
        session = AgiSession(env, self.call_id, self)
        self._config.spawn(self._run(session, handler), f"agi-{self.call_id}")

    async def _run(self, session: AgiSession, handler: AgiHandler) -> None:
        env = session.env
        log.info("agi session start call_id=%s script=%r channel=%s uniqueid=%s",
                 self.call_id, env.network_script, env.channel, env.uniqueid)
        failed = False
        try:
            await handler(session)
        except AgiHangup as exc:
            log.info("agi session ended by hang-up call_id=%s detail=%s", self.call_id, exc)
        except AgiError as exc:
            failed = True
            log.warning("agi session aborted call_id=%s error=%s: %s", self.call_id, type(exc).__name__, exc)
        except asyncio.CancelledError:
            log.info("agi session cancelled call_id=%s", self.call_id)
            self._shutdown(failure=True)
            raise
        except Exception:
            failed = True
            log.exception("agi handler failed call_id=%s script=%r", self.call_id, env.network_script)
        log.info("agi session end call_id=%s commands=%d hung_up=%s failed=%s",
                 self.call_id, self.commands, self._hung_up, failed)
        self._shutdown(failure=failed)

    # -- replies ---------------------------------------------------------------------------------------
    def _reply_line(self, raw: bytes) -> None:
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        assembler = self._assembler
        if raw == b"HANGUP" and not assembler.in_block:
            if not self._hung_up:
                self._hung_up = True
                log.info("agi caller hung up call_id=%s", self.call_id)
            return
        line = raw.decode("utf-8", "replace")
        if self._waiter is None and not self._skip and not assembler.in_block:
            self._unsolicited += 1
            log.warning("agi unexpected line call_id=%s line=%r", self.call_id, line[:120])
            if self._unsolicited > MAX_UNSOLICITED_LINES:
                self._shutdown(failure=True, error=AgiProtocolError("too many unexpected lines"))
            return
        try:
            reply = assembler.feed(line)
        except AgiProtocolError as exc:
            log.warning("agi bad reply call_id=%s error=%s", self.call_id, exc)
            self._shutdown(failure=True, error=exc)
            return
        if reply is None:
            return
        if self._skip:
            self._skip -= 1
            log.info("agi late reply discarded call_id=%s line=%r", self.call_id, reply.line[:120])
            return
        waiter = self._waiter
        self._waiter = None
        if waiter is not None and not waiter.done():
            waiter.set_result(reply)

    # -- shutdown --------------------------------------------------------------------------------------
    def _fail_waiter(self, error: AgiError) -> None:
        waiter = self._waiter
        self._waiter = None
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)

    def _release_writer(self) -> None:
        ready, self._write_ready = self._write_ready, None
        if ready is not None and not ready.done():
            ready.set_result(None)

    def _shutdown(self, *, failure: bool, error: AgiError | None = None) -> None:
        """Close the connection; with ``failure`` (and a live channel) end the AGI with AGISTATUS=FAILURE."""
        if self._closed:
            return
        self._closed = True
        transport = self._transport
        if transport is not None and not transport.is_closing():
            if failure and not self._hung_up:
                transport.write(FAILURE_LINE)
            transport.close()
        self._fail_waiter(error or self._lost_error())
        self._release_writer()

    def abort(self) -> None:
        """Drop the connection at once (server shutdown)."""
        self._shutdown(failure=True)
