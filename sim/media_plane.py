"""Media and DTMF between channels: who hears what a channel plays, and who gets the digits it sends."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from sim.channels import Channel
from sim.media import AudioSegment
from switchboard.clock import Clock

if TYPE_CHECKING:
    from sim.pbx import Bridge

MEDIA_START_DELAY = 0.02  # first RTP/MOH frame after a stream starts


class MediaPlane:
    """Mixed into the Pbx: audio segments and DTMF travel along Local pairs and bridges."""

    clock: Clock
    bridges: dict[str, Bridge]

    def now(self) -> float:
        return self.clock.monotonic()

    def media_peers(self, ch: Channel) -> list[Channel]:
        """Channels that hear what ``ch`` plays: its Local partner and its bridge peers."""
        peers = []
        if ch.partner is not None and not ch.partner.destroyed:
            peers.append(ch.partner)
        bridge = self.bridges.get(ch.bridge_id) if ch.bridge_id else None
        if bridge is not None:
            peers.extend(m for m in bridge.members if m is not ch)
        return peers

    def transmit(self, ch: Channel, pcm: bytes, voice: bool = True) -> AudioSegment:
        """``ch`` plays ``pcm`` now: recorded as sent, heard by its peers."""
        seg = AudioSegment(self.now(), pcm, voice)
        ch.sent.append(seg)
        for peer in self.media_peers(ch):
            peer.heard.append(seg)
            if peer.media_at is None or peer.media_at > seg.start:
                peer.media_at = seg.start
            peer.notify()
        return seg

    def start_media(self, ch: Channel) -> None:
        """``ch`` starts a continuous stream (music on hold): its peers see media shortly after."""
        for peer in self.media_peers(ch):
            if peer.media_at is None:
                peer.media_at = self.now() + MEDIA_START_DELAY
            peer.notify()

    def receive_dtmf(self, ch: Channel, digit: str) -> None:
        """A DTMF digit arrives on ``ch``; it is kept only while an application listens."""
        if ch.listening > 0 and not ch.destroyed:
            ch.digits.append(digit)
            ch.notify()

    def send_dtmf(self, ch: Channel, digit: str) -> None:
        """``ch`` sends a digit to whoever is on the other end."""
        for peer in self.media_peers(ch):
            self.receive_dtmf(peer, digit)

    @contextlib.contextmanager
    def listening(self, ch: Channel) -> Iterator[None]:
        """While inside, DTMF arriving on ``ch`` is queued (digits sent earlier are gone, as in Asterisk)."""
        if ch.listening == 0:
            ch.digits.clear()
        ch.listening += 1
        try:
            yield
        finally:
            ch.listening -= 1
            if ch.listening == 0:
                ch.digits.clear()

    async def next_digit(self, ch: Channel, limit: float | None) -> str | None:
        """The next digit (must be inside ``listening``): "" on timeout, None when interrupted."""
        deadline = None if limit is None else self.now() + limit
        while True:
            if ch.digits:
                return ch.digits.pop(0)
            if ch.interrupted:
                return None
            remaining = None if deadline is None else deadline - self.now()
            if remaining is not None and remaining <= 0:
                return ""
            await ch.signal.wait(self.clock, remaining)

    async def pause(self, ch: Channel, seconds: float | None) -> bool:
        """Wait ``seconds`` (None: until interrupted); False when interrupted by hang-up or redirect."""
        deadline = None if seconds is None else self.now() + seconds
        while not ch.interrupted:
            remaining = None if deadline is None else deadline - self.now()
            if remaining is not None and remaining <= 0:
                return True
            await ch.signal.wait(self.clock, remaining)
        return False
