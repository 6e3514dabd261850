"""Live data for the wallboard and the agent desk, pushed as Server-Sent Events from the ACD's Redis stream.

Each browser connection follows the stream itself (``XREAD BLOCK`` from the id it last saw) and, per batch
of events, sends one fresh snapshot: a burst of events costs one snapshot, not one each. Without events a
snapshot still goes out every ``HEARTBEAT_SECONDS`` (keeps proxies from closing the stream and refreshes
time-in-state). Every text goes out as JSON and the page scripts set it with ``textContent``: a caller name
of ``<script>`` is shown, never run.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from acd.errors import AcdError
from acd.metrics_io import AcdMetrics
from acd.model import AgentState
from acd.service import AcdService
from acd.store import StreamEvent
from switchboard.clock import Clock
from switchboard.web.pages.queries import PageQueries, PagesDataError

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 2.0
RETRY_SECONDS = 1.0
CACHE_SECONDS = 0.25  # API pollers share a snapshot this fresh
OFFERED_STATES = frozenset({AgentState.RINGING, AgentState.ON_CALL, AgentState.WRAP_UP})


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def _ratio(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def event_millis(event_id: str) -> int | None:
    """The XADD time (ms since the epoch) encoded in a Redis stream id, or None for a malformed id."""
    head = event_id.partition("-")[0]
    return int(head) if head.isdigit() else None


@dataclass
class Live:
    """The services the live views read."""

    acd: AcdService
    metrics: AcdMetrics
    queries: PageQueries
    clock: Clock
    alerts: Any = None  # acd.alerts_io.AlertMonitor (or anything with ``active()``); None: no alerts section

    # ---- wallboard ----

    def __post_init__(self) -> None:
        self._board: tuple[float, dict[str, Any]] | None = None
        self._board_lock = asyncio.Lock()

    async def wallboard(self, event_id: str = "", *, max_age: float = CACHE_SECONDS) -> dict[str, Any]:
        """Everything the wallboard shows, as JSON-ready values (ratios 0-1, seconds).

        Concurrent viewers share one computation, reused for ``max_age`` seconds (0: always fresh): a room of
        wall screens and API pollers costs one set of SQL and Redis reads per interval. While one viewer
        refreshes an expired board, the others get the previous one at once (at most one computation older)
        rather than queueing behind the refresh; ``max_age=0`` always waits for a fresh board.
        """
        cached = self._board
        if max_age > 0 and cached is not None and self._board_lock.locked():
            return {**cached[1], "event_id": event_id}
        async with self._board_lock:
            cached = self._board
            if cached is None or max_age <= 0 or self.clock.monotonic() - cached[0] > max_age:
                cached = (self.clock.monotonic(), await self._compute_wallboard())
                self._board = cached
        return {**cached[1], "event_id": event_id}

    async def _compute_wallboard(self) -> dict[str, Any]:
        now = self.clock.now()
        today = self.metrics.today()
        problems: list[str] = []
        queues: list[dict[str, Any]] = []
        try:
            for m in await self.metrics.queue_metrics(today):
                queues.append(
                    {
                        "queue": m.queue,
                        "waiting": m.waiting,
                        "longest_wait_seconds": round(m.longest_wait_seconds, 1),
                        "service_level": _ratio(m.service_level),
                        "service_level_target": _ratio(m.service_level_target),
                        "service_level_seconds": m.service_level_seconds,
                        "abandon_rate": _ratio(m.abandon_rate),
                        "average_speed_of_answer_seconds": _ratio(m.average_speed_of_answer_seconds),
                        "offered": m.offered,
                        "answered": m.answered,
                        "abandoned": m.abandoned,
                        "below_target": m.service_level is not None
                        and m.service_level < m.service_level_target,
                    }
                )
        except AcdError as exc:
            problems.append(f"queue figures unavailable: {exc}")
        agents: list[dict[str, Any]] = []
        try:
            config = await self.acd.config()
            statuses = await self.acd.store.agent_statuses(config.agents)
            for agent_id, agent in sorted(config.agents.items()):
                status = statuses.get(agent_id)
                if status is None:
                    continue
                since = status.since
                agents.append(
                    {
                        "agent_id": agent_id,
                        "name": agent.name,
                        "state": status.state.value,
                        "reason": status.reason,
                        "since": _iso(since),
                        "seconds_in_state": round((now - since).total_seconds(), 1) if since else None,
                    }
                )
        except AcdError as exc:
            problems.append(f"agent states unavailable: {exc}")
        in_ivr = started = resolved = 0
        try:
            in_ivr, started, resolved = await self.queries.ivr_today(today.start)
        except PagesDataError as exc:
            problems.append(f"IVR figures unavailable: {exc}")
        alerts: list[dict[str, Any]] = []
        if self.alerts is not None:
            try:
                alerts = [a.to_json() for a in await self.alerts.active()]
            except AcdError as exc:
                problems.append(f"alerts unavailable: {exc}")
        return {
            "generated_at": _iso(now),
            "event_id": "",
            "alerts": alerts,
            "queues": queues,
            "agents": agents,
            "in_ivr": in_ivr,
            "self_service": {
                "started": started,
                "resolved": resolved,
                "deflection_rate": round(resolved / started, 4) if started else None,
            },
            "problems": problems,
        }

    # ---- agent desk ----

    async def desk(
        self, agent_id: str, event_id: str = "", why: str | None = None, assigned: str | None = None
    ) -> dict[str, Any]:
        """The agent's state and, while a call is offered or on, its screen pop.

        ``assigned``: a call just assigned to this agent (from the event stream); it pops even if the offer
        already ended by the time this runs, so a short ring is never missed.
        """
        status = await self.acd.store.agent_status(agent_id)
        offer = None
        call_id = assigned or (status.call_id if status.state in OFFERED_STATES else "")
        if call_id:
            offer = await self.screen_pop(call_id, agent_id, why)
        return {
            "event_id": event_id,
            "agent_id": agent_id,
            "state": status.state.value,
            "reason": status.reason,
            "since": _iso(status.since),
            "offer": offer,
        }

    async def screen_pop(self, call_id: str, agent_id: str, why: str | None = None) -> dict[str, Any] | None:
        """Who is calling and what they told the IVR, and why this agent; None if not this agent's call."""
        waiting = await self.acd.store.get_call(call_id)
        if waiting is not None and waiting.agent_id not in (None, agent_id):
            return None
        try:
            view = await self.queries.call(call_id)
            previous = await self.queries.previous_calls(
                view.caller_number or (waiting.caller_number if waiting else ""), call_id
            )
        except PagesDataError as exc:
            log.warning("screen pop data unavailable call_id=%s error=%s", call_id, exc)
            view, previous = None, []
        if view is not None and view.agent_id not in (None, agent_id) and waiting is None:
            return None
        explanation = _parse_why(why) or (view.explanation if view else None)
        return {
            "call_id": call_id,
            "caller_number": (waiting.caller_number if waiting else "")
            or (view.caller_number if view else ""),
            "caller_name": (waiting.caller_name if waiting else "") or (view.caller_name if view else ""),
            "region": (waiting.region if waiting else None) or (view.region if view else None),
            "queue": waiting.queue if waiting else (view.queue if view else None),
            "priority": waiting.priority if waiting else (view.priority if view else 0),
            "vip": waiting.vip if waiting else (view.vip if view else False),
            "reason": (waiting.reason if waiting else "") or (view.reason if view else ""),
            "flow": view.flow if view else None,
            "ivr_path": [asdict(s) | {"started_at": _iso(s.started_at)} for s in view.steps] if view else [],
            "explanation": explanation,
            "previous": [
                {
                    "call_id": p.call_id,
                    "at": _iso(p.enqueued_at),
                    "queue": p.queue,
                    "outcome": p.outcome,
                    "rating": p.rating,
                }
                for p in previous
            ],
        }


