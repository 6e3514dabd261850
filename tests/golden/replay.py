"""Replays a golden AMI scenario against the emulator on a ManualClock, over real TCP."""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sim.emulator import AsteriskEmulator
from switchboard.clock import ManualClock
from tests.golden.agi_peer import GoldenAgiPeer
from tests.golden.golden_compare import AmiMessage, AmiTranscript, load_agi_transcript, parse_ami_stream

CALLER_SOUND = "/var/lib/asterisk/sounds/custom/restart-please"  # what the golden caller plays
STEP = 0.02  # emulator seconds per clock step; small enough that I/O round trips keep golden timing
Stimulus = Callable[[AsteriskEmulator], Awaitable[None] | None]


async def drive(clock: ManualClock, until: float, step: float = STEP) -> None:
    """Advance the clock to ``until`` in small steps, letting socket I/O run between steps."""
    while clock.monotonic() < until - 1e-9:
        await clock.advance(min(step, until - clock.monotonic()))
        for _ in range(5):
            await asyncio.sleep(0)


@contextlib.contextmanager
def refused_port() -> Iterator[int]:
    """A port where a connection is refused for sure: bound but not listening."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


@dataclass
class ReplayResult:
    """What the emulator sent on the AMI socket, and what the scripted FastAGI peer saw."""

    banner: str | None
    messages: list[AmiMessage]
    closed: bool
    peer: GoldenAgiPeer | None = None
    files: list[Path] = field(default_factory=list)


def first_local_number(messages: Sequence[AmiMessage]) -> int:
    """The counter of the first Local channel in a transcript, so replayed actions name the same channels."""
    numbers = [int(m.group(1), 16) for msg in messages for _, value in msg.pairs
               for m in re.finditer(r"Local/[^;\s]+-([0-9a-f]{8});[12]", value)]
    return min(numbers, default=1)


def golden_emulator(clock: ManualClock, golden_dir: Path, tmp_path: Path, *, pjsip: bool, timestamps: bool,
                    agi: tuple[str, int], refused: int, local_start: int = 1) -> AsteriskEmulator:
    """An emulator configured like the Asterisk of the golden capture."""
    config = golden_dir / "asterisk-config"
    return AsteriskEmulator(
        clock,
        dialplan_path=config / "extensions.conf",
        ami_secret="golden-secret",
        timestamp_events=timestamps,
        pjsip_config=config / "pjsip.conf" if pjsip else None,
        sounds={CALLER_SOUND: golden_dir / "media" / "caller-says-restart-please.wav"},
        agi_redirects={"127.0.0.1:4573": agi, "127.0.0.1:4590": ("127.0.0.1", refused)},
        file_root=tmp_path / "files",
        local_counter_start=local_start,
    )


async def replay_ami(transcript: AmiTranscript, golden_dir: Path, tmp_path: Path, *, pjsip: bool = False,
                     agi_scripts: Sequence[str] = (), stimuli: Sequence[tuple[float, Stimulus]] = (),
                     tail: float = 1.0) -> ReplayResult:
    """Send the transcript's actions at their times; return everything the emulator wrote back."""
    clock = ManualClock()
    scripts = {name: load_agi_transcript(golden_dir / "agi" / f"{name}.agi.txt") for name in agi_scripts}
    peer = GoldenAgiPeer(clock, scripts)
    await peer.start()
    timestamps = any(m.get("Timestamp") is not None and not m.is_response for m in transcript.messages)
    with refused_port() as refused:
        emulator = golden_emulator(clock, golden_dir, tmp_path, pjsip=pjsip, timestamps=timestamps,
                                   agi=("127.0.0.1", peer.port), refused=refused,
                                   local_start=first_local_number(transcript.messages))
        await emulator.start()
        reader, writer = await asyncio.open_connection("127.0.0.1", emulator.ami_port)
        received = bytearray()
        closed = asyncio.Event()

        async def read_all() -> None:
            while True:
                data = await reader.read(65536)
                if not data:
                    closed.set()
                    return
                received.extend(data)

        read_task = asyncio.ensure_future(read_all())
        try:
            timeline: list[tuple[float, int, object]] = [(c.t, 0, c.data) for c in transcript.actions]
            timeline += [(t, 1, s) for t, s in stimuli]
            timeline.sort(key=lambda item: (item[0], item[1]))
            for at, _, what in timeline:
                await drive(clock, at)
                if isinstance(what, bytes):
                    if not closed.is_set():
                        writer.write(what)
                        await writer.drain()
                else:
                    result = what(emulator)  # type: ignore[operator]
                    if asyncio.iscoroutine(result):
                        await result
                for _ in range(10):
                    await asyncio.sleep(0)
            end = max((item[0] for item in timeline), default=0.0) + tail
            await drive(clock, end)
            for _ in range(20):
                await asyncio.sleep(0)
            closed_by_server = closed.is_set()
        finally:
            writer.close()
            await emulator.stop()
            await peer.close()
            read_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await read_task
    banner, messages = parse_ami_stream(bytes(received))
    files = sorted(p for p in (tmp_path / "files").rglob("*") if p.is_file())
    return ReplayResult(banner, messages, closed_by_server, peer, files)
