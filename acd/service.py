"""AcdService: the IVR's CallQueue, the agent life cycle from Asterisk's signals, callbacks and recovery.

It owns the reactions (what happens when a caller hangs up, an agent does not answer, a softphone
unregisters...) and delegates matching to the Dispatcher. State is in Redis (AcdStore), the record in SQL
(AcdRepository, optional), and Asterisk is reached only through the AsteriskPort. The reactions to
Asterisk's signals live in acd/signals.py and the reconciliation with Asterisk in acd/recovery.py (both
mixed in here).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from acd import agent_state
from acd.agent_state import AgentEvent
from acd.dispatcher import Dispatcher
from acd.errors import (
    AcdValidationError,
    ChannelGoneError,
    PortError,
    StoreError,
    UnknownAgentError,
)
from acd.model import (
    NUMBER_RE,
    AcdConfig,
    AgentStatus,
    Assignment,
    CallStatus,
    PreferenceKind,
    Queue,
    RelaxAction,
    WaitingCall,
    check_name,
)
from acd.policy import estimated_wait, next_step_at, scope_at
from acd.ports import AsteriskPort
from acd.records import RecordWriter
from acd.recovery import Recovery
from acd.repository import AcdRepository
from acd.signals import CALLBACK_ACTION_PREFIX, RONA_REASONS, SignalReactions
from acd.store import AcdStore, EnqueueOutcome
from acd.values import known_skill, safe
from ivr.ports import QueueRequest
from switchboard.clock import Clock
from switchboard.ids import new_id
from switchboard.settings import AcdSettings

log = logging.getLogger(__name__)

__all__ = ["CALLBACK_ACTION_PREFIX", "RONA_REASONS", "AcdService", "HoldInfo", "safe"]

# How long a callback request's call id is remembered after it was taken: a late retry of the request
# (after the callback already ended) must not call the customer a second time.
CALLBACK_REQUEST_MEMORY_SECONDS = 24 * 3600


@dataclass(frozen=True)
class HoldInfo:
    """What the hold loop announces to a waiting caller."""

    call_id: str
    position: int
    waiting: int
    estimated_wait_seconds: float
    callback_offered: bool
    announce_every_seconds: int


# A connect this soon after its atomic assignment needs no second claim (see AcdService.on_assigned).
FRESH_ASSIGNMENT_SECONDS = 0.5


class AcdService(SignalReactions, Recovery):
    """The ACD's application service (implements ivr.ports.CallQueue)."""

    def __init__(
        self,
        store: AcdStore,
        port: AsteriskPort,
        clock: Clock,
        settings: AcdSettings | None = None,
        *,
        repository: AcdRepository | None = None,
        listen: bool = True,
    ) -> None:
        self.store = store
        self.port = port
        self.clock = clock
        self.settings = settings or AcdSettings()
        self.repository = repository
        self.records = RecordWriter(repository) if repository is not None else None
        # uniqueids being checked for adoption from hold right now -> False once their hang-up was seen
        self._adopting: dict[str, bool] = {}
        self._config: AcdConfig | None = None
        self.dispatcher = Dispatcher(
            store,
            self,
            clock,
            page=self.settings.snapshot_page,
            ring_guard_seconds=self.settings.ring_guard_seconds,
            listen=listen,
        )

    # ---- configuration ----

    async def load(self, config: AcdConfig | None = None) -> AcdConfig:
        """Publish ``config`` (or the SQL one) to Redis so every controller routes with the same version."""
        if config is None:
            if self.repository is None:
                raise AcdValidationError("no configuration given and no database to load it from")
            config = await self.repository.load_config()
        version = await self.store.publish_config(config)
        self._config = AcdConfig(
            config.agents, config.queues, config.skills, config.regions, config.absences, config.vips, version
        )
        log.info(
            "acd configuration published version=%d agents=%d queues=%d",
            version,
            len(config.agents),
            len(config.queues),
        )
        return self._config

    async def config(self, version: int | None = None) -> AcdConfig:
        """The configuration in force; reloaded from Redis when another controller published a newer one."""
        if self._config is None or (version is not None and version != self._config.version):
            loaded = await self.store.load_config()
            if loaded is None:
                if self._config is not None:
                    # Redis lost its copy (flush/restart): put ours back rather than route blind.
                    return await self.load(self._config)
                raise StoreError("no ACD configuration in Redis; call AcdService.load() first")
            self._config = loaded
        return self._config

    def _queue(self, config: AcdConfig, name: str) -> Queue:
        queue = config.queues.get(name)
        if queue is None:
            raise AcdValidationError(f"unknown queue {name!r}")
        return queue

    # ---- the IVR hand-off ----

    async def enqueue(self, request: QueueRequest) -> None:
        """Put a caller in a queue (CallQueue.enqueue); bad fields fall back, the caller is never lost."""
        await self.enqueue_call(request)

    async def enqueue_call(
        self, request: QueueRequest, *, enqueued_at: datetime | None = None, callback_number: str = ""
    ) -> str | None:
        """Enqueue with VIP list, repeat-caller preference and fallbacks; the call id (None: a duplicate).

        ``enqueued_at`` backdates the entry (a caller adopted from hold keeps the time already waited).
        With ``callback_number`` the call is a callback (no channel): added with its number in one step,
        at most once per call id (acd/ivr_callbacks.py).
        """
        if callback_number and not NUMBER_RE.fullmatch(callback_number):
            raise AcdValidationError("callback number must be digits with an optional leading +")
        config = await self.config()
        now = self.clock.now()
        call_id = safe(request.call_id)[:64] or new_id()
        queue_name = request.queue
        if queue_name not in config.queues:
            log.error(
                "enqueue names unknown queue call_id=%s queue=%r; using fallback %s",
                call_id,
                queue_name,
                self.settings.fallback_queue,
            )
            queue_name = self.settings.fallback_queue
            if queue_name not in config.queues:
                queue_name = next(iter(config.queues))
        queue = config.queues[queue_name]
        skill = request.skill or queue.skill
        if not known_skill(config, skill):
            log.warning(
                "enqueue names unknown skill call_id=%s skill=%r; using the queue's %s",
                call_id,
                skill,
                queue.skill,
            )
            skill = queue.skill
        region = request.region or None
        if region is not None and config.regions and region not in config.regions:
            log.warning("enqueue names unknown region call_id=%s region=%r; ignoring it", call_id, region)
            region = None
        try:
            if region is not None:
                check_name(region, "region")
        except AcdValidationError:
            log.warning("enqueue region not a valid name call_id=%s; ignoring it", call_id)
            region = None
        number = request.caller_number if NUMBER_RE.fullmatch(request.caller_number or "") else ""
        priority = min(max(int(request.priority or 0), 0), 99)
        vip_entry = config.vips.get(number) if number else None
        vip = bool(request.vip) or vip_entry is not None
        if vip_entry is not None:
            priority = min(99, priority + vip_entry.priority_boost)
        elif request.vip:
            priority = min(99, priority + self.settings.vip_priority_boost)
        preferred, preference = None, None
        if vip_entry is not None and vip_entry.agent_id:
            preferred, preference = vip_entry.agent_id, PreferenceKind.VIP
        elif number and self.settings.repeat_caller_window_seconds > 0:
            last = await self.store.last_agent(number)
            if last in config.agents:
                preferred, preference = last, PreferenceKind.REPEAT
        language = request.language if request.language and len(request.language) <= 16 else None
        call = WaitingCall(
            call_id=call_id,
            queue=queue.name,
            skill=skill,
            channel=request.channel,
            uniqueid=request.uniqueid,
            enqueued_at=min(enqueued_at or now, now),
            caller_number=number,
            caller_name=(request.caller_name or "")[:80],
            priority=priority,
            region=region,
            language=(language or "").split("_")[0].lower() or None,
            vip=vip,
            preferred_agent=preferred,
            preference=preference,
            reason=(request.reason or "")[:200],
            callback=bool(callback_number),
            callback_number=callback_number,
        )
        return call.call_id if await self._add(call, queue, now) else None

    async def _add(self, call: WaitingCall, queue: Queue, now: datetime) -> bool:
        """Store a new waiting call; False when that call or that caller's channel is already queued."""
        deadline = next_step_at(queue, call, now)
        if call.callback and not call.channel:
            result = await self.store.enqueue_callback(call, deadline, CALLBACK_REQUEST_MEMORY_SECONDS)
        else:
            result = await self.store.enqueue(call, deadline)
        if result.outcome is not EnqueueOutcome.ADDED:
            log.info(
                "enqueue ignored duplicate call_id=%s outcome=%s existing=%s",
                call.call_id,
                result.outcome.value,
                result.call_id,
            )
            return False
        log.info(
            "call enqueued call_id=%s queue=%s priority=%d vip=%s region=%s preferred=%s",
            call.call_id,
            call.queue,
            call.priority,
            call.vip,
            call.region,
            call.preferred_agent,
        )
        await self._record("call_enqueued", call)
        self.dispatcher.notify_call(call.call_id)
        return True

    async def _record(self, method: str, *args: Any) -> None:
        """Queue the SQL record (acd/records.py): routing never waits for the database."""
        if self.records is not None:
            await self.records.record(method, *args)

    async def run_records(self) -> None:
        """Run the SQL record writer until cancelled (a controller job)."""
        if self.records is not None:
            await self.records.run()
        else:
            await asyncio.Event().wait()

    # ---- agent actions (API, agent desk) ----

    async def agent_event(self, agent_id: str, event: AgentEvent, **kwargs: Any) -> AgentStatus:
        """Apply a life-cycle event to an agent atomically; wakes the dispatcher when they became routable."""
        config = await self.config()
        if agent_id not in config.agents:
            raise UnknownAgentError(f"unknown agent {agent_id!r}")
        now = self.clock.now()
        before, after = await self.store.update_agent(
            agent_id, lambda s: agent_state.apply(s, event, now, **kwargs)
        )
        if after.routable and not before.routable:
            self.dispatcher.notify_agent(agent_id)
        if after != before:
            log.info(
                "agent %s agent=%s state=%s reason=%r", event.value, agent_id, after.state.value, after.reason
            )
        return after

    async def login(self, agent_id: str) -> AgentStatus:
        return await self.agent_event(agent_id, AgentEvent.LOGIN)

    async def logout(self, agent_id: str) -> AgentStatus:
        return await self.agent_event(agent_id, AgentEvent.LOGOUT)

    async def pause(self, agent_id: str, reason: str) -> AgentStatus:
        return await self.agent_event(agent_id, AgentEvent.PAUSE, reason=reason[:64])

    async def unpause(self, agent_id: str) -> AgentStatus:
        return await self.agent_event(agent_id, AgentEvent.UNPAUSE)

    async def set_absent(self, agent_id: str, reason: str, until: datetime | None = None) -> AgentStatus:
        return await self.agent_event(agent_id, AgentEvent.ABSENCE_START, reason=reason[:64], until=until)

    async def on_wrap_done(self, agent_id: str) -> None:
        """The timer reached an agent's wrap-up end: ready again (one atomic step), then routed."""
        after = await self.store.wrap_done(agent_id, self.clock.now())
        if after is not None and after.routable:
            self.dispatcher.notify_agent(agent_id)
            log.info("wrap-up ended agent=%s", agent_id)

    # ---- connecting (called by the dispatcher after an atomic assignment) ----

    async def on_assigned(self, assignment: Assignment) -> None:
        """Ring the agent: claim this attempt, then Redirect the caller (or Originate a callback).

        The claim is the fence: an assignment superseded between the atomic assign and now (its call was
        requeued, ended, or taken over by recovery) is never sent, so a stale Redirect cannot pull a
        caller away from the agent who rings for them now. The channel carries the attempt number
        (SB_ATTEMPT), which the dialplan hands back with SB_RONA_ATTEMPT when the caller returns to hold.
        A fresh assignment (straight from the dispatcher's atomic assign, which claimed the attempt itself,
        and connected within FRESH_ASSIGNMENT_SECONDS) skips the claim's round trip: the freed agent's next
        caller is on the critical path, and nothing can supersede an attempt that young (no ring guard or
        no-answer before the ring starts; no other controller takes over from one this much alive).
        """
        call = assignment.call
        attempt = call.attempts
        age = (self.clock.now() - assignment.assigned_at).total_seconds()
        if not (assignment.fresh and 0 <= age < FRESH_ASSIGNMENT_SECONDS):
            # The fence: is this still the current attempt? (one round trip, before the channel is touched)
            claim = await self.store.claim_connect(call.call_id, assignment.agent_id, attempt)
            if not claim.ok:
                log.warning(
                    "redirect not sent: assignment superseded call_id=%s agent=%s attempt=%d reason=%s",
                    call.call_id,
                    assignment.agent_id,
                    attempt,
                    claim.reason,
                )
                return
            call = claim.call or call
        variables = {
            "SB_CALL_ID": safe(call.call_id),
            "SB_AGENT_ID": safe(assignment.agent_id),
            "SB_AGENT_ENDPOINT": assignment.endpoint,  # validated against ENDPOINT_RE in the model
            "SB_RING_TIMEOUT": str(assignment.ring_timeout_seconds),
            "SB_ATTEMPT": str(attempt),
        }
        try:
            if call.callback and not call.channel:  # no live channel: call the customer back
                await self.port.originate(
                    channel=self.settings.callback_channel.format(number=safe(call.callback_number)),
                    context=self.settings.connect_context,
                    exten="s",
                    priority=1,
                    caller_id=self.settings.callback_caller_id,
                    timeout_ms=assignment.ring_timeout_seconds * 1000,
                    variables={**variables, "SB_CALLBACK": "1"},
                    action_id=f"{CALLBACK_ACTION_PREFIX}{call.call_id}-{attempt}",
                )
                log.info("callback originated call_id=%s agent=%s", call.call_id, assignment.agent_id)
            else:
                await self.port.redirect(
                    call.channel, self.settings.connect_context, "s", 1, variables=variables
                )
                log.info(
                    "caller redirected call_id=%s agent=%s endpoint=%s attempt=%d",
                    call.call_id,
                    assignment.agent_id,
                    assignment.endpoint,
                    attempt,
                )
        except ChannelGoneError as exc:
            await self._record("call_assigned", call, assignment.agent_id, assignment.explanation)
            await self._connect_failed(call, assignment.agent_id, attempt, str(exc))
            return
        except PortError as exc:
            # Unknown whether Asterisk acted: the ring guard checks the channel after the ring timeout.
            log.error(
                "connect action failed call_id=%s agent=%s error=%s; ring guard will check",
                call.call_id,
                assignment.agent_id,
                exc,
            )
        # The record is written after the ring so that a slow database never delays it.
        await self._record("call_assigned", call, assignment.agent_id, assignment.explanation)

    async def _connect_failed(self, call: WaitingCall, agent_id: str, attempt: int, error: str) -> None:
        """The Redirect named a channel Asterisk does not have: find the caller by uniqueid, or end the call.

        The caller is never dropped on a guess: only a live channel list without their uniqueid ends the
        call (an abandon); a caller found under another name is requeued at their place, the agent freed.
        """
        try:
            channels = await self.port.live_channels()
        except PortError as exc:
            log.error(
                "redirect failed and channels cannot be listed call_id=%s error=%s list_error=%s; "
                "ring guard will check",
                call.call_id,
                error,
                exc,
            )
            return
        live = next((c for c in channels if c.uniqueid == call.uniqueid), None)
        if live is None:
            log.warning("redirect failed, caller is gone call_id=%s error=%s", call.call_id, error)
            await self._caller_gone(call, cause="channel gone at connect")
            return
        if live.channel == call.channel:
            log.error(
                "redirect failed for a channel Asterisk lists call_id=%s channel=%s error=%s; "
                "ring guard will check",
                call.call_id,
                call.channel,
                error,
            )
            return
        await self.store.bind_channel(call.call_id, live.channel, live.uniqueid)
        log.warning(
            "redirect failed: caller's channel was renamed call_id=%s old=%s new=%s; requeued",
            call.call_id,
            call.channel,
            live.channel,
        )
        await self._no_answer(
            replace(call, channel=live.channel), "", kind="connect failed", pause=False, attempt=attempt
        )

    # ---- deadlines: relaxation steps and ring guards ----

    async def on_deadline(self, call_id: str) -> None:
        call = await self.store.get_call(call_id)
        if call is None:
            await self.store.set_deadline(call_id, None)
            return
        config = await self.config()
        now = self.clock.now()
        queue = config.queues.get(call.queue)
        if queue is None:
            log.error("call in unknown queue call_id=%s queue=%s", call_id, call.queue)
            await self.store.set_deadline(call_id, None)
            return
        if call.status is CallStatus.RINGING:
            await self._ring_guard(call, queue, now)
            return
        if call.status is not CallStatus.WAITING:
            await self.store.set_deadline(call_id, None)
            return
        scope = scope_at(queue, call.waited(now))
        if (
            scope.overflow_to
            and scope.overflow_to in config.queues
            and scope.overflow_to != call.original_queue
        ):
            await self._overflow(call, config.queues[scope.overflow_to], now)
            return
        await self.store.set_deadline(call_id, next_step_at(queue, call, now))
        log.info("relaxation step reached call_id=%s queue=%s step=%r", call_id, call.queue, scope.label)
        self.dispatcher.notify_call(call_id)

    async def _overflow(self, call: WaitingCall, target: Queue, now: datetime) -> None:
        moved = replace(call, queue=target.name, skill=target.skill)
        res = await self.store.move(call, target.name, target.skill, next_step_at(target, moved, now))
        if res.ok:
            log.info("call overflowed call_id=%s from=%s to=%s", call.call_id, call.queue, target.name)
            self.dispatcher.notify_call(call.call_id)

    async def _ring_guard(self, call: WaitingCall, queue: Queue, now: datetime) -> None:
        """A call still 'ringing' long after its ring timeout: ask Asterisk where the caller really is."""
        try:
            channels = await self.port.live_channels()
        except PortError as exc:
            log.warning(
                "ring guard cannot list channels call_id=%s error=%s; retrying later", call.call_id, exc
            )
            await self.store.set_deadline(
                call.call_id, now + timedelta(seconds=self.settings.ring_guard_seconds)
            )
            return
        await self._reconcile_call(call, {c.uniqueid: c for c in channels}, now)

    # ---- call outcomes (from Asterisk's signals, the connector and recovery) ----

    async def _caller_gone(self, call: WaitingCall, cause: str) -> None:
        """The conversation or the wait is over (a hang-up, or a channel found gone): end the call."""
        config = await self.config()
        now = self.clock.now()
        queue = config.queues.get(call.queue)
        wrap = queue.wrap_up_seconds if queue else 0.0
        wrap_until = (
            now + timedelta(seconds=wrap) if call.status is CallStatus.CONNECTED and wrap > 0 else None
        )
        result = await self.store.end_call(call, now, wrap_until, cause)
        if result is None:
            return
        await self._ended(result.call, result.outcome, wrap_until, cause, now)

    async def _ended(
        self, ended: WaitingCall, outcome: str, wrap_until: datetime | None, cause: str, now: datetime
    ) -> None:
        """After a call was removed from Redis: wake the dispatcher for the agent, statistics, the record."""
        if outcome == "completed":
            # The freed agent first: the next caller's Redirect must not wait for the statistics below.
            if wrap_until is None and ended.agent_id:
                self.dispatcher.notify_agent(ended.agent_id)
            self.dispatcher.notify_deadlines()
            handle = (now - (ended.answered_at or now)).total_seconds()
            log.info("call completed call_id=%s agent=%s handle=%.1fs", ended.call_id, ended.agent_id, handle)
            await self.store.after_call(
                ended.queue,
                handle,
                ended.caller_number,
                ended.agent_id or "",
                self.settings.repeat_caller_window_seconds,
            )
        else:
            log.info(
                "call abandoned call_id=%s queue=%s wait=%.1fs status=%s cause=%s",
                ended.call_id,
                ended.queue,
                ended.waited(now),
                ended.status.value,
                cause,
            )
            if ended.agent_id:
                self.dispatcher.notify_agent(ended.agent_id)
        await self._record("call_ended", ended, outcome, now)

    async def _no_answer(
        self, call: WaitingCall, reason: str, *, kind: str, pause: bool = True, attempt: int | None = None
    ) -> None:
        """Ring-no-answer: the call goes back to its old place in the queue, the agent is paused.

        With ``attempt``, only that attempt is ended: a late signal of an earlier one changes nothing.
        """
        config = await self.config()
        now = self.clock.now()
        queue = config.queues.get(call.queue) or self._queue(config, self.settings.fallback_queue)
        assert call.agent_id is not None
        res = await self.store.requeue(
            call,
            call.agent_id,
            now,
            next_step_at(queue, call, now),
            pause_reason=reason if pause else None,
            kind=kind,
            attempt=attempt,
        )
        if not res.ok or res.call is None:
            log.info(
                "no-answer signal for a finished attempt ignored call_id=%s agent=%s attempt=%s reason=%s",
                call.call_id,
                call.agent_id,
                attempt,
                res.reason,
            )
            return
        log.info(
            "call requeued call_id=%s agent=%s reason=%s kind=%s attempts=%d",
            call.call_id,
            call.agent_id,
            reason or "-",
            kind,
            res.call.attempts,
        )
        await self._record("call_requeued", res.call, f"{kind}: {call.agent_id}")
        if not pause:
            self.dispatcher.notify_agent(call.agent_id)
        if res.call.attempts >= queue.max_attempts:
            overflow = queue.step_after(RelaxAction.OVERFLOW)
            if overflow and overflow.value in config.queues and overflow.value != res.call.original_queue:
                log.info(
                    "max attempts reached call_id=%s attempts=%d; overflowing",
                    call.call_id,
                    res.call.attempts,
                )
                await self._overflow(res.call, config.queues[overflow.value], now)
                return
            if call.callback:
                log.warning(
                    "callback abandoned after %d attempts call_id=%s", res.call.attempts, call.call_id
                )
                await self._caller_gone(res.call, cause="callback attempts exhausted")
                return
            log.warning(
                "max attempts reached call_id=%s attempts=%d; keeps waiting", call.call_id, res.call.attempts
            )
        self.dispatcher.notify_call(call.call_id)

    async def _connected(self, call: WaitingCall, agent_leg: str = "") -> None:
        res = await self.store.connected(call.call_id, self.clock.now(), agent_leg)
        if res.ok and res.reason == "ok" and res.call is not None:
            log.info("call connected call_id=%s agent=%s", call.call_id, res.call.agent_id)
            await self._record("call_answered", call.call_id, self.clock.now(), res.call.agent_id)

    # ---- the hold loop ----

    async def hold_info(self, call_id: str) -> HoldInfo | None:
        """Position, estimated wait and whether a callback is offered (None when not waiting)."""
        call = await self.store.get_call(call_id)
        if call is None or call.status is not CallStatus.WAITING:
            return None
        config = await self.config()
        queue = config.queues.get(call.queue)
        pos = await self.store.position(call)
        if queue is None or pos is None:
            return None
        staffed_ids = config.agents_with_skill(call.skill)
        statuses = await self.store.agent_statuses(staffed_ids)
        staffed = sum(
            1 for s in statuses.values() if s.state.value in ("ready", "ringing", "on_call", "wrap_up")
        )
        times = await self.store.handle_times(call.queue)
        ewt = estimated_wait(pos[0], times, staffed, self.settings.default_handle_seconds)
        scope = scope_at(queue, call.waited(self.clock.now()))
        return HoldInfo(
            call_id,
            pos[0],
            pos[1],
            ewt,
            scope.callback_offered and bool(call.caller_number),
            queue.announce_every_seconds,
        )

    async def request_callback(self, call_id: str) -> bool:
        """The caller pressed the callback key: keep the place, drop the channel, call back later."""
        call = await self.store.get_call(call_id)
        if call is None or call.status is not CallStatus.WAITING or not call.caller_number:
            return False
        res = await self.store.mark_callback(call_id, call.caller_number)
        if res.ok and res.call is not None:
            log.info("callback requested call_id=%s queue=%s", call_id, call.queue)
            await self._record("call_requeued", res.call, "callback requested")
            return True
        return False

    async def call_for_channel(self, uniqueid: str) -> WaitingCall | None:
        return await self.store.call_for_channel(uniqueid)
