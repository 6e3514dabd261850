"""Typed AMI events and responses: what the rest of Switchboard receives instead of header dicts.

Every name in ``ami.consumed.CONSUMED_EVENTS`` has a frozen dataclass here whose attributes are the
headers the controller reads, converted (``ChannelState`` -> ``int | None``). Missing headers become
``""`` (text) or ``None`` (numbers), so a hostile or truncated event never raises; ``fields`` keeps
every header exactly as received. Unknown names parse to a plain :class:`AmiEvent`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar, Final

from ami.consumed import is_consumed
from ami.protocol import AmiMessage

RESYNC_EVENT: Final = "SwitchboardResync"
_SUCCESS_STATUSES: Final = frozenset({"Success", "Goodbye", "Follows"})


def _int(text: str | None) -> int | None:
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        return None


def _bool(text: str | None) -> bool:
    return (text or "").strip().lower() in ("true", "yes", "1", "on")


_CONVERTERS: Final[dict[str, Callable[[str | None], Any]]] = {"int | None": _int, "bool": _bool}


def h(header: str, default: Any = "") -> Any:
    """Declare a typed attribute read from one AMI header."""
    return field(default=default, metadata={"header": header})


@dataclass(frozen=True)
class AmiEvent:
    """Any AMI event. ``received_at`` is the client clock's ``monotonic()`` when its bytes arrived."""

    name: str
    fields: Mapping[str, str]
    received_at: float = 0.0

    # Builds an instance from a header dict; generated per class by _register.
    _build: ClassVar[Callable[[str, dict[str, str], float], AmiEvent]]

    def get(self, key: str, default: str = "") -> str:
        """A header's value, or ``default`` when absent."""
        return self.fields.get(key, default)

    @property
    def action_id(self) -> str | None:
        """The ActionID this event answers (list items, OriginateResponse), if any."""
        return self.fields.get("ActionID")

    @property
    def timestamp(self) -> float | None:
        """Asterisk's ``Timestamp:`` (only with ``timestampevents = yes``), seconds since the epoch."""
        try:
            return float(self.fields["Timestamp"])
        except (KeyError, ValueError):
            return None


def _register(cls: type[AmiEvent]) -> type[AmiEvent]:
    """Generate ``cls._build``: one dict literal of header lookups, set as the instance's __dict__.

    This runs for every event, so it bypasses the frozen dataclass __init__ (one object.__setattr__
    per attribute) and the per-attribute loop a generic builder would need; dataclasses generates its
    own __init__ the same way. Header names come from this module, never from the wire.
    """
    items = ["'name': name", "'fields': _proxy(fields)", "'received_at': received_at"]
    namespace: dict[str, Any] = {"cls": cls, "_new": object.__new__, "_set": object.__setattr__}
    namespace["_proxy"] = MappingProxyType
    for f in dataclasses.fields(cls):
        header = f.metadata.get("header")
        if header is None:
            continue
        convert = _CONVERTERS.get(str(f.type))
        if convert is None:
            items.append(f"{f.name!r}: get({header!r}, '')")
        else:
            namespace[f"_convert_{f.name}"] = convert
            items.append(f"{f.name!r}: _convert_{f.name}(get({header!r}))")
    source = (
        "def build(name, fields, received_at):\n"
        "    get = fields.get\n"
        "    event = _new(cls)\n"
        f"    _set(event, '__dict__', {{{', '.join(items)}}})\n"
        "    return event\n"
    )
    exec(source, namespace)
    cls._build = staticmethod(namespace["build"])  # type: ignore[assignment]
    return cls


def _typed(cls: type[Any]) -> type[Any]:
    """Frozen, keyword-only dataclass whose attributes are filled from headers."""
    return _register(dataclass(frozen=True, kw_only=True)(cls))


# -- shared snapshots -------------------------------------------------------------------------------


@_typed
class ChannelEvent(AmiEvent):
    """An event carrying Asterisk's channel snapshot headers."""

    channel: str = h("Channel")
    channel_state: int | None = h("ChannelState", None)
    channel_state_desc: str = h("ChannelStateDesc")
    caller_id_num: str = h("CallerIDNum")
    caller_id_name: str = h("CallerIDName")
    connected_line_num: str = h("ConnectedLineNum")
    connected_line_name: str = h("ConnectedLineName")
    language: str = h("Language")
    account_code: str = h("AccountCode")
    context: str = h("Context")
    exten: str = h("Exten")
    priority: int | None = h("Priority", None)
    uniqueid: str = h("Uniqueid")
    linkedid: str = h("Linkedid")


