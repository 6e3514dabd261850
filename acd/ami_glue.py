"""The ACD on the AMI client: the AsteriskPort adapter, and AMI events translated into ACD signals.

This is the one place where AMI errors become the ACD's (``ChannelGoneError``, ``PortError``) and AMI
event headers become typed domain events. Only the ``name`` and ``fields`` of events are read, as the
golden transcripts spell them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from acd.dispatcher import raise_if_cancel_lost
from acd.errors import ChannelGoneError, PortError
from acd.ports import (
    AcdSignal,
    AsteriskResynced,
    BridgeEntered,
    ChannelHungUp,
    ChannelVariableSet,
    ContactChanged,
    DeviceStateChanged,
    DialEnded,
    DialStarted,
    HoldStarted,
    LiveChannel,
    OriginateResult,
)
from ami.client import AmiClient
from ami.errors import AmiActionError, AmiError
from ami.events import AmiEvent, ResyncEvent
from switchboard.call_path import gate

log = logging.getLogger(__name__)

EVENT_NAMES = (
    "Hangup",
    "DialBegin",
    "DialEnd",
    "BridgeEnter",
    "DeviceStateChange",
    "ContactStatus",
    "PeerStatus",
    "VarSet",
    "MusicOnHoldStart",
    "OriginateResponse",
)
_GONE_MARKERS = ("does not exist", "no such channel")


def _gone(exc: AmiActionError) -> bool:
    text = (exc.message or "").lower()
    return any(m in text for m in _GONE_MARKERS)


class AmiAsteriskPort:
    """AsteriskPort on ``ami.client.AmiClient``."""

    def __init__(self, client: AmiClient) -> None:
        self.client = client

    async def _do(self, what: str, coro: Any) -> Any:
        try:
            return await coro
        except AmiActionError as exc:
            if _gone(exc):
                raise ChannelGoneError(f"{what}: {exc.message}") from exc
            raise PortError(f"{what}: {exc.message}") from exc
        except AmiError as exc:
            raise PortError(f"{what}: {exc}") from exc
        except ValueError as exc:  # a value with CR/LF never reaches the socket
            raise PortError(f"{what}: refused value: {exc}") from exc

    async def redirect(
        self,
        channel: str,
        context: str,
        exten: str = "s",
        priority: int = 1,
        *,
        variables: Mapping[str, str] | None = None,
    ) -> None:
        """Setvar each variable, then Redirect: written back to back, so it costs one round trip.

        Asterisk runs one session's actions in the order they arrive, so the variables are set before
        the Redirect moves the channel; a failed Setvar (channel gone) fails the whole connect.
        """
        steps = [
            self._do(f"Setvar {name} on {channel}", self.client.setvar(channel, name, value))
            for name, value in (variables or {}).items()
        ]
        steps.append(self._do(f"Redirect {channel}", self.client.redirect(channel, context, exten, priority)))
        results = await asyncio.gather(*steps, return_exceptions=True)
        # The Redirect's own error first: it says what happened to the caller.
        for result in (results[-1], *results[:-1]):
            if isinstance(result, BaseException):
                raise result

    async def hangup(self, channel: str) -> None:
        try:
            await self._do(f"Hangup {channel}", self.client.hangup(channel))
        except ChannelGoneError:
            log.debug("hangup of a channel already gone channel=%s", channel)

    async def originate(
        self,
        *,
        channel: str,
        context: str,
        exten: str = "s",
        priority: int = 1,
        caller_id: str | None = None,
        timeout_ms: int | None = None,
        variables: Mapping[str, str] | None = None,
        action_id: str,
    ) -> None:
        await self._do(
            f"Originate {channel}",
            self.client.originate(
                channel=channel,
                context=context,
                exten=exten,
                priority=priority,
                caller_id=caller_id,
                timeout_ms=timeout_ms,
                variables=variables,
                action_id=action_id,
            ),
        )

    async def live_channels(self) -> list[LiveChannel]:
        events = await self._do("CoreShowChannels", self.client.core_show_channels())
        return [live_channel(e) for e in events]

    async def get_variable(self, channel: str, name: str) -> str | None:
        try:
            return await self._do(f"Getvar {name}", self.client.getvar(channel, name))
        except ChannelGoneError:
            return None

    async def device_states(self) -> dict[str, str]:
        response = await self._do("DeviceStateList", self.client.action("DeviceStateList"))
        return {
            e.fields.get("Device", ""): e.fields.get("State", "")
            for e in response.events
            if e.fields.get("Device")
        }


def _duration(text: str) -> float:
    """``HH:MM:SS`` -> seconds (0 when unreadable)."""
    try:
        parts = [int(p) for p in text.split(":")]
    except ValueError:
        return 0.0
    total = 0
    for p in parts:
        total = total * 60 + p
    return float(total)


def live_channel(event: AmiEvent) -> LiveChannel:
    f = event.fields
    return LiveChannel(
        channel=f.get("Channel", ""),
        uniqueid=f.get("Uniqueid", ""),
        context=f.get("Context", ""),
        exten=f.get("Exten", ""),
        application=f.get("Application", ""),
        bridge_id=f.get("BridgeId", ""),
        duration_seconds=_duration(f.get("Duration", "")),
        caller_number=f.get("CallerIDNum", ""),
    )


def translate(event: AmiEvent) -> AcdSignal | None:
    """The ACD signal an AMI event means, or None when the ACD does not care about it."""
    f = event.fields
    name = event.name
    if name == "Hangup":
        cause = f.get("Cause", "")
        return ChannelHungUp(
            f.get("Channel", ""),
            f.get("Uniqueid", ""),
            int(cause) if cause.isdigit() else None,
            f.get("Cause-txt", ""),
        )
    if name == "DialEnd":
        if not f.get("Uniqueid"):  # the originate leg of a Local channel: no caller side
            return None
        return DialEnded(
            f.get("Channel", ""),
            f["Uniqueid"],
            f.get("DestChannel", ""),
            f.get("DialStatus", ""),
            f.get("DestUniqueid", ""),
        )
    if name == "DialBegin":
        if not f.get("Uniqueid"):
            return None
        return DialStarted(
            f.get("Channel", ""), f["Uniqueid"], f.get("DestChannel", ""), f.get("DestUniqueid", "")
        )
    if name == "BridgeEnter":
        return BridgeEntered(f.get("Channel", ""), f.get("Uniqueid", ""), f.get("BridgeUniqueid", ""))
    if name == "DeviceStateChange":
        return DeviceStateChanged(f.get("Device", ""), f.get("State", ""))
    if name == "ContactStatus":
        endpoint = f.get("EndpointName", "")
        return ContactChanged(f"PJSIP/{endpoint}", f.get("ContactStatus", "")) if endpoint else None
    if name == "PeerStatus":
        peer, status = f.get("Peer", ""), f.get("PeerStatus", "")
        return ContactChanged(peer, status) if peer else None
    if name == "VarSet":
        variable = f.get("Variable", "")
        if not variable.startswith("SB_"):
            return None
        return ChannelVariableSet(f.get("Channel", ""), f.get("Uniqueid", ""), variable, f.get("Value", ""))
    if name == "MusicOnHoldStart":
        return HoldStarted(f.get("Channel", ""), f.get("Uniqueid", ""))
    if name == "OriginateResponse":
        reason = f.get("Reason", "")
        return OriginateResult(
            f.get("ActionID", ""),
            f.get("Response", "") == "Success",
            f.get("Channel", ""),
            f.get("Uniqueid", ""),
            int(reason) if reason.isdigit() else None,
        )
    return None


class SignalHandler:
    """Anything with ``async handle(signal)`` (AcdService)."""

    async def handle(self, signal: AcdSignal) -> None: ...  # pragma: no cover


class AmiGlue:
    """Feeds translated AMI events to the ACD, in order, and reconciles at every resync marker.

    The subscription is opened at construction (before the AMI client starts), so no event between the
    login and the first ``run()`` is missed. The client puts a resync marker in the stream after each
    (re)login and after an overflow, exactly between the events older and newer than its channel list:
    the ACD reconciles there, in order with the events around it.
    """

    def __init__(self, client: AmiClient, handler: SignalHandler) -> None:
        self.client = client
        self.handler = handler
        self._subscription = client.subscribe(EVENT_NAMES)

    async def run(self) -> None:
        """Consume events until cancelled; a failing handler is logged and the stream goes on."""
        if self._subscription.closed:
            self._subscription = self.client.subscribe(EVENT_NAMES)
        async for event in self._subscription:
            if isinstance(event, ResyncEvent):
                channels = tuple(live_channel(e) for e in event.channels)
                log.info(
                    "acd resync after AMI %s channels=%d dropped=%d",
                    event.reason,
                    len(channels),
                    event.dropped,
                )
                signal: AcdSignal | None = AsteriskResynced(channels)
            else:
                signal = translate(event)
            if signal is None:
                continue
            try:
                with gate.reacting():  # bookkeeping waits while the ACD reacts (switchboard/call_path.py)
                    await self.handler.handle(signal)
            except Exception:
                log.exception("acd failed on %s uniqueid=%s", event.name, event.fields.get("Uniqueid", ""))
            raise_if_cancel_lost()

    def close(self) -> None:
        """Stop receiving events."""
        self._subscription.close()
