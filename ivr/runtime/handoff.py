"""Leaving the IVR: to the ACD (channel variables + QueueRequest), a dialled transfer, or a callback."""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass

from ivr.fastagi.errors import AgiError, AgiHangup
from ivr.flows.model import MAX_PRIORITY
from ivr.ports import CallbackPort, CallbackRequest, CallQueue, QueueRequest
from ivr.runtime.channel import CallChannel
from ivr.runtime.region import normalise_number
from ivr.runtime.state import CallState
from switchboard.clock import Clock

log = logging.getLogger(__name__)

_UNSAFE = re.compile(r"[^A-Za-z0-9_.+-]")
MAX_VAR_VALUE = 64


def safe_value(value: str) -> str:
    """Channel variable values are filtered to a safe alphabet: the dialplan may use them in arguments."""
    return _UNSAFE.sub("", value)[:MAX_VAR_VALUE]


class HandoffError(Exception):
    """The ACD or the callback service did not take the call."""


@dataclass(frozen=True)
class HandoffConfig:
    default_queue: str = "support"
    default_skill: str = "general"
    default_country: str = "US"
    timeout: float = 3.0  # bound on the ACD's enqueue (a network wait)


class Handoff:
    """Hands calls over; every external wait is bounded."""

    def __init__(
        self,
        call_queue: CallQueue,
        config: HandoffConfig,
        clock: Clock,
        callbacks: CallbackPort | None = None,
    ) -> None:
        self.call_queue = call_queue
        self.config = config
        self.clock = clock
        self.callbacks = callbacks

    async def to_queue(
        self,
        channel: CallChannel,
        state: CallState,
        *,
        queue: str | None,
        skill: str | None,
        priority: int | None,
        reason: str,
    ) -> QueueRequest:
        """Set SB_* on the channel, then enqueue: last, so nothing runs on the channel once the ACD has it."""
        queue = queue or state.queue or self.config.default_queue
        skill = skill or state.skill or self.config.default_skill
        prio = max(0, min(MAX_PRIORITY, state.priority if priority is None else priority))
        state.queue, state.skill, state.priority = queue, skill, prio
        request = QueueRequest(
            call_id=state.call_id, channel=state.channel, uniqueid=state.uniqueid,
            caller_number=state.caller_number, caller_name=state.caller_name, queue=queue, skill=skill,
            region=state.region, priority=prio, language=state.language, vip=state.vip, reason=reason,
            variables={**state.shareable_variables(), "sb_flow": state.flow_name},
        )  # fmt: skip
        await self.set_channel_vars(channel, state)
        try:
            async with asyncio.timeout(self.config.timeout):  # no extra task per call, unlike wait_for
                await self.call_queue.enqueue(request)
        except Exception as exc:
            raise HandoffError(f"the ACD did not take the call: {exc!r}") from exc
        log.info(
            "call queued call_id=%s queue=%s skill=%s region=%s priority=%d vip=%s reason=%s",
            state.call_id,
            queue,
            skill,
            state.region,
            prio,
            state.vip,
            reason,
        )
        return request

    async def set_channel_vars(self, channel: CallChannel, state: CallState) -> None:
        """The variables the dialplan and the ACD read (CONTRACTS section 5)."""
        values = {
            "SB_CALL_ID": state.call_id,
            "SB_QUEUE": state.queue or self.config.default_queue,
            "SB_SKILL": state.skill or self.config.default_skill,
            "SB_REGION": state.region or "",
            "SB_PRIORITY": str(state.priority),
        }
        for name, value in values.items():
            await channel.set_variable(name, safe_value(value))

    async def transfer(self, channel: CallChannel, state: CallState, target: str, timeout_s: int) -> str:
        """Dial ``target`` (a flow-author value, checked by the schema); returns DIALSTATUS."""
        try:
            result = await channel.exec("Dial", f"{target},{int(timeout_s)}")
        except AgiHangup:
            # Dial also ends this way when the caller hangs up after a conversation: that was a transfer
            try:
                status = await channel.get_variable("DIALSTATUS")
            except AgiError:
                status = None
            if (status or "").upper() == "ANSWER":
                return "ANSWER"
            raise
        if result == -2:
            raise HandoffError("Dial application not available")
        status = await channel.get_variable("DIALSTATUS")
        return (status or "UNKNOWN").upper()[:32]

    async def callback(
        self, channel: CallChannel, state: CallState, *, number_raw: str, queue: str | None, reason: str
    ) -> CallbackRequest | None:
        """Ask the callback service to call ``number_raw`` back; None without a usable number or service."""
        if self.callbacks is None:
            log.warning("no callback service call_id=%s", state.call_id)
            return None
        number = normalise_number(number_raw, self.config.default_country)
        if number is None:
            log.info("callback number not usable call_id=%s", state.call_id)
            return None
        request = CallbackRequest(
            call_id=state.call_id, number=number, caller_name=state.caller_name,
            queue=queue or state.queue or self.config.default_queue,
            skill=state.skill or self.config.default_skill, region=state.region, priority=state.priority,
            language=state.language, vip=state.vip, requested_at=self.clock.now(), reason=reason,
            variables={**state.shareable_variables(), "sb_flow": state.flow_name},
        )  # fmt: skip
        try:
            async with asyncio.timeout(self.config.timeout):  # no extra task per call, unlike wait_for
                await self.callbacks.request_callback(request)
        except Exception as exc:
            raise HandoffError(f"the callback service did not take the request: {exc!r}") from exc
        state.queue = request.queue
        log.info("callback requested call_id=%s queue=%s", state.call_id, request.queue)
        return request
