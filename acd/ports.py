"""What the ACD needs from Asterisk (a port), and the domain events it reacts to.

``acd/ami_glue.py`` implements the port on the AMI client and translates AMI events into these events;
tests use an in-memory implementation of the same port. Failures surface as ``PortError`` or
``ChannelGoneError`` (acd/errors.py), never as a library's exception.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class LiveChannel:
    """One channel Asterisk reports as alive (CoreShowChannel)."""

    channel: str
    uniqueid: str
    context: str = ""
    exten: str = ""
    application: str = ""
    bridge_id: str = ""
    duration_seconds: float = 0.0
    caller_number: str = ""


class AsteriskPort(Protocol):
    """The Asterisk-side actions of the ACD."""

    async def redirect(
        self,
        channel: str,
        context: str,
        exten: str = "s",
        priority: int = 1,
        *,
        variables: Mapping[str, str] | None = None,
    ) -> None:
        """Set ``variables`` on the channel, then send it to context/exten/priority."""
        ...

    async def hangup(self, channel: str) -> None:
        """Hang up a channel (a channel already gone is not an error)."""
        ...

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
        """Start an asynchronous Originate; the result arrives as ``OriginateResult`` with ``action_id``."""
        ...

    async def live_channels(self) -> list[LiveChannel]:
        """Every channel alive now (CoreShowChannels)."""
        ...

    async def get_variable(self, channel: str, name: str) -> str | None:
        """A channel variable (None when unset or the channel is gone)."""
        ...

    async def device_states(self) -> dict[str, str]:
        """Every device's state now (``PJSIP/101`` -> ``NOT_INUSE``, ``UNAVAILABLE``...)."""
        ...


# ---- domain events (what the ACD hears from Asterisk, already translated) ----


@dataclass(frozen=True)
class ChannelHungUp:
    channel: str
    uniqueid: str
    cause: int | None = None
    cause_text: str = ""


@dataclass(frozen=True)
class DialEnded:
    """A Dial from the caller's channel (uniqueid) to the agent ended with ``status``."""

    channel: str
    uniqueid: str
    dest_channel: str
    status: str  # ANSWER, NOANSWER, BUSY, CHANUNAVAIL, CANCEL, CONGESTION
    dest_uniqueid: str = ""  # the agent's leg


@dataclass(frozen=True)
class DialStarted:
    channel: str
    uniqueid: str
    dest_channel: str
    dest_uniqueid: str


@dataclass(frozen=True)
class BridgeEntered:
    channel: str
    uniqueid: str
    bridge_id: str


@dataclass(frozen=True)
class DeviceStateChanged:
    device: str  # "PJSIP/101"
    state: str  # NOT_INUSE, INUSE, RINGING, BUSY, UNAVAILABLE, ONHOLD, RINGINUSE, INVALID, UNKNOWN


@dataclass(frozen=True)
class ContactChanged:
    """A PJSIP contact: Created/Reachable/NonQualified mean registered; Removed/Unreachable mean not."""

    endpoint: str  # "PJSIP/101"
    status: str


@dataclass(frozen=True)
class ChannelVariableSet:
    channel: str
    uniqueid: str
    name: str
    value: str


@dataclass(frozen=True)
class HoldStarted:
    """Music on hold started: the caller is (back) in the hold context."""

    channel: str
    uniqueid: str


@dataclass(frozen=True)
class OriginateResult:
    action_id: str
    success: bool
    channel: str
    uniqueid: str
    reason: int | None = None


@dataclass(frozen=True)
class AsteriskResynced:
    """After a (re)connect: the live channels as Asterisk reports them."""

    channels: tuple[LiveChannel, ...] = field(default_factory=tuple)


AcdSignal = (
    ChannelHungUp
    | DialEnded
    | DialStarted
    | BridgeEntered
    | DeviceStateChanged
    | ContactChanged
    | ChannelVariableSet
    | HoldStarted
    | OriginateResult
    | AsteriskResynced
)
