"""The dispatcher: woken by events (call enqueued, agent ready, deadline reached), never by a poll.

Work items are call ids and agent ids. A call item looks for the best ready agent for that call; an agent
item looks for the best waiting call that agent may take (then picks, for that call, the best of all ready
agents). Each decision is one snapshot read, the pure policy, and one atomic assign per pair.

Wake-ups: local ``notify_*`` calls; the Redis event stream (other controllers' changes: every script XADDs
its event with the writer's origin, so controllers sharing a Redis wake each other); and a timer task that
sleeps on the Clock until the next deadline (relaxation step, ring guard, wrap-up end), computed from
Redis, and is re-armed whenever that may have moved.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from acd.errors import AcdError
from acd.model import AcdConfig, Assignment, Decision
from acd.policy import RoutingView, plan
from acd.store import AcdStore, Snapshot
from switchboard.call_path import gate
from switchboard.clock import Clock

log = logging.getLogger(__name__)

CALL_EVENTS = frozenset({"enqueued", "requeued", "moved", "callback"})
MAX_PAGE = 4096


def raise_if_cancel_lost() -> None:
    """Re-raise a cancellation that a library swallowed.

    redis-py 8.1's asyncio client sometimes completes a command normally when the task is cancelled
    while the reply is being read (the class of redis/redis-py#2028): the CancelledError never reaches
    us and a loop would go back to waiting forever. The task still counts the request (``cancelling()``),
    so long-running loops check it once per round.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


class DispatchHooks(Protocol):
    """What the dispatcher asks of the service."""

    async def config(self, version: int | None = None) -> AcdConfig:
        """The configuration, reloaded when ``version`` differs from the one held."""
        ...

    async def on_assigned(self, assignment: Assignment) -> None:
        """Ring the agent (AMI Redirect or Originate)."""
        ...

    async def on_deadline(self, call_id: str) -> None:
        """A call's relaxation step or ring guard is due (must move or clear its deadline)."""
        ...

    async def on_wrap_done(self, agent_id: str) -> None:
        """An agent's wrap-up ended."""
        ...


@dataclass(frozen=True)
class DecisionStats:
    """Figures of one decision, for benchmarks and logs."""

    round_trips: int
    assigned: int


class Dispatcher:
    """Matches waiting calls and ready agents when something changed."""

    def __init__(
        self,
        store: AcdStore,
        hooks: DispatchHooks,
        clock: Clock,
        *,
        page: int = 16,
        ring_guard_seconds: float = 15.0,
        listen: bool = True,
        batch: int = 32,
    ) -> None:
        self.store = store
        self.hooks = hooks
        self.clock = clock
        self.page = page
        self.ring_guard_seconds = ring_guard_seconds
        self.listen = listen
        self.batch = batch
        self._calls: set[str] = set()
        self._agents: set[str] = set()
        self._wake = asyncio.Event()
        self._timer_poke = asyncio.Event()
        self._tasks: asyncio.TaskGroup | None = None
        self._holding = False  # the call-path gate is held for pending work
        self.decisions = 0
        self.assignments = 0

    # ---- wake-ups ----

    def notify_call(self, call_id: str) -> None:
        self._calls.add(call_id)
        self._wake_up()
        self._timer_poke.set()

    def notify_agent(self, agent_id: str) -> None:
        self._agents.add(agent_id)
        self._wake_up()

    def _wake_up(self) -> None:
        self._wake.set()
        if self._tasks is not None and not self._holding:
            self._holding = True  # released by the work loop once it has decided
            gate.hold()

    def _drop_hold(self) -> None:
        if self._holding:
            self._holding = False
            gate.release()

    def notify_deadlines(self) -> None:
        """A deadline may have moved earlier: re-arm the timer."""
        self._timer_poke.set()

    # ---- running ----

    async def run(self) -> None:
        """Run until cancelled: the work loop, the deadline timer and (optionally) the stream listener."""
        try:
            async with asyncio.TaskGroup() as tg:
                self._tasks = tg
                tg.create_task(self._supervise("work", self._work_loop))
                tg.create_task(self._supervise("timer", self._timer_loop))
                if self.listen:
                    tg.create_task(self._supervise("listener", self._listen_loop))
        finally:
            self._tasks = None
            self._drop_hold()

    async def _supervise(self, name: str, loop: callable) -> None:  # type: ignore[valid-type]
        delay = 0.1
        while True:
            try:
                await loop()
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("acd dispatcher %s loop failed; restarting in %.1fs", name, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _work_loop(self) -> None:
        while True:
            raise_if_cancel_lost()
            await self._wake.wait()
            self._wake.clear()
            try:
                await self.run_pending()
            finally:
                if not self._wake.is_set():  # more work already pending keeps the gate held
                    self._drop_hold()

    async def run_pending(self) -> list[Assignment]:
        """Process every pending work item now (the work loop calls this; tests may too).

        Agents freed at about the same time are decided together: one snapshot, one pipelined round of
        atomic assigns for the batch.
        """
        done: list[Assignment] = []
        while self._calls or self._agents:
            agents, self._agents = sorted(self._agents), set()
            calls, self._calls = sorted(self._calls), set()
            for i in range(0, len(agents), self.batch):
                try:
                    done += await self.fill_agents(agents[i : i + self.batch])
                except AcdError as exc:
                    log.warning(
                        "acd decision failed agents=%s error=%s; retried on the next event", agents, exc
                    )
            for i in range(0, len(calls), 100):
                try:
                    done += await self.place_calls(calls[i : i + 100])
                except AcdError as exc:
                    log.warning(
                        "acd decision failed calls=%d error=%s; retried on the next event", len(calls), exc
                    )
        return done

    # ---- decisions ----

    async def _view(self, snap: Snapshot) -> RoutingView:
        config = await self.hooks.config(snap.config_version)
        return RoutingView(config, snap.statuses, self.clock.now(), snap.last_agent)

    async def place_calls(self, call_ids: Sequence[str]) -> list[Assignment]:
        """Find agents for these calls (one snapshot, then one assign per match)."""
        snap = await self.store.snapshot((), call_ids=call_ids)
        self.decisions += 1
        if not snap.ready:
            return []
        waiting = [c for c in snap.calls if c.status.value == "waiting"]
        view = await self._view(snap)
        return await self._execute(plan(waiting, view, snap.ready), view)

    async def fill_agent(self, agent_id: str) -> list[Assignment]:
        """Find a call for one agent who became ready."""
        return await self.fill_agents([agent_id])

    async def fill_agents(self, agent_ids: Sequence[str]) -> list[Assignment]:
        """Find calls for agents who became ready; reads deeper only while some found nothing that fits.

        The first read already holds at least ``page / 2`` calls of each agent's own queues (when that
        many wait), so an agent whose queues the others' crowd out of the merged head rarely costs a second.
        """
        config = await self.hooks.config()
        pending = list(agent_ids)
        cover = {a: config.queues_for_agent(a) for a in pending}
        queues = sorted({q for qs in cover.values() for q in qs})
        if not queues:
            return []
        k = max(self.page, 4 * len(pending))
        done: list[Assignment] = []
        while True:
            snap = await self.store.snapshot(
                queues,
                k=k,
                agent_ids=pending,
                cover=cover,
                per_agent=max(1, self.page // 2),
                k_max=min(4 * k, MAX_PAGE),
            )
            self.decisions += 1
            pending = [a for a in pending if a in snap.ready]
            if not pending:
                return done
            view = await self._view(snap)
            decisions = plan(snap.head(), view, snap.ready, presorted=True)
            done += await self._execute(decisions, view)
            chosen = {d.agent_id for d in decisions}  # assigned, or lost a race (the conflict requeued work)
            pending = [a for a in pending if a not in chosen]
            read = max(k, len(snap.head_raw))
            if not pending or snap.waiting_total <= read or read >= MAX_PAGE:
                return done
            # Read deeper only in the queues of the agents still without a call: the others' queues
            # would fill the deeper page with calls none of them can take.
            cover = {a: cover[a] for a in pending}
            queues = sorted({q for qs in cover.values() for q in qs})
            k = min(4 * read, MAX_PAGE)

    async def _execute(self, decisions: Iterable[Decision], view: RoutingView) -> list[Assignment]:
        chosen = [d for d in decisions if d.agent_id is not None]
        if not chosen:
            return []
        now = self.clock.now()
        guards = [
            now
            + timedelta(
                seconds=view.config.queues[d.call.queue].ring_timeout_seconds + self.ring_guard_seconds
            )
            for d in chosen
        ]
        results = await self.store.assign_many(
            [(d.call, d.agent_id, d.explanation) for d in chosen], now, guards
        )  # type: ignore[misc]
        done: list[Assignment] = []
        for d, res in zip(chosen, results, strict=True):
            assert d.agent_id is not None
            if not res.ok:
                log.info(
                    "acd assign lost a race call_id=%s agent=%s reason=%s",
                    d.call.call_id,
                    d.agent_id,
                    res.reason,
                )
                if res.reason.startswith("agent_"):
                    self._calls.add(d.call.call_id)  # the call still needs an agent
                else:
                    self._agents.add(d.agent_id)  # the agent still needs a call
                self._wake_up()
                continue
            assert res.call is not None
            queue = view.config.queues[d.call.queue]
            assignment = Assignment(
                res.call,
                d.agent_id,
                view.config.agents[d.agent_id].endpoint,
                d.explanation,
                now,
                queue.ring_timeout_seconds,
                fresh=True,
            )
            self.assignments += 1
            log.info(
                "acd assigned call_id=%s agent=%s queue=%s step=%r rule=%r",
                res.call.call_id,
                d.agent_id,
                res.call.queue,
                d.explanation.step,
                d.explanation.rule,
            )
            done.append(assignment)
            await self._connect(assignment)
        self._timer_poke.set()
        return done

    async def aside(self, name: str, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` beside the dispatcher's loops (logged if it fails); inline when not running."""
        if self._tasks is None:
            await work
            return

        async def guarded() -> None:
            try:
                await work
            except Exception:
                log.exception("acd background work failed work=%s", name)

        self._tasks.create_task(guarded())

    async def _connect(self, assignment: Assignment) -> None:
        if self._tasks is None:
            await self._safe_connect(assignment)
        else:
            task = self._tasks.create_task(self._safe_connect(assignment))
            gate.hold()  # until the Redirect is answered (released when the task ends, however it ends)
            task.add_done_callback(lambda _: gate.release())

    async def _safe_connect(self, assignment: Assignment) -> None:
        try:
            await self.hooks.on_assigned(assignment)
        except Exception:
            log.exception(
                "acd connect failed call_id=%s agent=%s", assignment.call.call_id, assignment.agent_id
            )

    # ---- deadlines ----

    async def _timer_loop(self) -> None:
        while True:
            raise_if_cancel_lost()
            self._timer_poke.clear()
            nxt = await self.store.next_due()
            now = self.clock.now()
            if nxt is not None and nxt <= now:
                with gate.reacting():  # a wrap-up end frees an agent: the call path
                    await self.fire_due(now)
                continue
            delay = None if nxt is None else (nxt - now).total_seconds()
            await self._sleep_or_poke(delay)

    async def _sleep_or_poke(self, delay: float | None) -> None:
        poke = asyncio.ensure_future(self._timer_poke.wait())
        waiters: set[asyncio.Future[object]] = {poke}
        sleeper = None
        if delay is not None:
            sleeper = asyncio.ensure_future(self.clock.sleep(delay))
            waiters.add(sleeper)
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waiters:
                if not w.done():
                    w.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await w

    async def fire_due(self, now: datetime) -> None:
        """Handle every deadline and wrap-up end that is due at ``now``."""
        call_ids, agent_ids = await self.store.due(now)
        for call_id in call_ids:
            try:
                await self.hooks.on_deadline(call_id)
            except Exception:
                log.exception("acd deadline handling failed call_id=%s; clearing it", call_id)
                await self.store.set_deadline(call_id, None)
        for agent_id in agent_ids:
            try:
                await self.hooks.on_wrap_done(agent_id)
            except Exception:
                log.exception("acd wrap-up end failed agent=%s", agent_id)

    # ---- other controllers ----

    async def _listen_loop(self) -> None:
        last = await self.store.last_event_id()
        while True:
            raise_if_cancel_lost()
            events = await self.store.read_events(last, block_ms=1000)
            for ev in events:
                last = ev.id
                if ev.fields.get("origin") == self.store.origin:
                    continue
                if ev.type in CALL_EVENTS:
                    self._calls.add(ev.fields.get("call", ""))
                elif ev.type == "agent" and ev.fields.get("state") == "ready":
                    self._agents.add(ev.fields.get("agent", ""))
            if events:
                self._calls.discard("")
                self._agents.discard("")
                self._timer_poke.set()
                if self._calls or self._agents:
                    self._wake_up()