def _parse_why(raw: str | None) -> dict[str, Any] | None:
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def sse(event: str, data: Any) -> bytes:
    """One Server-Sent Event; JSON has no raw newlines, so ``data:`` stays one line."""
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


async def follow(
    live: Live,
    snapshot: Callable[[str, list[StreamEvent]], Awaitable[tuple[str, Any] | None]],
    disconnected: Callable[[], Awaitable[bool]],
    *,
    block_ms: int = int(HEARTBEAT_SECONDS * 1000),
) -> AsyncIterator[bytes]:
    """Yield SSE frames: a first snapshot, then one per batch of stream events (or per heartbeat)."""
    store = live.acd.store
    last = "$"
    try:
        last = await store.last_event_id()
    except AcdError as exc:
        log.warning("live view: cannot read the event stream error=%s", exc)
    first = await snapshot(last, [])
    if first is not None:
        yield sse(*first)
    while not await disconnected():
        try:
            events = await store.read_events(last, block_ms=block_ms, count=500)
        except AcdError as exc:
            log.warning("live view: event stream read failed error=%s", exc)
            yield sse("problem", {"message": "live updates interrupted; retrying"})
            await live.clock.sleep(RETRY_SECONDS)
            continue
        if events:
            last = events[-1].id
        try:
            frame = await snapshot(last, events)
        except AcdError as exc:
            log.warning("live view: snapshot failed error=%s", exc)
            frame = ("problem", {"message": "figures unavailable; retrying"})
        if frame is not None:
            yield sse(*frame)
        elif not events:
            yield b": heartbeat\n\n"
