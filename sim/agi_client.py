"""Asterisk's side of a FastAGI connection, for the emulator, tests and benchmarks.

It behaves like res_agi.c's ``run_agi`` for a network script: connect (2 s timeout), send the environment
lines and a blank line, then for each command line call the responder and write its reply. Like Asterisk it
reads a command into a 2048-byte buffer, so a longer line arrives as two commands, and a line starting with
``failure`` ends the AGI with AGISTATUS=FAILURE (``failed`` is then True).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Protocol

#: res_agi.c: ``char buf[AGI_BUF_LEN]`` (2048) filled by fgets(): 2047 bytes at most per command read.
ASTERISK_COMMAND_BYTES = 2047
_WRITE_HIGH_WATER = 64 * 1024


class AgiResponder(Protocol):
    """Produces Asterisk's reply to one command (full text incl. trailing newline; may be several lines)."""

    async def __call__(self, command: str) -> str: ...


class AgiConnectFailed(Exception):
    """The FastAGI server refused the connection or did not accept it within connect_timeout."""


class FastAgiClient:
    """One AGI() invocation: connects, sends the environment, answers commands until the server closes."""

    def __init__(self, host: str, port: int, env: Mapping[str, str], responder: AgiResponder, *,
                 connect_timeout: float = 2.0) -> None:
        self._host = host
        self._port = port
        # Written verbatim, as Asterisk does: a value holding a newline really does break the line.
        self._env_bytes = "".join(f"{key}: {value}\n" for key, value in env.items()).encode("utf-8") + b"\n"
        self._responder = responder
        self._connect_timeout = connect_timeout
        self._writer: asyncio.StreamWriter | None = None
        self._commands: list[str] = []
        self._failed = False
        self._finished = False

    @property
    def commands(self) -> list[str]:
        """Commands received so far, without their newline."""
        return self._commands

    @property
    def failed(self) -> bool:
        """True when the server ended the AGI with a ``FAILURE`` line (Asterisk sets AGISTATUS=FAILURE)."""
        return self._failed

    @property
    def connected(self) -> bool:
        """True between a successful connect and the end of ``run``."""
        return self._writer is not None

    async def run(self) -> None:
        """Connect, send the environment, serve commands until the server closes the connection."""
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(self._host, self._port, limit=256 * 1024), self._connect_timeout
            )
        except (OSError, TimeoutError) as exc:
            raise AgiConnectFailed(f"FastAGI connect to {self._host}:{self._port} failed: {exc!r}") from exc
        self._writer = writer
        try:
            writer.write(self._env_bytes)
            await self._serve(reader, writer)
        finally:
            self._writer = None
            self._finished = True
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        responder = self._responder
        commands = self._commands
        transport = writer.transport
        while True:
            try:
                line = await reader.readline()
            except (ValueError, ConnectionError):  # over the reader limit, or reset by the server
                return
            if not line.endswith(b"\n"):
                return  # server closed (a partial last line is dropped)
            for chunk in _asterisk_reads(line):
                command = chunk.rstrip(b"\n").decode("utf-8", "replace")
                if command[:7].lower() == "failure":
                    self._failed = True
                    return
                commands.append(command)
                reply = await responder(command)
                if transport.is_closing():
                    return
                writer.write(reply.encode("utf-8"))
                if transport.get_write_buffer_size() > _WRITE_HIGH_WATER:
                    await writer.drain()

    async def send_line(self, line: str) -> None:
        """Write an unsolicited line such as the asynchronous ``HANGUP`` (newline added if missing).

        After the AGI has ended this does nothing (Asterisk's late write would hit a closed socket).
        """
        writer = self._writer
        if writer is None:
            if self._finished:
                return
            raise RuntimeError("FastAGI client is not connected yet")
        if not line.endswith("\n"):
            line += "\n"
        writer.write(line.encode("utf-8"))
        with contextlib.suppress(ConnectionError):
            await writer.drain()


def _asterisk_reads(line: bytes) -> list[bytes]:
    """Split a line the way Asterisk's fgets() into a 2048-byte buffer would."""
    if len(line) <= ASTERISK_COMMAND_BYTES:
        return [line]
    return [line[i : i + ASTERISK_COMMAND_BYTES] for i in range(0, len(line), ASTERISK_COMMAND_BYTES)]
