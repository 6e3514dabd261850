"""Agent-selection strategies, one pure function per queue strategy.

Each takes the eligible candidates of equal preference and returns the chosen one and the rule in words.
Ties always break on agent id, so a decision is reproducible from its inputs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from acd.model import Strategy


@dataclass(frozen=True)
class Candidate:
    """An eligible ready agent as a strategy sees it."""

    agent_id: str
    proficiency: int
    idle_seconds: float
    calls_taken: int


StrategyFn = Callable[[Sequence[Candidate], str | None], tuple[Candidate, str]]


def _longest_idle_key(c: Candidate) -> tuple[float, str]:
    return (-c.idle_seconds, c.agent_id)


def proficiency_first(candidates: Sequence[Candidate], last_agent: str | None) -> tuple[Candidate, str]:
    """Best proficiency tier, longest idle within it."""
    best = max(c.proficiency for c in candidates)
    tier = [c for c in candidates if c.proficiency == best]
    chosen = min(tier, key=_longest_idle_key)
    return chosen, (
        f"proficiency-first: best tier {best} ({len(tier)} of {len(candidates)} eligible), "
        f"longest idle {chosen.idle_seconds:.0f}s"
    )


def longest_idle(candidates: Sequence[Candidate], last_agent: str | None) -> tuple[Candidate, str]:
    """Longest idle among all eligible, proficiency ignored above the minimum."""
    chosen = min(candidates, key=_longest_idle_key)
    return chosen, f"longest-idle: idle {chosen.idle_seconds:.0f}s ({len(candidates)} eligible)"


def fewest_calls(candidates: Sequence[Candidate], last_agent: str | None) -> tuple[Candidate, str]:
    """Fewest calls taken, then longest idle."""
    chosen = min(candidates, key=lambda c: (c.calls_taken, -c.idle_seconds, c.agent_id))
    return chosen, f"fewest-calls: {chosen.calls_taken} calls taken ({len(candidates)} eligible)"


def round_robin(candidates: Sequence[Candidate], last_agent: str | None) -> tuple[Candidate, str]:
    """The next agent id after the queue's last pick, wrapping around."""
    ordered = sorted(candidates, key=lambda c: c.agent_id)
    if last_agent is not None:
        for c in ordered:
            if c.agent_id > last_agent:
                return c, f"round-robin: next after {last_agent}"
    return ordered[0], f"round-robin: wrapped to first after {last_agent or 'start'}"


STRATEGIES: dict[Strategy, StrategyFn] = {
    Strategy.PROFICIENCY_FIRST: proficiency_first,
    Strategy.LONGEST_IDLE: longest_idle,
    Strategy.FEWEST_CALLS: fewest_calls,
    Strategy.ROUND_ROBIN: round_robin,
}


def choose(
    strategy: Strategy, candidates: Sequence[Candidate], last_agent: str | None
) -> tuple[Candidate, str]:
    """Apply a queue's strategy; ``candidates`` must not be empty."""
    if not candidates:
        raise ValueError("no candidates to choose from")
    return STRATEGIES[strategy](candidates, last_agent)
