"""AMI test helpers: golden transcript loading and a small scripted AMI server on 127.0.0.1.

The server speaks real TCP. It greets with the golden banner, parses the client's actions with the
same framing rules, and answers each action through a handler; handlers usually replay the bytes a
real Asterisk sent in a golden transcript, with the golden ActionID replaced by the client's.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ami.protocol import AmiMessage, AmiParser

BANNER = b"Asterisk Call Manager/11.0.0\r\n"


@dataclass(frozen=True)
class Chunk:
    """One TCP read or write of a transcript."""

    at: float
    direction: str  # "<<<" from Asterisk, ">>>" to Asterisk
    data: bytes


@dataclass
class Exchange:
    """An action the golden client sent and the bytes Asterisk sent because of it.

    Several actions may be sent before any reply (``basic`` pipelines eight), so replies are assigned
    message by message: a message carrying the action's ActionID belongs to it, and events without one
    belong to the action answered just before them. The original TCP chunk boundaries inside those
    bytes are kept (``gv0``'s reply stays split in two chunks).
    """

    action: AmiMessage
    replies: list[bytes] = field(default_factory=list)
    replied_at: float | None = None

    @property
    def name(self) -> str:
        return self.action.fields["Action"]

    @property
    def action_id(self) -> str:
        return self.action.fields["ActionID"]

    def reply_for(self, action_id: str) -> list[bytes]:
        """The reply chunks, with the golden ActionID replaced by ``action_id``."""
        old = f"ActionID: {self.action_id}\r\n".encode()
        new = f"ActionID: {action_id}\r\n".encode()
        return [chunk.replace(old, new) for chunk in self.replies]


_ACTION_ID = re.compile(rb"(?:^|\r\n)ActionID: ([^\r\n]*)\r\n")


class Transcript:
    """A parsed golden ``*.ami.txt`` file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.chunks: list[Chunk] = []
        for line in path.read_text("ascii").splitlines():
            if not line.strip():
                continue
            at, direction, text = line.strip().split(" ", 2)
            data = bytes(text, "ascii").decode("unicode_escape").encode("latin-1")
            self.chunks.append(Chunk(float(at), direction, data))

    @property
    def server_chunks(self) -> list[bytes]:
        """Every chunk Asterisk sent, in order."""
        return [c.data for c in self.chunks if c.direction == "<<<"]

    @property
    def server_bytes(self) -> bytes:
        return b"".join(self.server_chunks)

    def exchanges(self) -> list[Exchange]:
        parser = AmiParser(expect_banner=False, kinds=("Action",))
        result: list[Exchange] = []
        batch: list[Exchange] = []
        segment: list[Chunk] = []

        def flush() -> None:
            if batch and segment:
                _assign(batch, segment)

        for chunk in self.chunks:
            if chunk.direction == ">>>":
                if segment:
                    flush()
                    batch, segment = [], []
                for action in parser.feed(chunk.data):
                    exchange = Exchange(action)
                    batch.append(exchange)
                    result.append(exchange)
            elif batch:
                segment.append(chunk)
        flush()
        return result

    def exchange(self, action_id: str) -> Exchange:
        for exchange in self.exchanges():
            if exchange.action_id == action_id:
                return exchange
        raise KeyError(action_id)


def _assign(batch: list[Exchange], segment: list[Chunk]) -> None:
    data = b"".join(c.data for c in segment)
    starts: list[int] = []
    offset = 0
    for chunk in segment:
        starts.append(offset)
        offset += len(chunk.data)
    cuts = {*starts[1:], offset}
    by_id = {e.action_id: e for e in batch}
    owner = batch[0]
    start = 0
    while start < len(data):
        end = data.find(b"\r\n\r\n", start)
        end = len(data) if end < 0 else end + 4
        match = _ACTION_ID.search(data, start, end)
        if match and match.group(1).decode() in by_id:
            owner = by_id[match.group(1).decode()]
        inner = sorted(c for c in cuts if start < c < end)
        pieces = [data[a:b] for a, b in zip([start, *inner], [*inner, end], strict=True)]
        if owner.replies and start not in cuts and start != 0:
            owner.replies[-1] += pieces.pop(0)  # continues the chunk the previous message ended in
        owner.replies.extend(pieces)
        if owner.replied_at is None:
            owner.replied_at = segment[max(i for i, s in enumerate(starts) if s <= start)].at
        start = end


class ServerSession:
    """One client connection to the scripted server."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.actions: list[AmiMessage] = []

    async def send(self, *chunks: bytes, gap: float = 0.0) -> None:
        """Write chunks one by one (``gap`` seconds apart so that TCP keeps them separate)."""
        for i, chunk in enumerate(chunks):
            if i and gap:
                await asyncio.sleep(gap)
            self.writer.write(chunk)
            await self.writer.drain()

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()

    @property
    def closed(self) -> bool:
        return self.writer.is_closing()


Handler = Callable[[ServerSession, AmiMessage], Awaitable[None]]


class ScriptedAmiServer:
    """A TCP server that greets like Asterisk and answers actions through ``handler``."""

    def __init__(self, handler: Handler, *, greeting: list[bytes] | None = None) -> None:
        self.handler = handler
        self.greeting = [BANNER] if greeting is None else greeting
        self.sessions: list[ServerSession] = []
        self.actions: list[AmiMessage] = []
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.session_opened = asyncio.Event()

    async def start(self) -> None:
        """Listen on 127.0.0.1 (a free port the first time, the same port afterwards)."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop_listening(self) -> None:
        """Refuse new connections (existing sessions stay open)."""
        if self._server is not None:
            # Not wait_closed(): from Python 3.12 on it also waits for the open sessions to end.
            self._server.close()
            self._server = None

    async def close(self) -> None:
        await self.stop_listening()
        for session in self.sessions:
            session.writer.transport.abort()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def names(self) -> list[str]:
        """Action names received so far, across sessions."""
        return [a.fields.get("Action", "") for a in self.actions]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        session = ServerSession(reader, writer)
        self.sessions.append(session)
        self.session_opened.set()
        parser = AmiParser(expect_banner=False, kinds=("Action",))
        try:
            if self.greeting:
                await session.send(*self.greeting)
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                for action in parser.feed(data):
                    session.actions.append(action)
                    self.actions.append(action)
                    await self.handler(session, action)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._tasks.discard(task)
            writer.close()


def golden_handler(*transcripts: Transcript, extra: dict[str, Handler] | None = None) -> Handler:
    """Answer each action with the golden reply of the same action name (in transcript order).

    The n-th Login gets the n-th golden Login exchange (the last one repeats); ``extra`` overrides
    per action name. Unknown actions get Asterisk's real "Invalid/unknown command" error.
    """
    by_name: dict[str, list[Exchange]] = {}
    for transcript in transcripts:
        for exchange in transcript.exchanges():
            by_name.setdefault(exchange.name, []).append(exchange)
    counts: dict[str, int] = {}
    overrides = extra or {}

    async def handle(session: ServerSession, action: AmiMessage) -> None:
        name = action.fields.get("Action", "")
        action_id = action.fields.get("ActionID", "")
        if name in overrides:
            await overrides[name](session, action)
            return
        options = by_name.get(name)
        if not options:
            await session.send(
                f"Response: Error\r\nActionID: {action_id}\r\nMessage: Invalid/unknown command: {name}. "
                "Use Action: ListCommands to show available commands.\r\n\r\n".encode()
            )
            return
        n = counts.get(name, 0)
        counts[name] = n + 1
        await session.send(*options[min(n, len(options) - 1)].reply_for(action_id))

    return handle


@pytest.fixture
def transcript(golden_dir: Path) -> Callable[[str], Transcript]:
    """Load ``golden/ami/<name>.ami.txt``."""

    def load(name: str) -> Transcript:
        return Transcript(golden_dir / "ami" / f"{name}.ami.txt")

    return load


@pytest.fixture
def all_transcripts(golden_dir: Path) -> list[Transcript]:
    return [Transcript(p) for p in sorted((golden_dir / "ami").glob("*.ami.txt"))]


@pytest.fixture
async def ami_server() -> AsyncIterator[Callable[..., Awaitable[ScriptedAmiServer]]]:
    """Factory: ``await ami_server(handler)`` starts a scripted server; all are closed after the test."""
    servers: list[ScriptedAmiServer] = []

    async def make(handler: Handler, *, greeting: list[bytes] | None = None) -> ScriptedAmiServer:
        server = ScriptedAmiServer(handler, greeting=greeting)
        await server.start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        await server.close()


@pytest.fixture
def golden() -> Callable[..., Handler]:
    """``golden(transcript, ...)`` builds a handler replaying golden replies."""
    return golden_handler


async def eventually(condition: Callable[[], bool], timeout: float = 5.0) -> None:  # noqa: ASYNC109
    """Wait (real time, for socket I/O) until ``condition()`` holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.005)


@pytest.fixture
def wait_until() -> Callable[..., Awaitable[None]]:
    return eventually