@_typed
class DialEvent(ChannelEvent):
    """Dial progress: caller snapshot (empty when Asterisk dialled by itself, as for Originate) and Dest*."""

    dest_channel: str = h("DestChannel")
    dest_channel_state: int | None = h("DestChannelState", None)
    dest_channel_state_desc: str = h("DestChannelStateDesc")
    dest_caller_id_num: str = h("DestCallerIDNum")
    dest_caller_id_name: str = h("DestCallerIDName")
    dest_connected_line_num: str = h("DestConnectedLineNum")
    dest_connected_line_name: str = h("DestConnectedLineName")
    dest_language: str = h("DestLanguage")
    dest_account_code: str = h("DestAccountCode")
    dest_context: str = h("DestContext")
    dest_exten: str = h("DestExten")
    dest_priority: int | None = h("DestPriority", None)
    dest_uniqueid: str = h("DestUniqueid")
    dest_linkedid: str = h("DestLinkedid")

    @property
    def has_caller(self) -> bool:
        """False when no calling channel dialled (the Dial of an Originate)."""
        return bool(self.channel)


@_typed
class BridgeEvent(AmiEvent):
    """An event carrying a bridge snapshot."""

    bridge_uniqueid: str = h("BridgeUniqueid")
    bridge_type: str = h("BridgeType")
    bridge_technology: str = h("BridgeTechnology")
    bridge_creator: str = h("BridgeCreator")
    bridge_name: str = h("BridgeName")
    bridge_num_channels: int | None = h("BridgeNumChannels", None)
    bridge_video_source_mode: str = h("BridgeVideoSourceMode")


@_typed
class ListComplete(AmiEvent):
    """The closing event of a list action."""

    event_list: str = h("EventList")
    list_items: int | None = h("ListItems", None)


# -- session life -----------------------------------------------------------------------------------


@_typed
class FullyBooted(AmiEvent):
    """Asterisk is ready (sent at login and at the end of boot); the client resynchronises after it."""

    uptime: int | None = h("Uptime", None)
    last_reload: int | None = h("LastReload", None)
    status: str = h("Status")


@_typed
class Shutdown(AmiEvent):
    """Asterisk is stopping or restarting; the socket closes next."""

    shutdown: str = h("Shutdown")
    restart: bool = h("Restart", False)


# -- channels and calls -----------------------------------------------------------------------------


@_typed
class Newchannel(ChannelEvent):
    """A channel was created."""


@_typed
class Newstate(ChannelEvent):
    """A channel changed state (``channel_state`` 6 = Up)."""


@_typed
class Hangup(ChannelEvent):
    """A channel is gone."""

    cause: int | None = h("Cause", None)
    cause_txt: str = h("Cause-txt")


@_typed
class DialBegin(DialEvent):
    """Dial started ringing a destination."""

    dial_string: str = h("DialString")


@_typed
class DialState(DialEvent):
    """Dial progress (``RINGING``, ``PROCEEDING``...)."""

    dial_status: str = h("DialStatus")
    forward: str = h("Forward")


@_typed
class DialEnd(DialEvent):
    """Dial ended: ``ANSWER``, ``NOANSWER``, ``BUSY``, ``CHANUNAVAIL``, ``CANCEL``..."""

    dial_status: str = h("DialStatus")
    forward: str = h("Forward")


@_typed
class BridgeCreate(BridgeEvent):
    """A bridge was created."""


@_typed
class BridgeDestroy(BridgeEvent):
    """A bridge was destroyed."""


@_typed
class BridgeEnter(BridgeEvent, ChannelEvent):
    """A channel entered a bridge."""

    swap_uniqueid: str = h("SwapUniqueid")


@_typed
class BridgeLeave(BridgeEvent, ChannelEvent):
    """A channel left a bridge."""


@_typed
class MusicOnHoldStart(ChannelEvent):
    """Music on hold started on a channel (the caller is waiting)."""

    music_class: str = h("Class")


@_typed
class MusicOnHoldStop(ChannelEvent):
    """Music on hold stopped on a channel."""


@_typed
class MixMonitorStart(ChannelEvent):
    """Recording started on a channel."""


@_typed
class MixMonitorStop(ChannelEvent):
    """Recording stopped on a channel."""


@_typed
class OriginateResponse(AmiEvent):
    """Outcome of an ``Async: true`` Originate, matched to it by ActionID."""

    response: str = h("Response")
    channel: str = h("Channel")
    context: str = h("Context")
    exten: str = h("Exten")
    application: str = h("Application")
    data: str = h("Data")
    reason: int | None = h("Reason", None)
    uniqueid: str = h("Uniqueid")
    caller_id_num: str = h("CallerIDNum")
    caller_id_name: str = h("CallerIDName")

    @property
    def success(self) -> bool:
        """True when the originated channel was answered."""
        return self.response == "Success"


@_typed
class VarSet(ChannelEvent):
    """A variable was set (``channel`` is ``none`` for globals); the controller reads only ``SB_*``."""

    variable: str = h("Variable")
    value: str = h("Value")

    @property
    def consumed(self) -> bool:
        """True for the variables the controller reads (``SB_*``)."""
        return is_consumed(self.name, self.variable)


# -- agents' softphones -----------------------------------------------------------------------------


@_typed
class DeviceStateChange(AmiEvent):
    """A device (``PJSIP/101``) changed state (``NOT_INUSE``, ``INUSE``, ``RINGING``, ``UNAVAILABLE``...)."""

    device: str = h("Device")
    state: str = h("State")


