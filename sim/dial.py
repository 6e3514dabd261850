"""Dial(): create the outgoing channel, ring it with a timeout, bridge on answer, tear down on hang-up."""

from __future__ import annotations

import logging

from sim.channels import CAUSE_BUSY, CAUSE_NO_ROUTE, Channel, ChannelState, Party
from sim.expressions import split_args
from sim.pbx import AppResult, Bridge, Pbx
from sim.scripts import AgentRuntime

log = logging.getLogger(__name__)

CAUSE_CONGESTION = 34


def request_channel(pbx: Pbx, target: str, linkedid: str | None) -> Channel | None:
    """ast_request(): a new outgoing channel for ``Tech/resource``, or None (CHANUNAVAIL)."""
    tech, _, resource = target.partition("/")
    tech = tech.strip().upper()
    if tech == "LOCAL":
        where = resource.split("/", 1)[0]
        exten, _, context = where.partition("@")
        context = context or "default"
        if pbx.dialplan.extension(context, exten) is None:
            log.info("local channel to missing extension target=%s", target)
            return None
        one, _two = pbx.new_local_pair(exten, context, linkedid=linkedid)
        one.owned = True
        return one
    if tech == "PJSIP":
        number, _, endpoint_name = resource.partition("@")
        endpoint_name = endpoint_name or number
        endpoint = pbx.pjsip.get(endpoint_name)
        if endpoint is None or not endpoint.reachable:
            log.info("pjsip endpoint unavailable target=%s", target)
            return None
        ch = pbx.new_pjsip(endpoint.name, context=endpoint.context, exten="s", state=ChannelState.DOWN,
                           linkedid=linkedid)
        ch.owned = True
        agent = pbx.agents.get(endpoint.name)
        if agent is not None:
            ch.party = AgentRuntime(agent)
        return ch
    log.warning("unsupported channel technology target=%s", target)
    return None


def start_outgoing(pbx: Pbx, dest: Channel) -> None:
    """Make the new channel ring: a Local ``;2`` starts its dialplan, a phone gets the INVITE."""
    if dest.is_local and dest.partner is not None:
        pbx.start_pbx(dest.partner)
        return
    hook = getattr(dest.party, "on_dialed", None)
    if hook is not None:
        hook(pbx, dest)


def dial_status_for(cause: int) -> str:
    """DIALSTATUS for an outgoing channel that went away before answering."""
    if cause == CAUSE_BUSY:
        return "BUSY"
    if cause == CAUSE_CONGESTION:
        return "CONGESTION"
    if cause in (CAUSE_NO_ROUTE, 1, 20, 27):
        return "CHANUNAVAIL"
    return "NOANSWER"


def _dial_event(pbx: Pbx, name: str, ch: Channel | None, dest: Channel, extra: list[tuple[str, str]]) -> None:
    fields = ch.std_fields() if ch is not None else []
    pbx.emit(name, "call,all", [*fields, *dest.std_fields("Dest"), *extra])


def _enter(pbx: Pbx, bridge: Bridge, ch: Channel) -> None:
    bridge.members.append(ch)
    ch.bridge_id = bridge.uniqueid
    ch.bridge_intervals.append([pbx.now()])
    pbx.emit("BridgeEnter", "call,all", [*bridge.fields(), *ch.std_fields()])


def _leave(pbx: Pbx, bridge: Bridge, ch: Channel) -> None:
    if ch not in bridge.members:
        return
    bridge.members.remove(ch)
    ch.bridge_id = ""
    if ch.bridge_intervals and len(ch.bridge_intervals[-1]) == 1:
        ch.bridge_intervals[-1].append(pbx.now())
    pbx.emit("BridgeLeave", "call,all", [*bridge.fields(), *ch.std_fields()])


