"""Recovery: make Redis agree with Asterisk's live channels after a restart, a reconnect or a Redis loss.

A mixin of :class:`acd.service.AcdService`. Asterisk owns the live channels; the controller never trusts
its memory (or Redis) over them. The rules:

- a call is ended (an abandon, or a completed call whose agent goes to wrap-up) only when a channel list
  taken *after* the call was read from Redis does not have its caller: a call enqueued a moment ago by
  another controller is never mistaken for one that vanished;
- a call ringing an agent whose caller is found back on hold is requeued, unless the controller that made
  the assignment is alive and the assignment is younger than ``connect_grace_seconds`` (its Redirect may
  still be on the way): then the ring guard looks again later;
- callers on hold that nobody knows are adopted (their SB_* variables, or the SQL record, name the queue);
- after Redis lost its data, waiting callers are rebuilt from the SQL record and the live channels;
- agents left holding a call that no longer exists are released.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from acd.dispatcher import raise_if_cancel_lost
from acd.errors import AcdValidationError, PortError, StoreError
from acd.model import AgentState, AgentStatus, CallStatus, WaitingCall
from acd.policy import next_step_at
from acd.ports import LiveChannel
from acd.store import EnqueueOutcome
from ivr.ports import QueueRequest
from switchboard.ids import new_id

if TYPE_CHECKING:
    from acd.service import AcdService

log = logging.getLogger(__name__)


class Recovery:
    """Reconciliation with Asterisk and Redis (mixed into AcdService)."""

    async def recover(self: AcdService) -> None:
        """Rebuild the live state now (controller start): Redis, the record and Asterisk's channels."""
        started = self.clock.monotonic()
        await self.reconcile()
        log.info("acd recovered in %.3fs", self.clock.monotonic() - started)

    async def reconcile(self: AcdService, channels: list[LiveChannel] | None = None) -> None:
        """Make Redis agree with Asterisk's live channels.

        ``channels`` is a snapshot that may be older than Redis's state (an AMI resync marker); a fresh
        list is read after the calls so that no call is judged against a list older than itself.
        """
        now = self.clock.now()
        await self.config()
        calls = await self.store.all_calls()
        records = await self.repository.open_calls() if not calls and self.repository is not None else []
        try:
            fresh = await self.port.live_channels()
        except PortError as exc:
            if channels is None:
                log.error("acd reconcile cannot list Asterisk's channels error=%s; will retry", exc)
                return
            log.warning("acd reconcile uses the resync snapshot only error=%s", exc)
            fresh, trusted = channels, False
        else:
            trusted = True
        live = {c.uniqueid: c for c in fresh}
        if records:
            # Redis lost its state: rebuild from the record, keeping callers' original enqueue times.
            for rec in records:
                await self._rebuild(rec, live, now, trusted=trusted)
            calls = await self.store.all_calls()
        for call in calls:
            await self._reconcile_call(call, live, now, trusted=trusted)
        known = {c.uniqueid for c in await self.store.all_calls() if c.uniqueid}
        for ch in fresh:
            if ch.uniqueid not in known and self._in_hold(ch):
                await self.adopt_channel(ch)
        await self._release_orphan_agents()
        await self._sync_devices()

    async def _sync_devices(self: AcdService) -> None:
        """Softphone registration and direct calls as Asterisk sees them now (events were missed)."""
        try:
            states = await self.port.device_states()
        except PortError as exc:
            log.warning("acd cannot read device states error=%s; waiting for their events", exc)
            return
        config = await self.config()
        for agent in config.agents.values():
            state = states.get(agent.endpoint)
            if state:
                await self._on_device(agent.endpoint, state)

    async def watch_redis(self: AcdService) -> None:
        """Run until cancelled: keep this controller's heartbeat, notice Redis restarts and data loss.

        Redis is an external engine: when it comes back after being unreachable (events were lost
        meanwhile), or comes back empty (the epoch marker is gone), the live state is rebuilt from the
        record and Asterisk's channels, and the configuration is published again.
        """
        interval = self.settings.redis_check_seconds
        epoch: str | None = None
        healthy = True
        while True:
            raise_if_cancel_lost()
            try:
                await self.store.heartbeat(3 * interval)
                current = await self.store.epoch()
                if current is None:
                    candidate = new_id()
                    current = candidate if await self.store.set_epoch(candidate) else await self.store.epoch()
                lost = epoch is not None and current != epoch
                if lost or not healthy:
                    log.warning(
                        "redis is back%s; rebuilding the ACD state from the record and Asterisk",
                        " without its data" if lost else "",
                    )
                    if lost:
                        log.warning("agents' ready/paused states were lost with Redis: agents log in again")
                    await self.config(-1)  # reload, or publish ours again when Redis lost it
                    await self.reconcile()
                epoch, healthy = current, True
            except StoreError as exc:
                if healthy:
                    log.error("redis unreachable error=%s; routing waits, callers stay on hold", exc)
                healthy = False
            except PortError as exc:
                log.warning("acd rebuild after redis trouble cannot reach Asterisk error=%s", exc)
                healthy = False
            await self.clock.sleep(interval)

    async def _rebuild(
        self: AcdService, rec: WaitingCall, live: Mapping[str, LiveChannel], now: datetime, *, trusted: bool
    ) -> None:
        """One open SQL record after Redis lost its data: waiting again, still talking, or gone."""
        ch = live.get(rec.uniqueid) if rec.uniqueid else None
        if rec.callback and not rec.uniqueid:
            await self._readd(rec)
        elif ch is None:
            if trusted:
                outcome = "completed" if rec.status is CallStatus.CONNECTED else "abandoned"
                log.info("caller gone during the outage call_id=%s; recorded as %s", rec.call_id, outcome)
                await self._record("call_ended", rec, outcome, now)
        elif self._in_hold(ch):
            await self._readd(rec)
        elif ch.bridge_id and rec.status is CallStatus.CONNECTED and rec.agent_id:
            # Talking to its agent: tracked again so that its end puts the agent into wrap-up.
            if await self.store.restore_call(replace(rec, redirect_sent=True)):
                await self.store.update_agent(rec.agent_id, _busy_with(rec.call_id, now))
                log.warning("rebuilt connected call call_id=%s agent=%s", rec.call_id, rec.agent_id)
        else:
            log.warning(
                "caller neither on hold nor talking after Redis loss call_id=%s context=%s; "
                "adopted if it returns to hold",
                rec.call_id,
                ch.context,
            )

    def _in_hold(self: AcdService, ch: LiveChannel) -> bool:
        return ch.context == self.settings.hold_context and not ch.bridge_id

    async def _reconcile_call(
        self: AcdService,
        call: WaitingCall,
        live: Mapping[str, LiveChannel],
        now: datetime,
        *,
        trusted: bool = True,
    ) -> None:
        if call.callback and not call.uniqueid:
            return  # waiting for a callback: no channel to check
        ch = live.get(call.uniqueid)
        if ch is None:
            if not trusted:
                return
            log.info("caller no longer on Asterisk call_id=%s status=%s", call.call_id, call.status.value)
            await self._caller_gone(call, cause="gone while the controller was away")
            return
        if call.status is not CallStatus.RINGING:
            return
        if ch.bridge_id:
            await self._connected(call)
        elif self._in_hold(ch) and await self._attempt_over(call, now):
            # Back on hold: the agent's phone rang and its no-answer signal was missed (the agent is
            # paused as for any no-answer), or the Redirect never went out (not the agent's doing).
            await self._no_answer(
                call,
                "no answer" if call.redirect_sent else "",
                kind="found back on hold" if call.redirect_sent else "never connected",
                pause=call.redirect_sent,
                attempt=call.attempts,
            )
        else:
            await self.store.set_deadline(
                call.call_id, now + timedelta(seconds=self.settings.ring_guard_seconds)
            )

    async def _attempt_over(self: AcdService, call: WaitingCall, now: datetime) -> bool:
        """Whether a ringing attempt whose caller sits on hold can be taken back now."""
        age = (now - call.assigned_at).total_seconds() if call.assigned_at else float("inf")
        if age >= self.settings.connect_grace_seconds:
            return True
        if call.owner == self.store.origin:
            return False  # our own connect task may still be sending the Redirect
        return not await self.store.controller_alive(call.owner)

    async def _release_orphan_agents(self: AcdService) -> None:
        """Agents holding a call that no longer exists (or is no longer theirs) go back to ready."""
        statuses = await self.store.agent_statuses()
        for agent_id, status in statuses.items():
            if status.call_id:
                call = await self.store.get_call(status.call_id)
                if call is not None and call.agent_id == agent_id:
                    continue
            elif status.state not in (AgentState.RINGING, AgentState.ON_CALL):
                continue
            _, after = await self.store.update_agent(agent_id, _free_agent(self.clock.now()))
            log.warning(
                "agent held a vanished call agent=%s call_id=%s; now ready", agent_id, status.call_id or "-"
            )
            if after.routable:
                self.dispatcher.notify_agent(agent_id)

    async def adopt_channel(self: AcdService, channel: LiveChannel) -> str | None:
        """A caller on hold the ACD does not know (controller was down, Redis lost): enqueue it again.

        The SQL record keeps the original enqueue time (the caller keeps their place); otherwise the
        channel's SB_* variables name the queue.
        """
        if self.repository is not None:
            try:
                rec = await self.repository.open_call_for(channel.uniqueid)
            except StoreError as exc:
                log.warning("cannot read the record to adopt channel=%s error=%s", channel.channel, exc)
                rec = None
            if rec is not None:
                await self._readd(rec)
                return rec.call_id
        names = ("SB_CALL_ID", "SB_QUEUE", "SB_SKILL", "SB_REGION", "SB_PRIORITY", "CALLERID(num)")
        try:
            # Asterisk answers one session's actions in order: all asked at once, one round trip.
            answers = await asyncio.gather(*(self.port.get_variable(channel.channel, n) for n in names))
        except PortError as exc:
            log.warning("cannot read variables of held channel channel=%s error=%s", channel.channel, exc)
            return None
        values = dict(zip(names, answers, strict=True))
        number = channel.caller_number or values["CALLERID(num)"]
        prio = values["SB_PRIORITY"] or "0"
        request = QueueRequest(
            call_id=values["SB_CALL_ID"] or new_id(),
            channel=channel.channel,
            uniqueid=channel.uniqueid,
            caller_number=number or "",
            caller_name="",
            queue=values["SB_QUEUE"] or self.settings.fallback_queue,
            skill=values["SB_SKILL"] or "",
            region=values["SB_REGION"] or None,
            priority=int(prio) if prio.isdigit() and len(prio) < 4 else 0,
            language="",
            vip=False,
            reason="adopted from hold",
        )
        waited = timedelta(seconds=max(0.0, channel.duration_seconds))
        try:
            call_id = await self.enqueue_call(request, enqueued_at=self.clock.now() - waited)
        except AcdValidationError as exc:
            log.warning("cannot adopt held channel channel=%s error=%s", channel.channel, exc)
            return None
        if call_id is not None:
            log.warning(
                "adopted caller found on hold call_id=%s channel=%s queue=%s",
                call_id,
                channel.channel,
                request.queue,
            )
        return call_id

    async def _readd(self: AcdService, call: WaitingCall) -> None:
        config = await self.config()
        queue = config.queues.get(call.queue) or config.queues.get(self.settings.fallback_queue)
        if queue is None:
            return
        now = self.clock.now()
        call = replace(call, status=CallStatus.WAITING, agent_id=None, answered_at=None, redirect_sent=False)
        result = await self.store.enqueue(call, next_step_at(queue, call, now))
        if result.outcome is EnqueueOutcome.ADDED:
            log.warning("rebuilt waiting call from the record call_id=%s queue=%s", call.call_id, call.queue)
            self.dispatcher.notify_call(call.call_id)


def _busy_with(call_id: str, now: datetime) -> Callable[[AgentStatus], AgentStatus]:
    """An agent found talking to a queue call after Redis lost its state."""

    def change(s: AgentStatus) -> AgentStatus:
        return s.replace(state=AgentState.ON_CALL, call_id=call_id, since=now)

    return change


def _free_agent(now: datetime) -> Callable[[AgentStatus], AgentStatus]:
    """A change that releases an agent from a call that no longer exists."""

    def change(s: AgentStatus) -> AgentStatus:
        if not s.call_id and s.state not in (AgentState.RINGING, AgentState.ON_CALL):
            return s
        return s.replace(state=AgentState.READY, call_id="", since=now)

    return change
