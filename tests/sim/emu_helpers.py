"""Emulator test helpers: a raw AMI client and a raw FastAGI server (both real TCP on 127.0.0.1)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from sim.emulator import AsteriskEmulator
from switchboard.clock import ManualClock
from tests.golden.golden_compare import AmiMessage, is_final_reply, parse_ami_stream
from tests.golden.replay import drive

REAL_WAIT = 10.0  # real seconds any socket wait may take while the clock is driven


class AmiWire:
    """A bare AMI client over TCP: writes actions, keeps every message the emulator sends."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.buffer = bytearray()
        self.closed = asyncio.Event()
        self._task = asyncio.ensure_future(self._read())
        self._ids = 0

    async def _read(self) -> None:
        while True:
            data = await self.reader.read(65536)
            if not data:
                self.closed.set()
                return
            self.buffer.extend(data)

    @property
    def messages(self) -> list[AmiMessage]:
        return parse_ami_stream(bytes(self.buffer))[1]

    def events(self, name: str | None = None) -> list[AmiMessage]:
        return [m for m in self.messages if not m.is_response and m.pairs[0][0] == "Event"
                and (name is None or m.name == name)]

    def send(self, action: str, **headers: str) -> str:
        """Write an action; returns its ActionID."""
        self._ids += 1
        action_id = headers.pop("ActionID", f"t{self._ids}")
        lines = [f"Action: {action}", f"ActionID: {action_id}"]
        for key, value in headers.items():
            if key == "Variables":
                lines += [f"Variable: {v}" for v in value.split("|")]
            else:
                lines.append(f"{key}: {value}")
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        return action_id

    def response(self, action_id: str) -> AmiMessage | None:
        return next((m for m in self.messages if m.is_response and m.get("ActionID") == action_id), None)

    async def wait_for(self, predicate: Callable[[], Any], clock: ManualClock | None = None,
                       step: float = 0.05, limit: float = 30.0) -> Any:
        """Wait until predicate() is truthy, driving ``clock`` (at most ``limit`` seconds of it) if given."""
        deadline = asyncio.get_running_loop().time() + REAL_WAIT
        start = clock.monotonic() if clock else 0.0
        while True:
            value = predicate()
            if value:
                return value
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError("condition not met in time")
            if clock is not None:
                if clock.monotonic() - start > limit:
                    raise AssertionError(f"condition not met within {limit} emulator seconds")
                await drive(clock, clock.monotonic() + step)
            else:
                await asyncio.sleep(0.005)

    async def close(self) -> None:
        self.writer.close()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


async def ami_login(emulator: AsteriskEmulator, secret: str = "secret") -> AmiWire:
    reader, writer = await asyncio.open_connection("127.0.0.1", emulator.ami_port)
    wire = AmiWire(reader, writer)
    action_id = wire.send("Login", Username="switchboard", Secret=secret)
    await wire.wait_for(lambda: wire.response(action_id))
    return wire


class AgiConn:
    """One FastAGI connection seen from the server side: send commands, read Asterisk's reply lines."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 env: dict[str, str]) -> None:
        self.reader = reader
        self.writer = writer
        self.env = env
        self.hangups = 0
        self.log: list[str] = []

    async def command(self, text: str) -> list[str]:
        """Send one command; the reply lines (a bare HANGUP line is counted, not returned)."""
        self.writer.write(f"{text}\n".encode())
        lines: list[str] = []
        while True:
            raw = await asyncio.wait_for(self.reader.readline(), REAL_WAIT)
            if not raw:
                raise ConnectionError("emulator closed the AGI connection")
            line = raw.decode().rstrip("\n")
            self.log.append(line)
            if line == "HANGUP":
                self.hangups += 1
                continue
            lines.append(line)
            if is_final_reply(line):
                return lines

    async def read_unsolicited(self) -> str:
        raw = await asyncio.wait_for(self.reader.readline(), REAL_WAIT)
        line = raw.decode().rstrip("\n")
        if line == "HANGUP":
            self.hangups += 1
        return line


AgiScript = Callable[[AgiConn], Awaitable[None]]


class RawAgiServer:
    """A FastAGI server on 127.0.0.1 that runs a test coroutine per connection, then closes it."""

    def __init__(self, script: AgiScript) -> None:
        self.script = script
        self.connections: list[AgiConn] = []
        self.errors: list[BaseException] = []
        self._server: asyncio.base_events.Server | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.sockets[0].getsockname()[1]

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        env: dict[str, str] = {}
        try:
            while True:
                line = (await asyncio.wait_for(reader.readline(), REAL_WAIT)).decode().rstrip("\n")
                if not line:
                    break
                key, _, value = line.partition(": ")
                env[key] = value
            conn = AgiConn(reader, writer, env)
            self.connections.append(conn)
            await self.script(conn)
        except BaseException as exc:  # kept for the test to report
            self.errors.append(exc)
        finally:
            writer.close()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()


async def drive_until(clock: ManualClock, predicate: Callable[[], Any], limit: float = 60.0,
                      step: float = 0.02) -> None:
    """Advance the emulator clock until ``predicate()`` holds (at most ``limit`` clock seconds)."""
    start = clock.monotonic()
    while not predicate():
        if clock.monotonic() - start > limit:
            raise AssertionError(f"not reached within {limit} emulator seconds")
        await drive(clock, clock.monotonic() + step)
