"""The emulator's AMI listener: TCP sessions, login, the per-session outbound queue, events fan-out."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

from sim.events import SimEvent, render_message
from sim.pbx import Pbx

log = logging.getLogger(__name__)

BANNER = b"Asterisk Call Manager/11.0.0\r\n"
MAX_LINE = 8192  # longer header lines are cut (Asterisk drops the rest of an over-long line)
MAX_HEADERS = 128
OUTBOUND_LIMIT = 50_000  # messages queued for a client that does not read: then it is dropped (writetimeout)
WRITE_BUFFER_HIGH = 256 * 1024  # bytes buffered in the socket before the writer waits for the client
WRITE_TIMEOUT = 5.0  # real seconds a client may stall (manager.conf writetimeout = 5000 in asterisk-conf/)


@dataclass
class AmiConfig:
    """Credentials and options of the emulated manager.conf."""

    username: str
    secret: str
    timestamp_events: bool = False


class AmiSession:
    """One TCP connection: reads actions one at a time, writes replies and events in order."""

    def __init__(self, server: AmiServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.server = server
        self.reader = reader
        self.writer = writer
        self.authenticated = False
        self.events_on = True
        self.challenge: str | None = None
        self._out: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._closing = False
        self._unsubscribe: Callable[[], None] | None = None
        peer = writer.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)

    # ----- output -----

    def send(self, data: bytes) -> None:
        """Queue bytes for the client; a client that stopped reading is disconnected, never waited for."""
        if self._closing:
            return
        if self._out.qsize() >= OUTBOUND_LIMIT:
            log.warning("ami client too slow, disconnecting peer=%s queued=%d", self.peer, self._out.qsize())
            self.close()
            return
        self._out.put_nowait(data)

    def send_message(self, pairs: list[tuple[str, str]]) -> None:
        self.send(render_message(pairs))

    def on_event(self, event: SimEvent) -> None:
        if self.authenticated and self.events_on:
            self.send(event.render(self.server.config.timestamp_events))

    def close(self) -> None:
        """Finish after what is already queued has been written."""
        if not self._closing:
            self._closing = True
            self._out.put_nowait(None)

    async def _write_loop(self) -> None:
        try:
            while True:
                data = await self._out.get()
                if data is None:
                    break
                self.writer.write(data)
                if self.writer.transport.get_write_buffer_size() > WRITE_BUFFER_HIGH:
                    await asyncio.wait_for(self.writer.drain(), timeout=WRITE_TIMEOUT)
        except (ConnectionError, TimeoutError) as exc:
            log.warning("ami client not reading, disconnected peer=%s error=%r", self.peer, exc)
            self.writer.transport.abort()
        finally:
            self._closing = True
            if not self.writer.transport.is_closing():
                with contextlib.suppress(ConnectionError, TimeoutError):
                    await asyncio.wait_for(self.writer.drain(), timeout=WRITE_TIMEOUT)
            self.writer.close()

    # ----- input -----

    async def _read_message(self) -> list[tuple[str, str]] | None:
        headers: list[tuple[str, str]] = []
        while True:
            try:
                line = await self.reader.readuntil(b"\n")
            except asyncio.LimitOverrunError as exc:
                await self.reader.readexactly(exc.consumed)  # discard the over-long line
                continue
            except asyncio.IncompleteReadError:
                return None
            text = line[:MAX_LINE].decode("latin-1").rstrip("\r\n")
            if text == "":
                if headers:
                    return headers
                continue
            key, sep, value = text.partition(":")
            if sep and len(headers) < MAX_HEADERS:
                headers.append((key.strip(), value.lstrip(" ")))

    async def run(self) -> None:
        from sim.ami_actions import handle_action

        writer_task = asyncio.ensure_future(self._write_loop())
        self._unsubscribe = self.server.pbx.bus.subscribe(self.on_event)
        self.send(BANNER)
        try:
            while not self._closing:
                message = await self._read_message()
                if message is None:
                    break
                try:
                    await handle_action(self, message)
                except Exception:
                    log.exception("ami action failed peer=%s", self.peer)
                    self.send_message([("Response", "Error"), ("Message", "Internal error")])
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            if self._unsubscribe is not None:
                self._unsubscribe()
            self.close()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(writer_task, timeout=5.0)


class AmiServer:
    """Accepts AMI clients on ``host:port`` (port 0 picks a free one, kept across restarts)."""

    def __init__(self, pbx: Pbx, config: AmiConfig, uptime: Callable[[], int], *, host: str = "127.0.0.1",
                 port: int = 0) -> None:
        self.pbx = pbx
        self.config = config
        self.uptime = uptime
        self.host = host
        self._port = port
        self._server: asyncio.base_events.Server | None = None
        self.sessions: set[AmiSession] = set()
        self._session_tasks: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        return self._port

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.host, self._port, reuse_address=True)
        self._port = self._server.sockets[0].getsockname()[1]
        log.info("ami emulator listening host=%s port=%d", self.host, self._port)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = AmiSession(self, reader, writer)
        self.sessions.add(session)
        task = asyncio.current_task()
        if task is not None:
            self._session_tasks.add(task)
        try:
            await session.run()
        finally:
            self.sessions.discard(session)
            if task is not None:
                self._session_tasks.discard(task)

    async def close(self) -> None:
        """Stop listening and end every session after its queued output (events already sent are kept)."""
        if self._server is not None:
            self._server.close()
        for session in list(self.sessions):
            session.close()
        tasks = list(self._session_tasks)
        if tasks:
            await asyncio.wait(tasks, timeout=5.0)
        for task in tasks:
            if not task.done():
                task.cancel()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), timeout=2.0)
            self._server = None