async def app_dial(pbx: Pbx, ch: Channel, data: str) -> AppResult:
    args = split_args(data)
    targets = [t.strip() for t in (args[0] if args else "").split("&") if t.strip()]
    timeout = float(args[1]) if len(args) > 1 and args[1].strip() else None
    options = args[2] if len(args) > 2 else ""
    if not targets:
        log.warning("Dial without a destination channel=%s", ch.name)
        pbx.set_var(ch, "DIALSTATUS", "INVALIDARGS")
        return AppResult.CONTINUE
    if len(targets) > 1:
        log.warning("Dial to several destinations: only the first is emulated channel=%s", ch.name)
    target = targets[0]
    dest = request_channel(pbx, target, ch.linkedid)
    if dest is None:
        pbx.set_var(ch, "DIALSTATUS", "CHANUNAVAIL")
        if ch.hangupcause == 0:
            ch.hangupcause = CAUSE_NO_ROUTE
        return AppResult.CONTINUE
    pbx.set_caller(dest, Party(ch.exten, ch.caller.name))
    pbx.set_connected(dest, ch.caller)
    dest.exten = ch.exten
    _dial_event(pbx, "DialBegin", ch, dest, [("DialString", target.partition("/")[2])])
    dest.watchers.add(ch.signal)
    try:
        status = await _ring(pbx, ch, dest, timeout)
        if status != "ANSWER":
            _dial_event(pbx, "DialEnd", ch, dest, [("DialStatus", status)])
            pbx.destroy(dest)
            pbx.set_var(ch, "DIALSTATUS", status)
            return AppResult.HANGUP if ch.hangup_requested else AppResult.CONTINUE
        return await _connect(pbx, ch, dest, "g" in options)
    finally:
        dest.watchers.discard(ch.signal)


async def _ring(pbx: Pbx, ch: Channel, dest: Channel, ring_for: float | None) -> str:
    """Wait for answer, failure, timeout or the caller giving up; emits DialState on ringing."""
    start_outgoing(pbx, dest)
    deadline = None if ring_for is None else pbx.now() + ring_for
    reported = dest.state
    while True:
        if ch.interrupted:
            return "CANCEL"
        if dest.state == ChannelState.UP:
            return "ANSWER"
        if dest.hangup_requested or dest.destroyed:
            return dial_status_for(dest.hangupcause)
        if dest.state != reported:
            reported = dest.state
            if dest.state == ChannelState.RINGING:
                if not dest.is_local:
                    pbx.set_connected(ch, dest.caller)  # the phone's 180 carries its identity
                _dial_event(pbx, "DialState", ch, dest, [("DialStatus", "RINGING")])
        remaining = None if deadline is None else deadline - pbx.now()
        if remaining is not None and remaining <= 0:
            return "NOANSWER"
        await ch.signal.wait(pbx.clock, remaining)


async def _connect(pbx: Pbx, ch: Channel, dest: Channel, continue_on_hangup: bool) -> AppResult:
    """The callee answered: DialEnd, a basic bridge with both, until one side leaves."""
    answered_at = pbx.now()
    if ch.state != ChannelState.UP:
        pbx.answer(ch)
    pbx.set_var(ch, "DIALSTATUS", "ANSWER")
    dest.exten = ""
    _dial_event(pbx, "DialEnd", ch, dest, [("DialStatus", "ANSWER")])
    bridge = Bridge(pbx.new_bridge_id())
    pbx.bridges[bridge.uniqueid] = bridge
    pbx.emit("BridgeCreate", "call,all", bridge.fields())
    _enter(pbx, bridge, dest)
    _enter(pbx, bridge, ch)
    for member in (ch, dest):
        hook = getattr(member.party, "on_bridge", None)
        if hook is not None:
            hook(pbx, member)
    try:
        while not ch.interrupted and not dest.interrupted and not dest.destroyed:
            await ch.signal.wait(pbx.clock, None)
        pbx.set_var(ch, "ANSWEREDTIME", str(int(pbx.now() - answered_at)))
        if dest.interrupted or dest.destroyed:
            _leave(pbx, bridge, dest)
            if dest.pending_goto is not None and not dest.hangup_requested:
                pbx.start_pbx(dest)  # the agent leg was redirected elsewhere
            else:
                pbx.destroy(dest)
            _leave(pbx, bridge, ch)
            pbx.emit("BridgeDestroy", "call,all", bridge.fields())
            if continue_on_hangup or dest.pending_goto is not None:
                return AppResult.CONTINUE
            if ch.hangupcause == 0:
                ch.hangupcause = dest.hangupcause
            return AppResult.HANGUP
        _leave(pbx, bridge, ch)
        _leave(pbx, bridge, dest)
        pbx.emit("BridgeDestroy", "call,all", bridge.fields())
        pbx.request_hangup(dest, ch.hangupcause)
        pbx.destroy(dest)
        return AppResult.HANGUP if ch.hangup_requested else AppResult.CONTINUE
    finally:
        pbx.bridges.pop(bridge.uniqueid, None)
