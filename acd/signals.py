"""How the ACD reacts to Asterisk's signals (already translated by acd/ami_glue.py into acd/ports.py events).

A mixin of :class:`acd.service.AcdService`: it turns hang-ups, dial results, bridges, device and contact
states, variables the dialplan sets and Originate results into the call and agent life cycle.

Ring-no-answer is recognised only from the attempt's own signals: ``SB_RONA_ATTEMPT`` (``<attempt>:<status>``,
set by sb-connect from the SB_ATTEMPT token the Redirect carried) or a DialEnd from the assigned agent's
endpoint after this attempt's Redirect was claimed. Music on hold starting is never taken for a no-answer:
a caller reaches hold from the IVR too, possibly after the ACD already picked an agent.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from acd import agent_state
from acd.agent_state import AgentEvent
from acd.errors import StoreError
from acd.model import AgentStatus, CallStatus
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

if TYPE_CHECKING:
    from acd.service import AcdService

log = logging.getLogger(__name__)

RONA_REASONS = {
    "NOANSWER": "no answer",
    "BUSY": "busy",
    "CHANUNAVAIL": "unavailable",
    "CONGESTION": "unavailable",
}
RONA_VARIABLE = "SB_RONA_ATTEMPT"
UNREGISTERED_DEVICE = frozenset({"UNAVAILABLE", "INVALID"})
BUSY_DEVICE = frozenset({"INUSE", "BUSY", "RINGING", "RINGINUSE", "ONHOLD"})
REGISTERED_CONTACT = frozenset({"Created", "Reachable", "NonQualified", "Updated"})
UNREGISTERED_CONTACT = frozenset({"Removed", "Unreachable"})
CALLBACK_ACTION_PREFIX = "sbcb-"


def dialled_endpoint(dest_channel: str) -> str:
    """``PJSIP/101-0000000a`` -> ``PJSIP/101``; ``Local/x@ctx-00000006;1`` -> ``Local/x@ctx``."""
    return dest_channel.rpartition("-")[0] if "-" in dest_channel else dest_channel


class SignalReactions:
    """The reactions to Asterisk's signals (mixed into AcdService)."""

    async def handle(self: AcdService, signal: AcdSignal) -> None:
        """React to one translated Asterisk event; unknown channels are logged and ignored."""
        try:
            match signal:
                case ChannelHungUp():
                    await self._on_hangup(signal)
                case DialEnded():
                    await self._on_dial_end(signal)
                case ChannelVariableSet():
                    await self._on_variable(signal)
                case BridgeEntered():
                    await self._on_bridge(signal)
                case DeviceStateChanged():
                    await self._on_device(signal.device, signal.state)
                case ContactChanged():
                    await self._on_contact(signal)
                case HoldStarted():
                    await self._on_hold(signal)
                case OriginateResult():
                    await self._on_originate(signal)
                case AsteriskResynced():
                    await self.reconcile(list(signal.channels))
                case DialStarted():
                    pass
        except StoreError as exc:
            # Redis is down: the Redis watcher reconciles with Asterisk's channels once it is back.
            log.error("acd cannot handle %s error=%s", type(signal).__name__, exc)

    async def _on_hangup(self: AcdService, ev: ChannelHungUp) -> None:
        """The caller's or the agent's leg hung up: one atomic step ends a connected or ringing call.

        The agent's leg ends the conversation as soon as the agent hangs up (the caller's own hang-up
        follows once the dialplan has finished, and finds the call closed). A waiting caller who hangs
        up is an abandon, ended through the queue-aware path.
        """
        if ev.uniqueid in self._adopting:
            self._adopting[ev.uniqueid] = False  # gone: an adoption check still under way must not re-add it
        now = self.clock.now()
        cause = ev.cause_text or str(ev.cause or "")
        outcome, call, wrap_until = await self.store.end_by_channel(ev.uniqueid, now, cause)
        if call is None or outcome == "ignored":
            if call is None:
                log.debug("hangup of a channel the ACD does not track channel=%s", ev.channel)
            return
        if outcome == "waiting":
            await self._caller_gone(call, cause=cause)
            return
        if ev.uniqueid != call.uniqueid:
            cause = "agent hung up"
        await self._ended(call, outcome, wrap_until, cause, now)

    async def _on_dial_end(self: AcdService, ev: DialEnded) -> None:
        call = await self.store.call_for_channel(ev.uniqueid)
        if call is None:
            return
        status = ev.status.upper()
        if status == "ANSWER":
            if call.status in (CallStatus.RINGING, CallStatus.CONNECTED):
                await self._connected(call, ev.dest_uniqueid)
            return
        if status not in RONA_REASONS or call.status is not CallStatus.RINGING or not call.agent_id:
            return  # CANCEL: the caller hung up while the agent rang; the Hangup event ends the call.
        config = await self.config()
        agent = config.agents.get(call.agent_id)
        if not call.redirect_sent or agent is None or dialled_endpoint(ev.dest_channel) != agent.endpoint:
            log.info(
                "dial end not of the current attempt ignored call_id=%s agent=%s dest=%s status=%s",
                call.call_id,
                call.agent_id,
                ev.dest_channel,
                status,
            )
            return
        await self._no_answer(
            call, RONA_REASONS[status], kind=f"dial {status.lower()}", attempt=call.attempts
        )

    async def _on_variable(self: AcdService, ev: ChannelVariableSet) -> None:
        """``SB_RONA_ATTEMPT=<attempt>:<DIALSTATUS>``: the caller is back on hold after that attempt."""
        if ev.name != RONA_VARIABLE:
            return
        token, _, status = ev.value.partition(":")
        if not token.isdigit() or len(token) > 9:
            log.warning("malformed %s value=%r channel=%s; ignored", RONA_VARIABLE, ev.value[:40], ev.channel)
            return
        call = await self.store.call_for_channel(ev.uniqueid)
        if call is None or call.status is not CallStatus.RINGING:
            return
        if int(token) != call.attempts:
            log.info(
                "no-answer of an earlier attempt ignored call_id=%s attempt=%s current=%d",
                call.call_id,
                token,
                call.attempts,
            )
            return
        status = status.upper()
        if status in RONA_REASONS:
            await self._no_answer(
                call, RONA_REASONS[status], kind=f"back on hold {status.lower()}", attempt=int(token)
            )
        else:  # NOAGENT or anything unexpected: not the agent's doing, they stay ready
            log.warning("caller back on hold without a dial call_id=%s status=%r", call.call_id, status[:20])
            await self._no_answer(
                call, "", kind=f"back on hold {status.lower()[:20]}", pause=False, attempt=int(token)
            )

    async def _on_bridge(self: AcdService, ev: BridgeEntered) -> None:
        call = await self.store.call_for_channel(ev.uniqueid)
        if call is not None and call.status is CallStatus.RINGING:
            await self._connected(call)

    async def _on_hold(self: AcdService, ev: HoldStarted) -> None:
        """A caller on hold the ACD does not know (the IVR could not reach us, or state was lost): adopt.

        The whole check (a Redis lookup, and for an unknown caller Asterisk's channel variables) runs
        beside the event stream: every caller's music-on-hold start would otherwise keep the events behind
        it (a hang-up freeing an agent) waiting for a round trip. A hang-up of the channel seen meanwhile
        calls the adoption off.
        """
        if ev.uniqueid in self._adopting or not ev.uniqueid:
            return
        self._adopting[ev.uniqueid] = True

        async def check_and_adopt() -> None:
            try:
                call = await self.store.call_for_channel(ev.uniqueid)
                if call is not None or not self._adopting.get(ev.uniqueid):
                    return
                await self.adopt_channel(LiveChannel(ev.channel, ev.uniqueid, self.settings.hold_context))
            finally:
                self._adopting.pop(ev.uniqueid, None)

        await self.dispatcher.aside(f"adopt {ev.channel}", check_and_adopt())

    async def _on_device(self: AcdService, device: str, state: str) -> None:
        config = await self.config()
        agent_id = config.agent_for_endpoint(device)
        if agent_id is None:
            return
        state = state.upper()
        now = self.clock.now()
        if state in UNREGISTERED_DEVICE:
            events = [AgentEvent.UNREGISTERED]
        elif state in BUSY_DEVICE:
            events = [AgentEvent.REGISTERED, AgentEvent.DIRECT_CALL_START]
        elif state == "NOT_INUSE":
            events = [AgentEvent.REGISTERED, AgentEvent.DIRECT_CALL_END]
        else:
            return

        def change(s: AgentStatus) -> AgentStatus:
            for e in events:
                if e is AgentEvent.DIRECT_CALL_START and s.call_id:
                    continue  # our own queue call ringing/connected, not a direct call
                s = agent_state.apply(s, e, now)
            return s

        before, after = await self.store.update_agent(agent_id, change)
        if after != before:
            log.info(
                "agent device agent=%s device=%s state=%s -> %s registered=%s direct=%s",
                agent_id,
                device,
                state,
                after.state.value,
                after.registered,
                after.direct_call,
            )
        if after.routable and not before.routable:
            self.dispatcher.notify_agent(agent_id)

    async def _on_contact(self: AcdService, ev: ContactChanged) -> None:
        if ev.status in UNREGISTERED_CONTACT:
            await self._on_device(ev.endpoint, "UNAVAILABLE")
        elif ev.status in REGISTERED_CONTACT:
            config = await self.config()
            agent_id = config.agent_for_endpoint(ev.endpoint)
            if agent_id is not None:
                now = self.clock.now()
                before, after = await self.store.update_agent(
                    agent_id, lambda s: agent_state.apply(s, AgentEvent.REGISTERED, now)
                )
                if after.routable and not before.routable:
                    self.dispatcher.notify_agent(agent_id)

    async def _on_originate(self: AcdService, ev: OriginateResult) -> None:
        if not ev.action_id.startswith(CALLBACK_ACTION_PREFIX):
            return
        call_id, _, attempt = ev.action_id[len(CALLBACK_ACTION_PREFIX) :].rpartition("-")
        call = await self.store.get_call(call_id)
        if call is None or call.status is not CallStatus.RINGING:
            return
        if not attempt.isdigit() or int(attempt) != call.attempts:
            log.info("result of an earlier callback attempt ignored call_id=%s", call_id)
            return
        if ev.success and ev.uniqueid and ev.uniqueid != "<unknown>":
            await self.store.bind_channel(call_id, ev.channel, ev.uniqueid)
            log.info("callback answered call_id=%s channel=%s", call_id, ev.channel)
            return
        log.info("callback not answered call_id=%s reason=%s", call_id, ev.reason)
        await self._no_answer(
            call, "callback not answered", kind="callback failed", pause=False, attempt=call.attempts
        )
