"""Live routing state in Redis: agent states, waiting calls, assignments, deadlines and the event stream.

Every key carries the hash tag ``{acd}`` (``<prefix>:{acd}:...``), so everything one atomic script touches
lives in one Redis Cluster slot, and every script declares its keys. State changes that involve both a call
and an agent are Lua scripts (acd/scripts/*.lua) that check and move both and XADD the event in one step:
an agent never rings for two calls and a call never rings two agents, whatever number of controllers share
this Redis. A routing decision costs one read (``snapshot``) and one write (``assign``).

Redis errors are translated into ``StoreError`` here, the one boundary with redis-py.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from importlib import resources
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from acd.codec import (
    call_from_json,
    call_to_json,
    config_from_dict,
    config_to_dict,
    status_from_json,
    status_to_json,
)
from acd.errors import StoreError
from acd.model import AcdConfig, AgentStatus, RoutingExplanation, WaitingCall, from_ms, to_ms

log = logging.getLogger(__name__)

SCRIPT_NAMES = (
    "enqueue",
    "assign",
    "requeue",
    "connected",
    "end_call",
    "move",
    "callback",
    "bind_channel",
    "agent_cas",
    "snapshot",
    "connecting",
    "end_by_channel",
    "wrap_done",
    "call_for_channel",
    "enqueue_callback",
)


class Keys:
    """Key names under ``<prefix>:{acd}:``."""

    def __init__(self, prefix: str) -> None:
        if not prefix or any(ch in prefix for ch in "{} \r\n"):
            raise ValueError(f"bad Redis key prefix {prefix!r}")
        self.base = f"{prefix}:{{acd}}:"
        b = self.base
        self.calls, self.deadlines, self.chan = b + "calls", b + "deadlines", b + "chan"
        self.astate, self.ready, self.wrap = b + "astate", b + "ready", b + "wrap"
        self.events, self.rr, self.cfgver, self.config = b + "events", b + "rr", b + "cfgver", b + "config"
        self.epoch = b + "epoch"
        self.wrapq = b + "wrapq"  # queue -> wrap-up milliseconds (read by end_by_channel)

    def controller(self, origin: str) -> str:
        return f"{self.base}ctl:{origin}"

    def queue(self, name: str) -> str:
        return f"{self.base}q:{name}"

    def handle_times(self, queue: str) -> str:
        return f"{self.base}ht:{queue}"

    def last_agent(self, number: str) -> str:
        return f"{self.base}last:{number}"

    def callback_request(self, call_id: str) -> str:
        return f"{self.base}cbreq:{call_id}"


class EnqueueOutcome(StrEnum):
    ADDED = "added"
    DUPLICATE = "duplicate"  # same call id already known
    DUPLICATE_CHANNEL = "duplicate_channel"  # that channel already waits under another call id


@dataclass(frozen=True)
class EnqueueResult:
    outcome: EnqueueOutcome
    call_id: str


@dataclass(frozen=True)
class Snapshot:
    """What one decision reads, in one round trip."""

    config_version: int
    ready: tuple[str, ...]  # routable agents, longest idle first
    statuses: Mapping[str, AgentStatus]  # ready agents, requested agents, preferred agents of the calls
    head_raw: tuple[bytes, ...]  # the first k waiting calls of the requested queues, in routing order
    waiting_total: int  # calls waiting in the requested queues
    calls: tuple[WaitingCall, ...]  # explicitly requested ones that still exist
    last_agent: Mapping[str, str]

    def head(self) -> Iterator[WaitingCall]:
        """The head calls in routing order, decoded lazily (a decision usually needs only the first few)."""
        return (call_from_json(raw) for raw in self.head_raw)


@dataclass(frozen=True)
class ScriptResult:
    ok: bool
    reason: str = ""
    call: WaitingCall | None = None


@dataclass(frozen=True)
class EndResult:
    outcome: str  # completed | abandoned
    call: WaitingCall


@dataclass(frozen=True)
class StreamEvent:
    id: str
    fields: Mapping[str, str]

    @property
    def type(self) -> str:
        return self.fields.get("type", "")


@dataclass
class RoundTrips:
    """Counts commands sent to Redis (a pipeline or a script call is one round trip)."""

    count: int = 0
    by_name: dict[str, int] = field(default_factory=dict)

    def add(self, name: str) -> None:
        self.count += 1
        self.by_name[name] = self.by_name.get(name, 0) + 1


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class AcdStore:
    """The ACD's Redis adapter. ``origin`` tags events so a controller can tell its own from others'."""

    def __init__(
        self, redis: aioredis.Redis, prefix: str = "sb", *, origin: str = "", stream_maxlen: int = 100_000
    ) -> None:
        self.redis = redis
        self.keys = Keys(prefix)
        self.origin = origin or "controller"
        self.stream_maxlen = stream_maxlen
        self.round_trips = RoundTrips()
        common = resources.files("acd.scripts").joinpath("_common.lua").read_text()
        self._scripts: dict[str, AsyncScript] = {
            name: redis.register_script(
                common + "\n" + resources.files("acd.scripts").joinpath(f"{name}.lua").read_text()
            )
            for name in SCRIPT_NAMES
        }

    @asynccontextmanager
    async def _io(self, what: str) -> AsyncIterator[None]:
        self.round_trips.add(what)
        try:
            yield
        except RedisError as exc:
            raise StoreError(f"redis {what} failed: {exc}") from exc

    async def _run(self, name: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        async with self._io(name):
            return await self._scripts[name](keys=list(keys), args=list(args))

    # ---- configuration mirror (SQL is the record; Redis lets every controller see the same version) ----

    async def publish_config(self, config: AcdConfig) -> int:
        """Store the configuration and bump its version; controllers reload on the next snapshot."""
        blob = json.dumps(config_to_dict(config), separators=(",", ":"))
        async with self._io("publish_config"):
            pipe = self.redis.pipeline(transaction=True)
            pipe.set(self.keys.config, blob)
            pipe.incr(self.keys.cfgver)
            pipe.delete(self.keys.wrapq)
            if config.queues:
                pipe.hset(
                    self.keys.wrapq,
                    mapping={q.name: int(q.wrap_up_seconds * 1000) for q in config.queues.values()},
                )
            results = await pipe.execute()
        return int(results[1])

    async def load_config(self) -> AcdConfig | None:
        async with self._io("load_config"):
            pipe = self.redis.pipeline(transaction=True)
            pipe.get(self.keys.config)
            pipe.get(self.keys.cfgver)
            blob, version = await pipe.execute()
        if blob is None:
            return None
        return config_from_dict(json.loads(blob), version=int(version or 0))

    # ---- calls ----

    async def enqueue(self, call: WaitingCall, deadline: datetime | None) -> EnqueueResult:
        """Add a waiting call (idempotent on call id and on channel uniqueid)."""
        k = self.keys
        res = await self._run(
            "enqueue",
            [k.calls, k.queue(call.queue), k.deadlines, k.chan, k.events],
            [
                call.call_id,
                call_to_json(call),
                repr(call.score),
                to_ms(deadline) if deadline else "",
                call.uniqueid,
                self.stream_maxlen,
                self.origin,
                call.queue,
            ],
        )
        status, call_id = _s(res[0]), _s(res[1])
        outcome = {"ok": EnqueueOutcome.ADDED, "dup": EnqueueOutcome.DUPLICATE}.get(
            status, EnqueueOutcome.DUPLICATE_CHANNEL
        )
        return EnqueueResult(outcome, call_id)

    async def enqueue_callback(
        self, call: WaitingCall, deadline: datetime | None, remember_seconds: float
    ) -> EnqueueResult:
        """Add a callback (no channel; number in the entry) once per call id, even after it ended.

        The call id is remembered for ``remember_seconds``: a late retry of the request finds it.
        """
        k = self.keys
        res = await self._run(
            "enqueue_callback",
            [k.calls, k.queue(call.queue), k.deadlines, k.events, k.callback_request(call.call_id)],
            [
                call.call_id,
                call_to_json(call),
                repr(call.score),
                to_ms(deadline) if deadline else "",
                self.stream_maxlen,
                self.origin,
                call.queue,
                max(1, int(remember_seconds * 1000)),
            ],
        )
        status, call_id = _s(res[0]), _s(res[1])
        outcome = EnqueueOutcome.ADDED if status == "ok" else EnqueueOutcome.DUPLICATE
        return EnqueueResult(outcome, call_id)

    async def restore_call(self, call: WaitingCall) -> bool:
        """Put back a call that is not waiting (a connected caller found after Redis lost its data).

        Only the call and its channel index are written (no queue entry); False when the call is known.
        """
        k = self.keys
        async with self._io("restore_call"):
            added = await self.redis.hsetnx(k.calls, call.call_id, call_to_json(call))
            if added and call.uniqueid:
                await self.redis.hsetnx(k.chan, call.uniqueid, call.call_id)
        return bool(added)

    async def get_call(self, call_id: str) -> WaitingCall | None:
        async with self._io("get_call"):
            raw = await self.redis.hget(self.keys.calls, call_id)
        return call_from_json(raw) if raw is not None else None

    async def call_for_channel(self, uniqueid: str) -> WaitingCall | None:
        """The call whose caller channel (or connected agent leg) has this uniqueid (one round trip)."""
        raw = await self._run("call_for_channel", [self.keys.chan, self.keys.calls], [uniqueid])
        return call_from_json(raw) if raw else None

    async def all_calls(self) -> list[WaitingCall]:
        """Every call the ACD holds (waiting, ringing, connected)."""
        async with self._io("all_calls"):
            raw = await self.redis.hgetall(self.keys.calls)
        return [call_from_json(v) for v in raw.values()]

    async def waiting_count(self, queue: str) -> int:
        async with self._io("waiting_count"):
            return int(await self.redis.zcard(self.keys.queue(queue)))

    async def position(self, call: WaitingCall) -> tuple[int, int] | None:
        """(1-based position, calls waiting) of a waiting call in its queue, None when not waiting."""
        async with self._io("position"):
            pipe = self.redis.pipeline(transaction=False)
            pipe.zrank(self.keys.queue(call.queue), call.call_id)
            pipe.zcard(self.keys.queue(call.queue))
            rank, total = await pipe.execute()
        return None if rank is None else (int(rank) + 1, int(total))

    async def assign(
        self,
        call: WaitingCall,
        agent_id: str,
        now: datetime,
        guard: datetime,
        explanation: RoutingExplanation,
    ) -> ScriptResult:
        """Atomically ring ``agent_id`` for ``call``: both must still be free; records the event."""
        return (await self.assign_many([(call, agent_id, explanation)], now, [guard]))[0]

    async def assign_many(
        self,
        items: Sequence[tuple[WaitingCall, str, RoutingExplanation]],
        now: datetime,
        guards: Sequence[datetime],
    ) -> list[ScriptResult]:
        """Several independent atomic assignments in one script call (each checks and moves on its own)."""
        if not items:
            return []
        k = self.keys
        keys = [k.calls, k.deadlines, k.astate, k.ready, k.wrap, k.events, k.rr]
        args: list[Any] = [to_ms(now), self.stream_maxlen, self.origin]
        for (c, agent_id, why), guard in zip(items, guards, strict=True):
            keys.append(k.queue(c.queue))
            args += [c.call_id, agent_id, to_ms(guard), c.queue, orjson.dumps(why.to_dict())]
        results = await self._run("assign", keys, args)
        return [self._result(r) for r in results]

    def _result(self, res: Any) -> ScriptResult:
        status = _s(res[0])
        if status in ("ok", "dup"):
            return ScriptResult(True, status, call_from_json(res[1]))
        return ScriptResult(False, _s(res[1]))

    async def requeue(
        self,
        call: WaitingCall,
        agent_id: str,
        now: datetime,
        deadline: datetime | None,
        *,
        pause_reason: str | None,
        kind: str,
        queue: str | None = None,
        attempt: int | None = None,
    ) -> ScriptResult:
        """A ringing call back to waiting at its old place; the agent paused (reason) or back to ready.

        With ``attempt``, only that attempt is ended (a stale signal of an earlier one changes nothing).
        """
        k = self.keys
        target = queue or call.queue
        res = await self._run(
            "requeue",
            [k.calls, k.queue(target), k.deadlines, k.astate, k.ready, k.wrap, k.events],
            [
                call.call_id,
                agent_id,
                to_ms(now),
                to_ms(deadline) if deadline else "",
                "pause" if pause_reason else "ready",
                pause_reason or "",
                self.stream_maxlen,
                self.origin,
                target,
                kind,
                "" if attempt is None else attempt,
            ],
        )
        return self._result(res)

    async def claim_connect(self, call_id: str, agent_id: str, attempt: int) -> ScriptResult:
        """Claim attempt ``attempt`` for its Redirect; fails when that assignment was superseded."""
        res = await self._run("connecting", [self.keys.calls], [call_id, agent_id, attempt])
        return self._result(res)

    async def connected(self, call_id: str, now: datetime, agent_leg: str = "") -> ScriptResult:
        """The agent answered; ``agent_leg`` (the agent channel's uniqueid) is indexed like the caller's."""
        k = self.keys
        res = await self._run(
            "connected",
            [k.calls, k.deadlines, k.astate, k.ready, k.wrap, k.events, k.chan],
            [call_id, to_ms(now), self.stream_maxlen, self.origin, agent_leg],
        )
        return self._result(res)

    async def end_call(
        self, call: WaitingCall, now: datetime, wrap_until: datetime | None, cause: str
    ) -> EndResult | None:
        """Remove a call whose caller is gone; returns the outcome (None when it was already gone)."""
        k = self.keys
        res = await self._run(
            "end_call",
            [k.calls, k.queue(call.queue), k.deadlines, k.chan, k.astate, k.ready, k.wrap, k.events],
            [
                call.call_id,
                to_ms(now),
                to_ms(wrap_until) if wrap_until else 0,
                self.stream_maxlen,
                self.origin,
                cause,
            ],
        )
        status = _s(res[0])
        if status == "err":
            return None
        return EndResult(status, call_from_json(res[1]))

    async def end_by_channel(
        self, uniqueid: str, now: datetime, cause: str
    ) -> tuple[str, WaitingCall | None, datetime | None]:
        """A hang-up: (outcome, call, wrap_until) where outcome is completed, abandoned, waiting (not ended:
        use end_call), ignored (the agent's leg of a call not yet connected) or none (unknown channel)."""
        k = self.keys
        res = await self._run(
            "end_by_channel",
            [k.chan, k.calls, k.deadlines, k.astate, k.ready, k.wrap, k.events, k.wrapq],
            [uniqueid, to_ms(now), self.stream_maxlen, self.origin, cause],
        )
        outcome = _s(res[0])
        call = call_from_json(res[1]) if outcome != "none" else None
        wrap_until = from_ms(int(_s(res[2]))) if len(res) > 2 and int(_s(res[2])) > 0 else None
        return outcome, call, wrap_until

    async def wrap_done(self, agent_id: str, now: datetime) -> AgentStatus | None:
        """End an agent's wrap-up if it is due; the new status, or None when there was nothing to end."""
        k = self.keys
        res = await self._run(
            "wrap_done",
            [k.astate, k.ready, k.wrap, k.events],
            [agent_id, to_ms(now), self.stream_maxlen, self.origin],
        )
        return status_from_json(agent_id, res[1]) if _s(res[0]) == "ok" else None

    async def move(
        self, call: WaitingCall, to_queue: str, skill: str, deadline: datetime | None
    ) -> ScriptResult:
        k = self.keys
        res = await self._run(
            "move",
            [k.calls, k.queue(call.queue), k.queue(to_queue), k.deadlines, k.events],
            [
                call.call_id,
                to_queue,
                skill,
                to_ms(deadline) if deadline else "",
                self.stream_maxlen,
                self.origin,
            ],
        )
        return self._result(res)

    async def mark_callback(self, call_id: str, number: str) -> ScriptResult:
        k = self.keys
        res = await self._run(
            "callback", [k.calls, k.chan, k.events], [call_id, number, self.stream_maxlen, self.origin]
        )
        return self._result(res)

    async def bind_channel(self, call_id: str, channel: str, uniqueid: str) -> ScriptResult:
        res = await self._run("bind_channel", [self.keys.calls, self.keys.chan], [call_id, channel, uniqueid])
        return self._result(res)

    # ---- controllers and Redis's own continuity ----

    async def heartbeat(self, ttl_seconds: float) -> None:
        """Say this controller is alive (its assignments in flight are its own business until it expires)."""
        async with self._io("heartbeat"):
            await self.redis.set(self.keys.controller(self.origin), "1", px=max(1, int(ttl_seconds * 1000)))

    async def controller_alive(self, origin: str) -> bool:
        if not origin:
            return False
        if origin == self.origin:
            return True
        async with self._io("controller_alive"):
            return bool(await self.redis.exists(self.keys.controller(origin)))

    async def epoch(self) -> str | None:
        """A marker that lives as long as this Redis's data: None after a restart without persistence."""
        async with self._io("epoch"):
            raw = await self.redis.get(self.keys.epoch)
        return _s(raw) if raw is not None else None

    async def set_epoch(self, value: str) -> bool:
        """Set the marker unless one exists; True when this call set it."""
        async with self._io("epoch"):
            return bool(await self.redis.set(self.keys.epoch, value, nx=True))

    # ---- agents ----

    async def agent_status(self, agent_id: str) -> AgentStatus:
        async with self._io("agent_status"):
            raw = await self.redis.hget(self.keys.astate, agent_id)
        return status_from_json(agent_id, raw)

    async def agent_statuses(self, agent_ids: Iterable[str] | None = None) -> dict[str, AgentStatus]:
        """Statuses of the given agents (all known when None); unknown agents read as offline."""
        async with self._io("agent_statuses"):
            if agent_ids is None:
                raw = await self.redis.hgetall(self.keys.astate)
                return {_s(a): status_from_json(_s(a), v) for a, v in raw.items()}
            ids = list(agent_ids)
            if not ids:
                return {}
            values = await self.redis.hmget(self.keys.astate, ids)
        return {a: status_from_json(a, v) for a, v in zip(ids, values, strict=True)}

    async def set_agent(self, old: AgentStatus | None, new: AgentStatus) -> bool:
        """Compare-and-set: write ``new`` only if the stored status still equals ``old`` (None: absent)."""
        k = self.keys
        res = await self._run(
            "agent_cas",
            [k.astate, k.ready, k.wrap, k.events],
            [
                new.agent_id,
                status_to_json(old) if old is not None else "",
                status_to_json(new),
                self.stream_maxlen,
                self.origin,
            ],
        )
        return _s(res[0]) == "ok"

    async def update_agent(
        self, agent_id: str, change: Callable[[AgentStatus], AgentStatus], *, attempts: int = 8
    ) -> tuple[AgentStatus, AgentStatus]:
        """Read, apply ``change`` (pure; may raise), compare-and-set; retried on a concurrent write.

        Returns (before, after). An agent never stored reads as offline.
        """
        for _ in range(attempts):
            async with self._io("agent_status"):
                raw = await self.redis.hget(self.keys.astate, agent_id)
            old = status_from_json(agent_id, raw) if raw is not None else None
            current = old or AgentStatus(agent_id)
            new = change(current)
            if old is not None and new == current:
                return current, current
            if await self.set_agent(old, new):
                return current, new
        raise StoreError(f"agent {agent_id}: state kept changing under us ({attempts} attempts)")

    async def ready_agents(self) -> list[str]:
        async with self._io("ready_agents"):
            return [_s(a) for a in await self.redis.zrange(self.keys.ready, 0, -1)]

    # ---- the one-round-trip read for a decision ----

    async def snapshot(
        self,
        queues: Sequence[str],
        *,
        k: int = 16,
        call_ids: Sequence[str] = (),
        agent_ids: Sequence[str] = (),
        cover: Mapping[str, Iterable[str]] | None = None,
        per_agent: int = 0,
        k_max: int = 0,
    ) -> Snapshot:
        """Ready agents, the merged head of ``queues``, given calls and agents' states: one round trip.

        With ``cover`` (agent id -> the queues it serves) and ``per_agent``, the head grows past ``k`` (up to
        ``k_max``) until each of those agents has ``per_agent`` calls of its own queues in it.
        """
        keys = self.keys
        args: list[Any] = [k, len(call_ids), *call_ids, len(agent_ids), *agent_ids]
        if cover and per_agent > 0:
            index = {a: i for i, a in enumerate(agent_ids, start=1)}
            serves: dict[str, list[str]] = {q: [] for q in queues}
            for agent_id, agent_queues in cover.items():
                for q in agent_queues:
                    if q in serves and agent_id in index:
                        serves[q].append(str(index[agent_id]))
            args += [per_agent, max(k, k_max), *(",".join(serves[q]) for q in queues)]
        qkeys = [keys.queue(q) for q in queues]
        res = await self._run(
            "snapshot", [keys.ready, keys.astate, keys.calls, keys.cfgver, keys.rr, *qkeys], args
        )
        version, ready_flat, head, total, explicit, ids, states, rr = res
        ready = tuple(_s(ready_flat[i]) for i in range(0, len(ready_flat), 2))
        statuses = {_s(a): status_from_json(_s(a), v or None) for a, v in zip(ids, states, strict=True)}
        calls = tuple(call_from_json(b) for b in explicit if b)
        last = {_s(rr[i]): _s(rr[i + 1]) for i in range(0, len(rr), 2)}
        return Snapshot(int(version), ready, statuses, tuple(b for b in head if b), int(total), calls, last)

    # ---- deadlines (relaxation steps, ring guards) and wrap-up ends ----

    async def set_deadline(self, call_id: str, at: datetime | None) -> None:
        async with self._io("set_deadline"):
            if at is None:
                await self.redis.zrem(self.keys.deadlines, call_id)
            else:
                await self.redis.zadd(self.keys.deadlines, {call_id: to_ms(at)})

    async def next_due(self) -> datetime | None:
        """The earliest pending deadline or wrap-up end."""
        async with self._io("next_due"):
            pipe = self.redis.pipeline(transaction=False)
            pipe.zrange(self.keys.deadlines, 0, 0, withscores=True)
            pipe.zrange(self.keys.wrap, 0, 0, withscores=True)
            d, w = await pipe.execute()
        scores = [s for _, s in d] + [s for _, s in w]
        return from_ms(min(scores)) if scores else None

    async def due(self, now: datetime) -> tuple[list[str], list[str]]:
        """(call ids whose deadline passed, agent ids whose wrap-up ended)."""
        ms = to_ms(now)
        async with self._io("due"):
            pipe = self.redis.pipeline(transaction=False)
            pipe.zrangebyscore(self.keys.deadlines, "-inf", ms)
            pipe.zrangebyscore(self.keys.wrap, "-inf", ms)
            d, w = await pipe.execute()
        return [_s(x) for x in d], [_s(x) for x in w]

    # ---- statistics for announcements and repeat callers ----

    async def after_call(
        self, queue: str, handle_seconds: float, number: str, agent_id: str, ttl_seconds: int, keep: int = 50
    ) -> None:
        """A completed call's statistics and repeat-caller memory, in one round trip."""
        async with self._io("after_call"):
            pipe = self.redis.pipeline(transaction=False)
            pipe.lpush(self.keys.handle_times(queue), f"{handle_seconds:.1f}")
            pipe.ltrim(self.keys.handle_times(queue), 0, keep - 1)
            if ttl_seconds > 0 and number and agent_id:
                pipe.set(self.keys.last_agent(number), agent_id, ex=ttl_seconds)
            await pipe.execute()

    async def record_handle_time(self, queue: str, seconds: float, keep: int = 50) -> None:
        async with self._io("record_handle_time"):
            pipe = self.redis.pipeline(transaction=False)
            pipe.lpush(self.keys.handle_times(queue), f"{seconds:.1f}")
            pipe.ltrim(self.keys.handle_times(queue), 0, keep - 1)
            await pipe.execute()

    async def handle_times(self, queue: str) -> list[float]:
        async with self._io("handle_times"):
            return [float(x) for x in await self.redis.lrange(self.keys.handle_times(queue), 0, -1)]

    async def remember_agent(self, number: str, agent_id: str, ttl_seconds: int) -> None:
        if ttl_seconds <= 0 or not number:
            return
        async with self._io("remember_agent"):
            await self.redis.set(self.keys.last_agent(number), agent_id, ex=ttl_seconds)

    async def last_agent(self, number: str) -> str | None:
        if not number:
            return None
        async with self._io("last_agent"):
            raw = await self.redis.get(self.keys.last_agent(number))
        return _s(raw) if raw is not None else None

    # ---- the event stream ----

    async def read_events(self, last_id: str, *, block_ms: int = 1000, count: int = 500) -> list[StreamEvent]:
        """Events after ``last_id`` ('$' = only new ones), waiting up to ``block_ms``."""
        async with self._io("read_events"):
            res = await self.redis.xread({self.keys.events: last_id}, count=count, block=block_ms)
        out: list[StreamEvent] = []
        for _stream, entries in res or []:
            for eid, fields in entries:
                out.append(StreamEvent(_s(eid), {_s(a): _s(b) for a, b in fields.items()}))
        return out

    async def last_event_id(self) -> str:
        async with self._io("last_event_id"):
            res = await self.redis.xrevrange(self.keys.events, count=1)
        return _s(res[0][0]) if res else "0-0"

    async def events(self, count: int = 100) -> list[StreamEvent]:
        """The most recent events, oldest first (wallboard, audit, tests)."""
        async with self._io("events"):
            res = await self.redis.xrevrange(self.keys.events, count=count)
        return [StreamEvent(_s(eid), {_s(a): _s(b) for a, b in f.items()}) for eid, f in reversed(res)]

    async def clear(self) -> None:
        """Delete every ACD key under this prefix (tests, benchmarks, a deliberate reset)."""
        async with self._io("clear"):
            batch: list[Any] = []
            async for key in self.redis.scan_iter(
                match=self.keys.base.replace("{", "\\{").replace("}", "\\}") + "*", count=1000
            ):
                batch.append(key)
                if len(batch) >= 500:
                    await self.redis.delete(*batch)
                    batch.clear()
            if batch:
                await self.redis.delete(*batch)
