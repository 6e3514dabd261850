"""AMI Originate: call a channel, and when it answers run the dialplan (or an application) on it."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass

from sim.apps import run_app
from sim.channels import CAUSE_BUSY, CAUSE_NORMAL_CLEARING, Channel, ChannelState, Party
from sim.dial import CAUSE_CONGESTION, request_channel, start_outgoing
from sim.pbx import Pbx

log = logging.getLogger(__name__)

# enum ast_control_frame_type values that OriginateResponse reports as Reason.
REASON_FAILED = 0
REASON_HANGUP = 1
REASON_RING_TIMEOUT = 3
REASON_ANSWERED = 4
REASON_BUSY = 5
REASON_CONGESTION = 8

_CALLERID = re.compile(r'^\s*(?:"([^"]*)"|([^<]*?))\s*<([^>]*)>\s*$')


def parse_callerid(text: str | None) -> Party | None:
    """``"Name" <number>``, ``Name <number>`` or a bare number."""
    if text is None or not text.strip():
        return None
    match = _CALLERID.match(text)
    if match:
        name = match.group(1) if match.group(1) is not None else (match.group(2) or "").strip()
        return Party(match.group(3).strip() or None, name or None)
    return Party(text.strip(), None)


@dataclass(frozen=True)
class OriginateRequest:
    """What an Originate action asked for."""

    channel: str
    context: str = ""
    exten: str = ""
    priority: int = 1
    application: str = ""
    data: str = ""
    caller: Party | None = None
    timeout: float = 30.0
    variables: Sequence[tuple[str, str]] = ()
    action_id: str | None = None


def _response(pbx: Pbx, req: OriginateRequest, success: bool, reason: int, ch: Channel | None) -> None:
    fields = [("ActionID", req.action_id)] if req.action_id is not None else []
    caller = ch.caller if ch is not None else (req.caller or Party())
    fields += [
        ("Response", "Success" if success else "Failure"),
        ("Channel", ch.name if ch is not None and success else req.channel),
        ("Context", req.context),
        ("Exten", req.exten),
        ("Reason", str(reason)),
        ("Uniqueid", ch.uniqueid if ch is not None and success else "<unknown>"),
        ("CallerIDNum", caller.number if caller.number is not None else "<unknown>"),
        ("CallerIDName", caller.name if caller.name is not None else "<unknown>"),
    ]
    pbx.emit("OriginateResponse", "call,all", fields)


def _dial_event(pbx: Pbx, name: str, dest: Channel, extra: list[tuple[str, str]]) -> None:
    pbx.emit(name, "call,all", [*dest.std_fields("Dest"), *extra])


async def originate(pbx: Pbx, req: OriginateRequest) -> bool:
    """Run one Originate to completion; emits OriginateResponse and returns whether it was answered."""
    dest = request_channel(pbx, req.channel, None)
    if dest is None:
        _response(pbx, req, False, REASON_FAILED, None)
        return False
    for name, value in req.variables:
        pbx.set_var(dest, name, value)
    if req.caller is not None:
        pbx.set_caller(dest, req.caller, mirror=False)
        pbx.set_connected(dest, req.caller, mirror=False)
    partner = dest.partner
    if partner is not None:  # a Local ;2 gets the variables, then the identities, when it is called
        for name, value in req.variables:
            pbx.set_var(partner, name, value)
        partner.caller, partner.connected = dest.connected.copy(), dest.caller.copy()
    _dial_event(pbx, "DialBegin", dest, [("DialString", req.channel.partition("/")[2])])
    reason = await _wait_answer(pbx, dest, req.timeout)
    if reason != REASON_ANSWERED:
        status = {REASON_BUSY: "BUSY", REASON_CONGESTION: "CONGESTION"}.get(reason, "NOANSWER")
        _dial_event(pbx, "DialEnd", dest, [("DialStatus", status)])
        pbx.destroy(dest)
        _response(pbx, req, False, reason, None)
        return False
    _dial_event(pbx, "DialEnd", dest, [("DialStatus", "ANSWER")])
    _response(pbx, req, True, REASON_ANSWERED, dest)
    if req.application:
        dest.owned = False
        dest.has_pbx = True
        pbx.spawn(_run_application(pbx, dest, req.application, req.data), name=f"originate app {dest.name}")
    else:
        dest.context, dest.exten, dest.priority = req.context, req.exten, req.priority
        pbx.start_pbx(dest)
    return True


async def _wait_answer(pbx: Pbx, dest: Channel, ring_for: float) -> int:
    start_outgoing(pbx, dest)
    deadline = pbx.now() + ring_for
    reported = dest.state
    while True:
        if dest.state == ChannelState.UP:
            return REASON_ANSWERED
        if dest.hangup_requested or dest.destroyed:
            reasons = {CAUSE_BUSY: REASON_BUSY, CAUSE_CONGESTION: REASON_CONGESTION}
            return reasons.get(dest.hangupcause, REASON_HANGUP)
        if dest.state != reported:
            reported = dest.state
            if dest.state == ChannelState.RINGING:
                _dial_event(pbx, "DialState", dest, [("DialStatus", "RINGING")])
        remaining = deadline - pbx.now()
        if remaining <= 0:
            return REASON_RING_TIMEOUT if dest.state == ChannelState.RINGING else REASON_FAILED
        await dest.signal.wait(pbx.clock, remaining)


async def _run_application(pbx: Pbx, ch: Channel, app: str, data: str) -> None:
    try:
        await run_app(pbx, ch, app, data)
    finally:
        ch.has_pbx = False
        if ch.hangupcause == 0:
            ch.hangupcause = CAUSE_NORMAL_CLEARING
        pbx.destroy(ch)
