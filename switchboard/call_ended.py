"""Feeds the end of every answered queue call to the surveys: a job following the ACD's Redis event stream.

It starts a few minutes back in the stream so a restart misses nothing (``on_call_ended`` is idempotent per
call id, so a call seen twice gets one survey). The call's queue, skill, caller and language come from its
``acd_queue_calls`` record, the IVR outcome from the IVR's ``calls`` record.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from acd.errors import AcdError
from acd.store import AcdStore, StreamEvent
from acd.tables import QueueCallRow
from ivr.store import CallRow
from surveys.ports import CallEnded
from switchboard.call_path import gate
from switchboard.clock import Clock

log = logging.getLogger(__name__)

REPLAY_SECONDS = 600
ANSWERED = frozenset({"completed"})


class CallEndedFeed:
    """Turns the ACD's ``ended`` events of answered calls into ``surveys.ports.CallEnded``."""

    def __init__(
        self,
        store: AcdStore,
        sessions: async_sessionmaker[AsyncSession],
        surveys: Any,
        clock: Clock,
        *,
        block_ms: int = 2000,
    ) -> None:
        self.store = store
        self.sessions = sessions
        self.surveys = surveys
        self.clock = clock
        self.block_ms = block_ms
        self.handled = 0

    def start_id(self) -> str:
        return f"{int((self.clock.now().timestamp() - REPLAY_SECONDS) * 1000)}-0"

    async def run(self) -> None:
        """Follow the stream forever (a supervised job); a bad event is logged and skipped."""
        last = self.start_id()
        while True:
            try:
                events = await self.store.read_events(last, block_ms=self.block_ms, count=200)
            except AcdError as exc:
                log.warning("call-ended feed: stream read failed error=%s", exc)
                await self.clock.sleep(1.0)
                continue
            if events:
                await gate.quiet()  # the reaction to the hang-up first (switchboard/call_path.py)
            for event in events:
                last = event.id
                await self.handle(event)

    async def handle(self, event: StreamEvent) -> CallEnded | None:
        """Pass one event on when it is the end of an answered call; returns what was passed."""
        if event.type != "ended" or event.fields.get("outcome") not in ANSWERED:
            return None
        call_id = event.fields.get("call", "")
        if not call_id:
            return None
        try:
            ended = await self._call_ended(call_id, event)
            await self.surveys.on_call_ended(ended)
        except (SQLAlchemyError, ValueError) as exc:
            log.warning("call-ended feed: survey not scheduled call_id=%s error=%s", call_id, exc)
            return None
        except Exception:
            log.exception("call-ended feed: surveys failed call_id=%s", call_id)
            return None
        self.handled += 1
        return ended

    async def _call_ended(self, call_id: str, event: StreamEvent) -> CallEnded:
        async with self.sessions() as session:
            queued = await session.get(QueueCallRow, call_id)
            ivr = await session.get(CallRow, call_id)
        millis = event.id.partition("-")[0]
        at = datetime.fromtimestamp(int(millis) / 1000, UTC) if millis.isdigit() else self.clock.now()
        return CallEnded(
            call_id=call_id,
            caller_number=(queued.caller_number if queued else None) or (ivr.caller_number if ivr else None),
            agent_id=event.fields.get("agent") or (queued.agent_id if queued else None),
            queue=event.fields.get("queue") or (queued.queue if queued else None),
            skill=queued.skill if queued else (ivr.skill if ivr else None),
            ivr_outcome=ivr.outcome if ivr else None,
            language=(queued.language if queued else None) or (ivr.language if ivr else None) or "",
            ended_at=(queued.ended_at if queued and queued.ended_at else at),
        )
