"""Routing policy: pure functions from (waiting calls, agent states, configuration, now) to decisions.

Order: higher priority first, then longest waiting. For each call, in this order of preference:
its preferred agent (VIP personal agent or repeat caller's last agent); when that agent is absent or
busy, the agent's named substitutes in order; then every eligible agent, picked by the queue's strategy.
What is eligible depends on the relaxation steps reached (region, minimum proficiency, substitutes).
Every decision carries its explanation.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from acd.model import (
    AcdConfig,
    Agent,
    AgentState,
    AgentStatus,
    CandidateNote,
    Decision,
    Queue,
    RelaxAction,
    RoutingExplanation,
    Scope,
    SkipNote,
    WaitingCall,
)
from acd.strategies import Candidate, choose

MAX_CANDIDATE_NOTES = 10
MAX_SKIP_NOTES = 20
_AWAY_STATES = frozenset({AgentState.OFFLINE, AgentState.ABSENT, AgentState.PAUSED})


def scope_at(queue: Queue, waited: float) -> Scope:
    """The relaxation in force after ``waited`` seconds in ``queue``.

    Region matching applies only while the queue's any-region step is ahead (a queue without one ignores
    regions, so no call can be stranded); the hold for a preferred agent lasts until the substitutes step.
    """
    region_step = queue.step_after(RelaxAction.ANY_REGION)
    subs_step = queue.step_after(RelaxAction.SUBSTITUTES)
    min_prof = queue.min_proficiency
    overflow_to: str | None = None
    callback = False
    reached = 0
    label = "initial"
    for step in queue.steps:
        if step.after_seconds > waited:
            break
        reached += 1
        label = f"step {reached} at {step.after_seconds:g}s: {step.action.value}"
        if step.action is RelaxAction.MIN_PROFICIENCY:
            min_prof = int(step.value)
            label += f" {step.value}"
        elif step.action is RelaxAction.OVERFLOW:
            overflow_to = step.value
            label += f" to {step.value}"
        elif step.action is RelaxAction.CALLBACK:
            callback = True
    return Scope(
        step=reached,
        label=label,
        region_required=region_step is not None and waited < region_step.after_seconds,
        min_proficiency=min_prof,
        hold_for_preferred=subs_step is not None and waited < subs_step.after_seconds,
        overflow_to=overflow_to,
        callback_offered=callback,
    )


def next_step_at(queue: Queue, call: WaitingCall, now: datetime) -> datetime | None:
    """When the next relaxation step of this call's queue is reached (None when all are behind)."""
    waited = call.waited(now)
    for step in queue.steps:
        if step.after_seconds > waited:
            return call.enqueued_at + timedelta(seconds=step.after_seconds)
    return None


@dataclass(frozen=True)
class RoutingView:
    """What the policy may look at: configuration, agent states, round-robin cursors, the time."""

    config: AcdConfig
    statuses: Mapping[str, AgentStatus]
    now: datetime
    last_agent: Mapping[str, str] = field(default_factory=dict)  # queue -> last agent picked


def skip_reason(
    agent: Agent,
    call: WaitingCall,
    scope: Scope,
    config: AcdConfig,
    now: datetime,
    *,
    check_region: bool = True,
) -> str | None:
    """Why ``agent`` may not take ``call`` under ``scope`` (None when eligible)."""
    absence = config.absence_at(agent.id, now)
    if absence is not None:
        return f"absent ({absence.kind.value} until {absence.ends_at.isoformat()})"
    prof = agent.proficiency(call.skill)
    if prof == 0:
        return f"no skill {call.skill}"
    if prof < scope.min_proficiency:
        return f"proficiency {prof} below minimum {scope.min_proficiency}"
    if check_region and scope.region_required and call.region and call.region not in agent.regions:
        return f"region {call.region} not served"
    if call.language and agent.languages and call.language not in agent.languages:
        return f"does not speak {call.language}"
    return None


def _status_words(status: AgentStatus | None) -> str:
    if status is None:
        return "offline"
    words = status.state.value
    if status.reason:
        words += f" ({status.reason})"
    if not status.registered:
        words += ", softphone unregistered"
    if status.direct_call:
        words += ", on a direct call"
    return words


def _is_away(status: AgentStatus | None, agent_id: str, config: AcdConfig, now: datetime) -> bool:
    """Absent, offline, paused or unreachable: not coming back to the queue soon."""
    if config.absence_at(agent_id, now) is not None:
        return True
    return status is None or status.state in _AWAY_STATES or not status.registered


def _candidate(agent: Agent, status: AgentStatus, skill: str, now: datetime) -> Candidate:
    return Candidate(agent.id, agent.proficiency(skill), status.idle_seconds(now), status.calls_taken)


def _note(c: Candidate, tier: str) -> CandidateNote:
    return CandidateNote(c.agent_id, c.proficiency, c.idle_seconds, c.calls_taken, tier)


