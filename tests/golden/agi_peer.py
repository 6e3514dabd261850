"""A FastAGI server that replays the commands of golden AGI transcripts and records what it gets back."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field

from switchboard.clock import Clock
from tests.golden.golden_compare import AgiExchange, AgiTranscript, is_final_reply

REPLY_WAIT = 30.0  # real seconds; the test drives the emulator's clock meanwhile


@dataclass
class PeerSession:
    """What one AGI connection received."""

    env: list[tuple[str, str]] = field(default_factory=list)
    exchanges: list[AgiExchange] = field(default_factory=list)
    hangup_after: int | None = None
    closed_by_peer: bool = False
    done: asyncio.Event = field(default_factory=asyncio.Event)


class GoldenAgiPeer:
    """Serves ``scripts[agi_network_script]``: sends each golden command once the previous reply is complete.

    After the last command it waits ``linger`` seconds of the clock before closing, as the golden capture's
    server did (the channel leaves AGI only then).
    """

    def __init__(self, clock: Clock, scripts: Mapping[str, AgiTranscript], linger: float = 2.0) -> None:
        self.clock = clock
        self.scripts = dict(scripts)
        self.linger = linger
        self.sessions: list[PeerSession] = []
        self._server: asyncio.base_events.Server | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.sockets[0].getsockname()[1]

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = PeerSession()
        self.sessions.append(session)
        try:
            while True:
                line = (await asyncio.wait_for(reader.readline(), REPLY_WAIT)).decode().rstrip("\n")
                if line == "":
                    break
                key, _, value = line.partition(": ")
                session.env.append((key, value))
            script = self.scripts[dict(session.env)["agi_network_script"]]
            for exchange in script.exchanges:
                writer.write(f"{exchange.command}\n".encode())
                reply: list[str] = []
                while True:
                    raw = await asyncio.wait_for(reader.readline(), REPLY_WAIT)
                    if not raw:
                        session.closed_by_peer = True
                        return
                    text = raw.decode().rstrip("\n")
                    if text == "HANGUP":
                        session.hangup_after = len(session.exchanges) - 1
                        continue
                    reply.append(text)
                    if is_final_reply(text):
                        break
                session.exchanges.append(AgiExchange(exchange.command, tuple(reply)))
            await self._linger(reader, session)
        finally:
            writer.close()
            session.done.set()

    async def _linger(self, reader: asyncio.StreamReader, session: PeerSession) -> None:
        """Keep reading (a HANGUP may still come) for ``linger`` seconds of clock time."""
        async def read_rest() -> None:
            while True:
                raw = await reader.readline()
                if not raw:
                    return
                if raw.decode().rstrip("\n") == "HANGUP":
                    session.hangup_after = len(session.exchanges) - 1

        rest = asyncio.ensure_future(read_rest())
        try:
            await self.clock.sleep(self.linger)
        finally:
            rest.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await rest
