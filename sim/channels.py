"""The channel model: names, ids, states, caller and connected line, and the standard AMI field block."""

from __future__ import annotations

import enum
import itertools
from dataclasses import dataclass, field

from sim.media import AudioSegment
from sim.signals import Signal


class ChannelState(enum.IntEnum):
    """Asterisk's ``enum ast_channel_state`` (the numbers AMI and CHANNEL STATUS show)."""

    DOWN = 0
    RSRVD = 1
    OFFHOOK = 2
    DIALING = 3
    RING = 4
    RINGING = 5
    UP = 6
    BUSY = 7


STATE_DESC: dict[ChannelState, str] = {
    ChannelState.DOWN: "Down",
    ChannelState.RSRVD: "Rsrvd",
    ChannelState.OFFHOOK: "OffHook",
    ChannelState.DIALING: "Dialing",
    ChannelState.RING: "Ring",
    ChannelState.RINGING: "Ringing",
    ChannelState.UP: "Up",
    ChannelState.BUSY: "Busy",
}

# main/causes.c texts for the causes the emulator produces.
CAUSE_TEXT: dict[int, str] = {
    0: "Unknown",
    1: "Unallocated (unassigned) number",
    3: "No route to destination",
    16: "Normal Clearing",
    17: "User busy",
    18: "No user responding",
    19: "User alerting, no answer",
    21: "Call Rejected",
    27: "Destination out of order",
    31: "Normal, unspecified",
    34: "Circuit/channel congestion",
    38: "Network out of order",
    41: "Temporary failure",
}

CAUSE_NORMAL_CLEARING = 16
CAUSE_NO_ROUTE = 3
CAUSE_BUSY = 17

UNKNOWN = "<unknown>"


def cause_text(cause: int) -> str:
    """Cause-txt for a hangup cause."""
    return CAUSE_TEXT.get(cause, "Unknown")


@dataclass
class Party:
    """A caller id or connected line: None means not set (shown as ``<unknown>``)."""

    number: str | None = None
    name: str | None = None

    def copy(self) -> Party:
        return Party(self.number, self.name)


@dataclass
class Channel:
    """One emulated channel; the Pbx changes it and emits the events, this class only holds state."""

    name: str
    tech: str
    uniqueid: str
    linkedid: str
    state: ChannelState
    context: str
    exten: str
    priority: int
    created_at: float
    device: str
    caller: Party = field(default_factory=Party)
    connected: Party = field(default_factory=Party)
    language: str = "en"
    accountcode: str = ""
    dnid: str = ""
    variables: dict[str, str] = field(default_factory=dict)
    application: str = ""
    appdata: str = ""
    bridge_id: str = ""
    hangupcause: int = 0
    hangup_requested: bool = False
    pending_goto: tuple[str, str, int] | None = None
    destroyed: bool = False
    partner: Channel | None = None  # the other half of a Local pair
    endpoint: str | None = None  # PJSIP endpoint name
    far_end_media: bool = False  # the far end sends RTP continuously (real phones); Local/SIPp-like: False
    answered_at: float | None = None
    media_at: float | None = None  # when media from the far end last started flowing
    heard: list[AudioSegment] = field(default_factory=list)  # audio arriving from the far end
    sent: list[AudioSegment] = field(default_factory=list)  # audio this channel played out
    digits: list[str] = field(default_factory=list)  # DTMF received while someone listens
    listening: int = 0
    bridge_intervals: list[list[float]] = field(default_factory=list)
    signal: Signal = field(default_factory=Signal)
    watchers: set[Signal] = field(default_factory=set)
    party: object | None = None  # the scripted caller/agent driving the far end, if any
    has_pbx: bool = False  # a dialplan loop drives this channel
    owned: bool = False  # a Dial or an Originate drives this channel (it completes the hang-up)
    mixmonitors: list[object] = field(default_factory=list)

    @property
    def interrupted(self) -> bool:
        """An application must stop: hang-up requested or an async goto (Redirect) pending."""
        return self.hangup_requested or self.pending_goto is not None

    @property
    def is_local(self) -> bool:
        return self.tech == "Local"

    def notify(self) -> None:
        """Wake whatever waits on this channel."""
        self.signal.notify()
        for watcher in tuple(self.watchers):
            watcher.notify()

    def std_fields(self, prefix: str = "") -> list[tuple[str, str]]:
        """The channel block every channel event carries, in Asterisk's order (``Dest`` prefix for dials)."""
        return [
            (f"{prefix}Channel", self.name),
            (f"{prefix}ChannelState", str(int(self.state))),
            (f"{prefix}ChannelStateDesc", STATE_DESC[self.state]),
            (f"{prefix}CallerIDNum", _show(self.caller.number)),
            (f"{prefix}CallerIDName", _show(self.caller.name)),
            (f"{prefix}ConnectedLineNum", _show(self.connected.number)),
            (f"{prefix}ConnectedLineName", _show(self.connected.name)),
            (f"{prefix}Language", self.language),
            (f"{prefix}AccountCode", self.accountcode),
            (f"{prefix}Context", self.context),
            (f"{prefix}Exten", self.exten),
            (f"{prefix}Priority", str(self.priority)),
            (f"{prefix}Uniqueid", self.uniqueid),
            (f"{prefix}Linkedid", self.linkedid),
        ]

    def duration(self, now: float) -> int:
        """Whole seconds since the channel was created."""
        return max(0, int(now - self.created_at))


def _show(value: str | None) -> str:
    return UNKNOWN if value is None else value


class ChannelNamer:
    """Allocates names and unique ids the way Asterisk does (per-technology counters, global sequence)."""

    def __init__(self, local_start: int = 1, pjsip_start: int = 0) -> None:
        self._local = itertools.count(local_start)
        self._pjsip = itertools.count(pjsip_start)
        self._seq = itertools.count(1)

    def uniqueid(self, epoch: float) -> str:
        """``<epoch seconds>.<sequence>``."""
        return f"{int(epoch)}.{next(self._seq)}"

    def local_pair(self, exten: str, context: str) -> tuple[str, str]:
        """``Local/exten@context-0000000N;1`` and ``;2``."""
        base = f"Local/{exten}@{context}-{next(self._local):08x}"
        return f"{base};1", f"{base};2"

    def pjsip(self, endpoint: str) -> str:
        """``PJSIP/endpoint-0000000N``."""
        return f"PJSIP/{endpoint}-{next(self._pjsip):08x}"