def decide(call: WaitingCall, view: RoutingView, available: Iterable[str]) -> Decision:
    """The agent for one call among ``available`` (routable ready agent ids), with the explanation."""
    config, now = view.config, view.now
    queue = config.queues.get(call.queue)
    if queue is None:
        return Decision(call, None, RoutingExplanation("", f"queue {call.queue} is not configured"))
    scope = scope_at(queue, call.waited(now))
    avail = [a for a in available if a in config.agents]
    avail_set = set(avail)
    with_skill = sum(1 for a in avail if config.agents[a].proficiency(call.skill) > 0)
    not_ready = len(config.agents_with_skill(call.skill)) - with_skill

    pref = call.preferred_agent if call.preferred_agent in config.agents else None
    pref_note = ""
    if pref is not None:
        pagent = config.agents[pref]
        pstatus = view.statuses.get(pref)
        kind = call.preference.value if call.preference else "preferred"
        if pref in avail_set and skip_reason(pagent, call, scope, config, now, check_region=False) is None:
            assert pstatus is not None
            c = _candidate(pagent, pstatus, call.skill, now)
            return Decision(
                call,
                pref,
                RoutingExplanation(
                    scope.label, f"preferred agent ({kind})", (_note(c, "preferred"),), (), not_ready
                ),
            )
        away = _is_away(pstatus, pref, config, now)
        absence = config.absence_at(pref, now)
        pref_note = f"{pref} " + (f"absent ({absence.kind.value})" if absence else _status_words(pstatus))
        if not away and scope.hold_for_preferred:
            subs = queue.step_after(RelaxAction.SUBSTITUTES)
            assert subs is not None
            return Decision(
                call,
                None,
                RoutingExplanation(
                    scope.label,
                    f"holding for preferred agent {pref_note} until {subs.after_seconds:g}s",
                    (),
                    (),
                    not_ready,
                ),
            )
        for rank, sub in enumerate(pagent.substitutes, start=1):
            if sub in avail_set and sub in config.agents:
                sagent = config.agents[sub]
                if skip_reason(sagent, call, scope, config, now, check_region=False) is None:
                    c = _candidate(sagent, view.statuses[sub], call.skill, now)
                    return Decision(
                        call,
                        sub,
                        RoutingExplanation(
                            scope.label,
                            f"substitute #{rank} of {pref_note}",
                            (_note(c, "substitute"),),
                            (),
                            not_ready,
                        ),
                    )

    eligible: list[Candidate] = []
    skipped: list[SkipNote] = []
    for agent_id in avail:
        agent = config.agents[agent_id]
        reason = skip_reason(agent, call, scope, config, now)
        if reason is None:
            eligible.append(_candidate(agent, view.statuses[agent_id], call.skill, now))
        elif len(skipped) < MAX_SKIP_NOTES:
            skipped.append(SkipNote(agent_id, reason))
    prefix = f"{pref_note}; " if pref_note else ""
    if not eligible:
        return Decision(
            call,
            None,
            RoutingExplanation(
                scope.label, prefix + "no eligible ready agent", (), tuple(skipped), not_ready
            ),
        )
    chosen, rule = choose(queue.strategy, eligible, view.last_agent.get(queue.name))
    notes = [_note(chosen, "pool")]
    notes += [_note(c, "pool") for c in eligible if c is not chosen][: MAX_CANDIDATE_NOTES - 1]
    return Decision(
        call,
        chosen.agent_id,
        RoutingExplanation(scope.label, prefix + rule, tuple(notes), tuple(skipped), not_ready),
    )


def plan(
    calls: Iterable[WaitingCall], view: RoutingView, available: Iterable[str], *, presorted: bool = False
) -> list[Decision]:
    """Greedy matching in call order: each call takes its best agent among those still free.

    ``calls`` may be a lazy iterator already in routing order (``presorted``): examination stops as soon
    as no agent is left, so only the calls looked at are decoded. Returns one decision per call examined.
    """
    agents = view.config.agents
    free = [a for a in available if a in agents]
    ordered = calls if presorted else sorted(calls, key=WaitingCall.order_key)
    decisions: list[Decision] = []
    v = view
    for call in ordered:
        if not free:
            break
        if not any(agents[a].proficiency(call.skill) for a in free):
            # Nobody left could take it whatever the step (every rule needs the skill): skip the full decide.
            why = RoutingExplanation("", f"no ready agent with skill {call.skill}")
            decisions.append(Decision(call, None, why))
            continue
        decision = decide(call, v, free)
        decisions.append(decision)
        if decision.agent_id is not None:
            free.remove(decision.agent_id)
            v = RoutingView(v.config, v.statuses, v.now, {**v.last_agent, call.queue: decision.agent_id})
    return decisions


def routable_ids(statuses: Mapping[str, AgentStatus]) -> list[str]:
    """Agents that may be offered a call now."""
    return [a for a, s in statuses.items() if s.routable]


def estimated_wait(
    position: int, handle_times: Sequence[float], staffed: int, default_handle: float
) -> float:
    """Expected seconds until a caller at ``position`` (1 = next) is answered.

    Each staffed agent frees up once per average handle time; the caller is reached when ``position``
    agents have freed up, i.e. after ``position / staffed`` handle times (half a handle time for the
    first, as agents are on average half-way through their call).
    """
    if staffed <= 0:
        return float("inf")
    aht = sum(handle_times) / len(handle_times) if handle_times else default_handle
    return max(0.0, (position - 0.5) * aht / staffed)
