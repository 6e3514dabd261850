"""The one list of AMI events the controller consumes.

The emulator must reproduce exactly these (names, fields, per-channel order); events not listed here
(Newexten, NewCallerid, internal VarSets, DTMF...) may be left out of the emulator.
"""

from typing import Final

CONSUMED_EVENTS: Final[frozenset[str]] = frozenset(
    {
        # session life
        "FullyBooted",
        "Shutdown",
        # channels and calls
        "Newchannel",
        "Newstate",
        "Hangup",
        "DialBegin",
        "DialState",
        "DialEnd",
        "BridgeCreate",
        "BridgeEnter",
        "BridgeLeave",
        "BridgeDestroy",
        "MusicOnHoldStart",
        "MusicOnHoldStop",
        "MixMonitorStart",
        "MixMonitorStop",
        "OriginateResponse",
        "VarSet",  # only variables named SB_* are consumed
        # agents' softphones
        "DeviceStateChange",
        "ContactStatus",
        "PeerStatus",
        # list actions
        "CoreShowChannel",
        "CoreShowChannelsComplete",
        "Status",
        "StatusComplete",
        "DeviceStateListComplete",
    }
)

CONSUMED_VARIABLE_PREFIX: Final[str] = "SB_"


def is_consumed(name: str, variable: str | None = None) -> bool:
    """True when the controller reads this event (VarSet only for SB_* variables)."""
    if name not in CONSUMED_EVENTS:
        return False
    if name == "VarSet":
        return (variable or "").startswith(CONSUMED_VARIABLE_PREFIX)
    return True