@_typed
class ContactStatus(AmiEvent):
    """A PJSIP contact was created, reached, lost or removed."""

    uri: str = h("URI")
    contact_status: str = h("ContactStatus")
    aor: str = h("AOR")
    endpoint_name: str = h("EndpointName")
    roundtrip_usec: int | None = h("RoundtripUsec", None)


@_typed
class PeerStatus(AmiEvent):
    """An endpoint became reachable or unreachable."""

    channel_type: str = h("ChannelType")
    peer: str = h("Peer")
    peer_status: str = h("PeerStatus")
    cause: str = h("Cause")
    address: str = h("Address")


# -- list actions -----------------------------------------------------------------------------------


@_typed
class CoreShowChannel(ChannelEvent):
    """One live channel in a ``CoreShowChannels`` list."""

    application: str = h("Application")
    application_data: str = h("ApplicationData")
    duration: str = h("Duration")
    bridge_id: str = h("BridgeId")

    @property
    def duration_seconds(self) -> int | None:
        """``Duration`` (``HH:MM:SS``) in seconds."""
        parts = self.duration.split(":")
        if len(parts) != 3 or not all(p.isdigit() for p in parts):
            return None
        hours, minutes, seconds = (int(p) for p in parts)
        return hours * 3600 + minutes * 60 + seconds


@_typed
class CoreShowChannelsComplete(ListComplete):
    """End of a ``CoreShowChannels`` list."""


@_typed
class Status(ChannelEvent):
    """One channel in a ``Status`` list."""

    type: str = h("Type")
    dnid: str = h("DNID")
    application: str = h("Application")
    data: str = h("Data")
    bridge_id: str = h("BridgeID")
    seconds: int | None = h("Seconds", None)


@_typed
class StatusComplete(ListComplete):
    """End of a ``Status`` list."""

    items: int | None = h("Items", None)


@_typed
class DeviceStateListComplete(ListComplete):
    """End of a ``DeviceStateList`` list."""


# -- ours -------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ResyncEvent(AmiEvent):
    """Put into a subscription by the client, never sent by Asterisk: events before it may be missing.

    ``reason`` is ``"connected"`` (after each login's FullyBooted) or ``"overflow"`` (this subscriber
    fell behind and ``dropped`` events were discarded). ``channels`` are the live channels at that
    point; events after the marker are newer than the snapshot.
    """

    reason: str = ""
    channels: tuple[CoreShowChannel, ...] = ()
    dropped: int = 0


EVENT_TYPES: Final[Mapping[str, type[AmiEvent]]] = MappingProxyType(
    {
        cls.__name__: cls
        for cls in (
            FullyBooted,
            Shutdown,
            Newchannel,
            Newstate,
            Hangup,
            DialBegin,
            DialState,
            DialEnd,
            BridgeCreate,
            BridgeEnter,
            BridgeLeave,
            BridgeDestroy,
            MusicOnHoldStart,
            MusicOnHoldStop,
            MixMonitorStart,
            MixMonitorStop,
            OriginateResponse,
            VarSet,
            DeviceStateChange,
            ContactStatus,
            PeerStatus,
            CoreShowChannel,
            CoreShowChannelsComplete,
            Status,
            StatusComplete,
            DeviceStateListComplete,
        )
    }
)


_register(AmiEvent)
_BUILDERS: Final[dict[str, Callable[[str, dict[str, str], float], AmiEvent]]] = {
    name: cls._build for name, cls in EVENT_TYPES.items()
}
_build_plain = AmiEvent._build


def parse_event(message: AmiMessage | Mapping[str, str], received_at: float = 0.0) -> AmiEvent:
    """The typed event for a parsed message (a plain :class:`AmiEvent` for names we do not consume)."""
    fields = message.fields if isinstance(message, AmiMessage) else dict(message)
    name = fields.get("Event", "")
    return _BUILDERS.get(name, _build_plain)(name, fields, received_at)


@dataclass(frozen=True)
class AmiResponse:
    """Asterisk's reply to one action; ``events`` holds the items of a list action (``EventList: start``)."""

    success: bool
    message: str
    fields: Mapping[str, str]
    events: tuple[AmiEvent, ...] = ()

    @property
    def status(self) -> str:
        """The ``Response:`` value (``Success``, ``Error``, ``Goodbye``...)."""
        return self.fields.get("Response", "")

    @property
    def action_id(self) -> str | None:
        """The ActionID Asterisk echoed."""
        return self.fields.get("ActionID")

    def get(self, key: str, default: str = "") -> str:
        """A header's value, or ``default`` when absent."""
        return self.fields.get(key, default)

    @classmethod
    def from_message(cls, message: AmiMessage, events: tuple[AmiEvent, ...] = ()) -> AmiResponse:
        """Build from a parsed ``Response:`` message."""
        fields = message.fields
        return cls(
            success=fields.get("Response", "") in _SUCCESS_STATUSES,
            message=fields.get("Message", ""),
            fields=MappingProxyType(fields),
            events=events,
        )
