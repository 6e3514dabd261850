"""Scripted far ends: callers (DTMF, speech, hang-up at given times), agents (answer, talk, never answer)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sim.channels import CAUSE_BUSY, CAUSE_NORMAL_CLEARING, Channel, ChannelState
from sim.media import AudioSegment, read_wav

if TYPE_CHECKING:
    from sim.pbx import Pbx

log = logging.getLogger(__name__)

DIGIT_SPACING = 0.35  # SendDTMF's default rhythm: 100 ms tone + 250 ms gap
RING_DELAY = 0.002  # a softphone answers the INVITE with 180 Ringing almost at once
PHONE_MEDIA_DELAY = 0.02  # first RTP packet after answer


@dataclass(frozen=True)
class ScriptedCaller:
    """A caller on the PSTN trunk. Times are seconds after the call is answered."""

    number: str = "+15550100000"
    name: str = "Caller"
    dtmf: Sequence[tuple[float, str]] = ()
    audio: Path | Sequence[Path] | None = None  # heard by RECORD FILE: one file for all, or one per recording
    speak_delay: float = 0.3  # how long after a recording starts the caller begins to speak
    talk_audio: Path | None = None  # what the caller says once connected to an agent
    hangup_after: float | None = None  # None: stays until the other side hangs up
    trunk: str = "carrier"
    sends_media: bool = True  # False models a SIP client that sends no RTP (as SIPp in the golden capture)

    def utterance(self, index: int) -> Path | None:
        """The audio for the ``index``-th recording (0-based), or None for silence."""
        if self.audio is None:
            return None
        if isinstance(self.audio, Path | str):
            return Path(self.audio)
        return Path(self.audio[index]) if index < len(self.audio) else None


@dataclass(frozen=True)
class ScriptedAgent:
    """An agent's softphone on a PJSIP endpoint."""

    endpoint: str
    answer_after: float | None = 2.0  # None: rings until the caller gives up
    talk_for: float | None = 30.0  # None: stays until the caller hangs up
    registered: bool = True
    busy: bool = False  # rejects calls with 486 Busy Here
    talk_audio: Path | None = None  # what the agent says once connected
    contact: str | None = None  # contact URI; default sip:<endpoint>@127.0.0.1:5070


def _load(path: Path) -> bytes | None:
    try:
        return read_wav(path)
    except (OSError, ValueError, EOFError) as exc:
        log.warning("scripted audio unreadable path=%s error=%s", path, exc)
        return None


async def speak(pbx: Pbx, ch: Channel, path: Path, delay: float) -> None:
    """After ``delay`` seconds, the party behind ``ch`` says the content of ``path``."""
    pcm = _load(path)
    if pcm is None:
        return
    await pbx.clock.sleep(delay)
    if not ch.destroyed:
        far_end_audio(pbx, ch, pcm)


def far_end_audio(pbx: Pbx, ch: Channel, pcm: bytes) -> None:
    """Audio spoken by the party behind ``ch``: heard on ``ch`` and by its bridge peers."""
    seg = AudioSegment(pbx.now(), pcm)
    ch.heard.append(seg)
    if ch.media_at is None:
        ch.media_at = seg.start
    ch.notify()
    bridge = pbx.bridges.get(ch.bridge_id) if ch.bridge_id else None
    if bridge is not None:
        for peer in bridge.members:
            if peer is not ch:
                peer.heard.append(seg)
                peer.notify()


class CallerRuntime:
    """Drives one call of a ScriptedCaller."""

    def __init__(self, caller: ScriptedCaller) -> None:
        self.caller = caller
        self.recordings = 0

    def on_answer(self, pbx: Pbx, ch: Channel) -> None:
        if self.caller.sends_media:
            ch.media_at = pbx.now() + PHONE_MEDIA_DELAY
        if self.caller.dtmf:
            pbx.spawn(self._dtmf(pbx, ch), name=f"caller dtmf {ch.name}")
        if self.caller.hangup_after is not None:
            pbx.spawn(self._hangup(pbx, ch), name=f"caller hangup {ch.name}")

    async def _dtmf(self, pbx: Pbx, ch: Channel) -> None:
        start = ch.answered_at or pbx.now()
        for at, digits in sorted(self.caller.dtmf, key=lambda item: item[0]):
            for i, digit in enumerate(digits):
                delay = start + at + i * DIGIT_SPACING - pbx.now()
                if delay > 0:
                    await pbx.clock.sleep(delay)
                if ch.destroyed:
                    return
                pbx.receive_dtmf(ch, digit)

    async def _hangup(self, pbx: Pbx, ch: Channel) -> None:
        assert self.caller.hangup_after is not None
        delay = (ch.answered_at or pbx.now()) + self.caller.hangup_after - pbx.now()
        if delay > 0:
            await pbx.clock.sleep(delay)
        if not ch.destroyed:
            log.info("scripted caller hangs up channel=%s", ch.name)
            pbx.request_hangup(ch, CAUSE_NORMAL_CLEARING)

    def on_record(self, pbx: Pbx, ch: Channel) -> None:
        """A RECORD FILE started on the caller's channel: speak the next utterance after a short pause."""
        path = self.caller.utterance(self.recordings)
        self.recordings += 1
        if path is not None:
            pbx.spawn(speak(pbx, ch, path, self.caller.speak_delay), name=f"caller speaks {ch.name}")

    def on_bridge(self, pbx: Pbx, ch: Channel) -> None:
        if self.caller.talk_audio is not None:
            pbx.spawn(speak(pbx, ch, self.caller.talk_audio, 0.5), name=f"caller talks {ch.name}")


class AgentRuntime:
    """Drives one call to a ScriptedAgent's phone: ring, answer after N s, hang up after M s."""

    def __init__(self, agent: ScriptedAgent) -> None:
        self.agent = agent

    def on_dialed(self, pbx: Pbx, ch: Channel) -> None:
        pbx.spawn(self._ring(pbx, ch), name=f"agent rings {ch.name}")

    async def _ring(self, pbx: Pbx, ch: Channel) -> None:
        await pbx.clock.sleep(RING_DELAY)
        if ch.interrupted or ch.destroyed:
            return
        if self.agent.busy:
            pbx.request_hangup(ch, CAUSE_BUSY)
            return
        pbx.set_state(ch, ChannelState.RINGING)
        if self.agent.answer_after is None:
            return
        await pbx.clock.sleep(self.agent.answer_after)
        if not ch.interrupted and not ch.destroyed:
            ch.media_at = pbx.now() + PHONE_MEDIA_DELAY
            pbx.set_state(ch, ChannelState.UP)

    def on_answer(self, pbx: Pbx, ch: Channel) -> None:
        if self.agent.talk_for is not None:
            pbx.spawn(self._talk(pbx, ch, self.agent.talk_for), name=f"agent talks {ch.name}")

    async def _talk(self, pbx: Pbx, ch: Channel, seconds: float) -> None:
        await pbx.clock.sleep(seconds)
        if not ch.destroyed:
            log.info("scripted agent hangs up channel=%s", ch.name)
            pbx.request_hangup(ch, CAUSE_NORMAL_CLEARING)

    def on_bridge(self, pbx: Pbx, ch: Channel) -> None:
        if self.agent.talk_audio is not None:
            pbx.spawn(speak(pbx, ch, self.agent.talk_audio, 0.3), name=f"agent talks {ch.name}")
