"""One TCP session with Asterisk's AMI, built on panoramisk's ``Manager`` and ``AMIProtocol``.

panoramisk supplies the transport plumbing: ``Manager.connect()`` opens the socket through
``loop.create_connection`` with our protocol factory, ``Manager.close()``/``AMIProtocol.close()`` close
it. Everything with policy in it is replaced, because panoramisk 1.4's versions conflict with what
Switchboard needs:

- framing: ``AMIProtocol.data_received`` decodes each TCP chunk on its own with ``errors="ignore"``
  (a UTF-8 character split across chunks, or any non-UTF-8 byte, silently vanishes) and keeps an
  unbounded buffer; we feed :class:`ami.protocol.AmiParser` instead.
- responses: ``Action.multi`` guesses lists from message text ("will follow", "successfully queued"),
  so an ``Async: true`` Originate's future waits for (and swallows) the OriginateResponse event, and
  nothing has a timeout; we correlate by ActionID and ``EventList: start/Complete`` only, with a timeout.
- reconnect and login: ``Manager`` retries forever at a fixed integer delay on the loop's real clock,
  never raises on refusal or a wrong secret, and replays unanswered actions after a reconnect (a
  Redirect or Originate could run twice); the client does capped backoff on an injected Clock instead.
- events: ``Manager.dispatch`` calls callbacks inline and wraps coroutines in fire-and-forget futures;
  we hand typed events to a synchronous sink that only fills bounded queues.

This module is the one boundary where OSError/asyncio errors become ``ami.errors`` exceptions.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from panoramisk.ami_protocol import AMIProtocol
from panoramisk.manager import Manager

from ami.errors import AmiConnectionError, AmiTimeout
from ami.events import AmiEvent, AmiResponse, parse_event
from ami.protocol import BANNER_PREFIX, DEFAULT_MAX_MESSAGE_BYTES, AmiMessage, AmiParser, encode_action
from ami.timing import wait_with_timeout
from switchboard.clock import Clock

log = logging.getLogger(__name__)

EventSink = Callable[[AmiEvent], None]
ListCompleteHook = Callable[[AmiResponse], None]
MAX_WRITE_BUFFER = 1 << 20
# Bytes parsed per event-loop callback: a 256 KiB read parsed in one go holds the loop for
# milliseconds, so reads are queued and parsed in slices, letting timers and consumers run between.
PARSE_SLICE = 16 * 1024
# Stop reading from the socket while this much is received but not parsed yet (TCP then pushes back
# on Asterisk); resume below half of it.
PAUSE_READING_ABOVE = 4 << 20


@dataclass(slots=True)
class _Pending:
    name: str
    future: asyncio.Future[AmiResponse]
    on_complete: ListCompleteHook | None = None
    start: AmiMessage | None = None  # the "EventList: start" response, once seen
    events: list[AmiEvent] = field(default_factory=list)


class _SessionProtocol(AMIProtocol):
    """panoramisk's asyncio protocol, with our framing: ``data_received`` never awaits anything."""

    def __init__(self, connection: AmiConnection) -> None:
        self._connection = connection

    def data_received(self, data: bytes) -> None:
        self._connection._on_data(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._connection._on_lost(exc)


class _Connector(Manager):
    """panoramisk's Manager reduced to opening and closing the transport."""

    def connection_made(self, f: asyncio.Future[Any]) -> None:
        # Done-callback of Manager.connect()'s task. panoramisk would log in, start a pinger and, on
        # failure, schedule a reconnect here; AmiConnection.open reports failures and the client retries.
        if f.cancelled() or f.exception() is not None:
            return
        _transport, self.protocol = f.result()

    def connection_lost(self, exc: Exception | None) -> None:
        # panoramisk would schedule a fixed-delay reconnect here.
        return None


def _describe_os_error(exc: OSError) -> str:
    if exc.errno:
        return os.strerror(exc.errno)
    return str(exc) or type(exc).__name__


class AmiConnection:
    """A single AMI session: connect and read the banner, send actions, route what comes back."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        clock: Clock,
        on_event: EventSink,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    ) -> None:
        self.host = host
        self.port = port
        self._clock = clock
        self._on_event = on_event
        self._parser = AmiParser(max_message_bytes=max_message_bytes)
        self._pending: dict[str, _Pending] = {}
        self._timed_out: deque[str] = deque(maxlen=256)
        self._connector: _Connector | None = None
        self._protocol: _SessionProtocol | None = None
        self._banner: asyncio.Future[str] | None = None
        self._closed: asyncio.Future[None] | None = None
        self._unparsed: deque[memoryview] = deque()
        self._unparsed_bytes = 0
        self._parse_scheduled = False
        self._reading_paused = False
        self._closed_by_us = False

    @property
    def peer(self) -> str:
        """``host:port`` for messages and logs."""
        return f"{self.host}:{self.port}"

    @property
    def is_open(self) -> bool:
        """True between a successful ``open`` and the socket closing."""
        return self._protocol is not None and self._closed is not None and not self._closed.done()

    @property
    def banner(self) -> str | None:
        """The greeting line, e.g. ``Asterisk Call Manager/11.0.0``."""
        return self._parser.banner or None

    async def open(self, timeout: float) -> None:  # noqa: ASYNC109 (Clock-driven)
        """Connect and wait for the AMI banner; AmiConnectionError (one line) on any failure."""
        loop = asyncio.get_running_loop()
        self._banner = loop.create_future()
        self._closed = loop.create_future()
        connector = _Connector(
            host=self.host,
            port=self.port,
            ssl=False,
            loop=loop,
            protocol_factory=lambda: _SessionProtocol(self),
        )
        self._connector = connector
        started = self._clock.monotonic()
        try:
            _transport, protocol = await wait_with_timeout(connector.connect(), timeout, self._clock)
        except TimeoutError:
            self.close()
            raise AmiConnectionError(
                f"no TCP connection to AMI at {self.peer} within {timeout:g} s"
            ) from None
        except OSError as exc:
            raise AmiConnectionError(
                f"cannot connect to AMI at {self.peer}: {_describe_os_error(exc)}"
            ) from None
        self._protocol = protocol
        remaining = max(0.0, timeout - (self._clock.monotonic() - started))
        try:
            await wait_with_timeout(self._banner, remaining, self._clock)
        except TimeoutError:
            self.close()
            raise AmiConnectionError(f"{self.peer} sent no AMI banner within {timeout:g} s") from None
        except BaseException:  # not an AMI server, closed, or our caller was cancelled
            self.close()
            raise

    async def send(
        self,
        name: str,
        fields: Mapping[str, str] | None = None,
        *,
        action_id: str,
        timeout: float,  # noqa: ASYNC109 (measured on the injected Clock)
        variables: Mapping[str, str] | None = None,
        on_complete: ListCompleteHook | None = None,
    ) -> AmiResponse:
        """Send one action and return Asterisk's response (list items in ``events``).

        ValueError before sending for CR/LF/NUL in any value; AmiTimeout; AmiConnectionError.
        ``on_complete`` runs inside the reader when a list completes, before any later event is routed.
        """
        data = encode_action(name, action_id, fields, variables)
        protocol = self._protocol
        if protocol is None or not self.is_open:
            raise AmiConnectionError(f"not connected to AMI at {self.peer}")
        if action_id in self._pending:
            raise ValueError(f"ActionID {action_id!r} is already waiting for a response")
        transport = protocol.transport
        if transport.get_write_buffer_size() > MAX_WRITE_BUFFER:
            self.close()
            raise AmiConnectionError(f"AMI at {self.peer} stopped reading (write buffer full)")
        future: asyncio.Future[AmiResponse] = asyncio.get_running_loop().create_future()
        pending = _Pending(name, future, on_complete)
        self._pending[action_id] = pending
        try:
            transport.write(data)
            return await wait_with_timeout(future, timeout, self._clock)
        except TimeoutError:
            self._timed_out.append(action_id)
            raise AmiTimeout(
                f"AMI action {name} (ActionID {action_id}) got no response from {self.peer} "
                f"within {timeout:g} s"
            ) from None
        finally:
            if self._pending.get(action_id) is pending:
                del self._pending[action_id]

    def close(self) -> None:
        """Close the socket (idempotent); pending actions fail with AmiConnectionError."""
        self._closed_by_us = True
        if self._connector is not None:
            self._connector.close()

    async def wait_closed(self) -> None:
        """Return once the socket is closed."""
        if self._closed is not None:
            await asyncio.shield(self._closed)

    # -- reader side: runs inside data_received, so nothing here may await ----------------------

    def _on_data(self, data: bytes) -> None:
        self._unparsed.append(memoryview(data))
        self._unparsed_bytes += len(data)
        if not self._parse_scheduled:
            self._parse_scheduled = True
            asyncio.get_running_loop().call_soon(self._parse_some)
        if self._unparsed_bytes > PAUSE_READING_ABOVE and not self._reading_paused and self._protocol:
            self._reading_paused = True
            self._protocol.transport.pause_reading()

    def _parse_some(self, budget: int = PARSE_SLICE) -> None:
        """Parse and route up to ``budget`` bytes, then yield to the loop if more is waiting."""
        unparsed = self._unparsed
        while unparsed and budget > 0:
            view = unparsed[0]
            if len(view) > budget:
                piece, unparsed[0] = view[:budget], view[budget:]
            else:
                piece = unparsed.popleft()
            budget -= len(piece)
            self._unparsed_bytes -= len(piece)
            self._process(piece.tobytes())
        if unparsed:
            asyncio.get_running_loop().call_soon(self._parse_some)
        else:
            self._parse_scheduled = False
        if self._reading_paused and self._unparsed_bytes < PAUSE_READING_ABOVE // 2 and self._protocol:
            self._reading_paused = False
            if not self._protocol.closed:
                self._protocol.transport.resume_reading()

    def _process(self, data: bytes) -> None:
        parser = self._parser
        messages = parser.feed(data)
        banner = self._banner
        if banner is not None and not banner.done() and parser.banner is not None:
            if parser.banner.startswith(BANNER_PREFIX.decode()):
                banner.set_result(parser.banner)
            else:
                banner.set_exception(
                    AmiConnectionError(f"{self.peer} is not an Asterisk Manager Interface (no AMI banner)")
                )
        for problem in parser.take_problems():
            log.warning(
                "ami bad input peer=%s problem=%r bytes=%r", self.peer, problem.reason, problem.preview
            )
        if not messages:
            return
        now = self._clock.monotonic()
        for message in messages:
            try:
                self._route(message, now)
            except Exception:
                # One bad message (or a buggy sink) must not stop the reader.
                log.exception("ami message handling failed peer=%s name=%s", self.peer, message.name)

    def _route(self, message: AmiMessage, now: float) -> None:
        fields = message.fields
        action_id = fields.get("ActionID")
        if "Event" in fields:
            if action_id is not None:
                pending = self._pending.get(action_id)
                if pending is not None and pending.start is not None:
                    pending.events.append(parse_event(message, now))
                    event_list = fields.get("EventList", "").lower()
                    if event_list == "complete" or fields["Event"].endswith("Complete"):
                        self._complete_list(action_id, pending)
                    return
            self._on_event(parse_event(message, now))
            return
        if action_id is None:
            log.warning("ami response without ActionID dropped peer=%s response=%s", self.peer, message.name)
            return
        pending = self._pending.get(action_id)
        if pending is None:
            late = action_id in self._timed_out
            log.info(
                "ami %s response dropped peer=%s action_id=%s response=%s",
                "late" if late else "unexpected",
                self.peer,
                action_id,
                message.name,
            )
            return
        if fields.get("EventList", "").lower() == "start" and fields.get("Response") == "Success":
            pending.start = message
            return
        self._resolve(action_id, pending, AmiResponse.from_message(message))

    def _complete_list(self, action_id: str, pending: _Pending) -> None:
        assert pending.start is not None
        response = AmiResponse.from_message(pending.start, tuple(pending.events))
        if pending.on_complete is not None:
            try:
                pending.on_complete(response)
            except Exception:
                log.exception("ami list completion hook failed peer=%s action=%s", self.peer, pending.name)
        self._resolve(action_id, pending, response)

    def _resolve(self, action_id: str, pending: _Pending, response: AmiResponse) -> None:
        del self._pending[action_id]
        if not pending.future.done():
            pending.future.set_result(response)

    def _on_lost(self, exc: Exception | None) -> None:
        # Whatever arrived before the close is still delivered (a response may be in it).
        self._parse_some(budget=self._unparsed_bytes)
        cut = self._parser.pending_bytes
        if exc is None:
            reason = "closed by us" if self._closed_by_us else "closed by peer"
        elif isinstance(exc, OSError):
            reason = _describe_os_error(exc)
        else:
            reason = str(exc) or type(exc).__name__
        if cut:
            log.warning(
                "ami connection lost mid-message peer=%s reason=%s unparsed_bytes=%d", self.peer, reason, cut
            )
        else:
            log.info("ami connection closed peer=%s reason=%s", self.peer, reason)
        pending, self._pending = self._pending, {}
        for item in pending.values():
            if not item.future.done():
                item.future.set_exception(
                    AmiConnectionError(f"connection to AMI at {self.peer} lost while waiting for {item.name}")
                )
        if self._banner is not None and not self._banner.done():
            self._banner.set_exception(
                AmiConnectionError(f"{self.peer} closed the connection before the AMI banner")
            )
        if self._closed is not None and not self._closed.done():
            self._closed.set_result(None)
