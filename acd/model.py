"""The routing model: agents, queues, relaxation steps, absences, VIPs, waiting calls and decisions.

Everything here is a frozen dataclass or an enum, validated on construction, so bad input fails at the
edge with a message that names the field (``AcdValidationError``) instead of deep inside routing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from acd.errors import AcdValidationError

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
AGENT_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# A dial string names one device: technology/resource, no options, no second destination (`&`, `,`).
ENDPOINT_RE = re.compile(r"^(PJSIP|SIP|IAX2|DAHDI|Local)/[A-Za-z0-9_.+@-]{1,80}$")
NUMBER_RE = re.compile(r"^\+?[0-9]{2,20}$")
LANGUAGE_RE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")
MAX_PRIORITY = 99
PROFICIENCY_MIN, PROFICIENCY_MAX = 1, 5


class AgentState(StrEnum):
    """Where an agent is in the routing life cycle."""

    OFFLINE = "offline"
    READY = "ready"
    RINGING = "ringing"
    ON_CALL = "on_call"
    WRAP_UP = "wrap_up"
    PAUSED = "paused"
    ABSENT = "absent"


class Strategy(StrEnum):
    """How a queue picks among eligible agents of equal preference."""

    PROFICIENCY_FIRST = "proficiency-first"  # best proficiency tier, longest idle within it (default)
    LONGEST_IDLE = "longest-idle"
    FEWEST_CALLS = "fewest-calls"
    ROUND_ROBIN = "round-robin"


class RelaxAction(StrEnum):
    """What a relaxation step widens once a call has waited long enough."""

    ANY_REGION = "any-region"
    MIN_PROFICIENCY = "min-proficiency"
    SUBSTITUTES = "substitutes"
    OVERFLOW = "overflow"
    CALLBACK = "callback"


class AbsenceKind(StrEnum):
    SICK = "sick"
    LEAVE = "leave"
    TRAINING = "training"


class CallStatus(StrEnum):
    WAITING = "waiting"
    RINGING = "ringing"
    CONNECTED = "connected"


class PreferenceKind(StrEnum):
    VIP = "vip"
    REPEAT = "repeat"


def check_name(value: object, what: str) -> str:
    """A skill, region or queue name: lower-case letters, digits, ``_.-``; at most 64 characters."""
    if not isinstance(value, str) or not NAME_RE.fullmatch(value):
        raise AcdValidationError(f"{what} {value!r} is not a valid name (a-z, 0-9, '_.-', max 64)")
    return value


def check_agent_id(value: object, what: str = "agent id") -> str:
    if not isinstance(value, str) or not AGENT_ID_RE.fullmatch(value):
        raise AcdValidationError(f"{what} {value!r} is not a valid agent id (A-Z, a-z, 0-9, '_.-', max 64)")
    return value


def check_aware(value: object, what: str) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise AcdValidationError(f"{what} must be a timezone-aware datetime, got {value!r}")
    return value.astimezone(UTC)


def _check_int(value: object, what: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise AcdValidationError(f"{what} must be an integer from {lo} to {hi}, got {value!r}")
    return value


def _check_number(value: object, what: str, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
        raise AcdValidationError(f"{what} must be a number from {lo} to {hi}, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class AgentSkill:
    """One skill an agent has, with proficiency 1 (novice) to 5 (expert)."""

    skill: str
    proficiency: int

    def __post_init__(self) -> None:
        check_name(self.skill, "skill")
        _check_int(self.proficiency, f"proficiency of skill {self.skill!r}", PROFICIENCY_MIN, PROFICIENCY_MAX)


@dataclass(frozen=True)
class Agent:
    """A person who takes calls on one endpoint (``PJSIP/101``)."""

    id: str
    name: str
    endpoint: str
    skills: tuple[AgentSkill, ...] = ()
    regions: frozenset[str] = frozenset()
    languages: frozenset[str] = frozenset()
    timezone: str = "UTC"
    substitutes: tuple[str, ...] = ()  # agent ids, in order of preference
    _skill_map: Mapping[str, int] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_agent_id(self.id)
        if not isinstance(self.name, str) or len(self.name) > 200:
            raise AcdValidationError(f"agent {self.id}: name must be text of at most 200 characters")
        if not isinstance(self.endpoint, str) or not ENDPOINT_RE.fullmatch(self.endpoint):
            raise AcdValidationError(
                f"agent {self.id}: endpoint {self.endpoint!r} is not a single device such as PJSIP/101"
            )
        skills = tuple(self.skills)
        seen: dict[str, int] = {}
        for s in skills:
            if not isinstance(s, AgentSkill):
                raise AcdValidationError(f"agent {self.id}: skills must be AgentSkill values")
            if s.skill in seen:
                raise AcdValidationError(f"agent {self.id}: skill {s.skill!r} listed twice")
            seen[s.skill] = s.proficiency
        for r in self.regions:
            check_name(r, f"agent {self.id}: region")
        for lang in self.languages:
            if not isinstance(lang, str) or not LANGUAGE_RE.fullmatch(lang):
                raise AcdValidationError(
                    f"agent {self.id}: language {lang!r} is not a code such as 'en' or 'ko'"
                )
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            raise AcdValidationError(f"agent {self.id}: unknown time zone {self.timezone!r}") from None
        subs = tuple(self.substitutes)
        for sub in subs:
            check_agent_id(sub, f"agent {self.id}: substitute")
        if self.id in subs:
            raise AcdValidationError(f"agent {self.id}: cannot be its own substitute")
        if len(set(subs)) != len(subs):
            raise AcdValidationError(f"agent {self.id}: a substitute is listed twice")
        object.__setattr__(self, "skills", skills)
        object.__setattr__(self, "regions", frozenset(self.regions))
        object.__setattr__(self, "languages", frozenset(self.languages))
        object.__setattr__(self, "substitutes", subs)
        object.__setattr__(self, "_skill_map", seen)

    def proficiency(self, skill: str) -> int:
        """Proficiency in ``skill``; 0 when the agent does not have it."""
        return self._skill_map.get(skill, 0)

    @property
    def skill_names(self) -> frozenset[str]:
        return frozenset(self._skill_map)


@dataclass(frozen=True)
class RelaxationStep:
    """After ``after_seconds`` of waiting, widen the search (value: minimum proficiency or overflow queue)."""

    after_seconds: float
    action: RelaxAction
    value: str = ""

    def __post_init__(self) -> None:
        _check_number(self.after_seconds, "relaxation step after_seconds", 0, 86_400)
        try:
            action = RelaxAction(self.action)
        except ValueError:
            choices = ", ".join(a.value for a in RelaxAction)
            raise AcdValidationError(
                f"unknown relaxation action {self.action!r} (one of {choices})"
            ) from None
        object.__setattr__(self, "action", action)
        object.__setattr__(self, "after_seconds", float(self.after_seconds))
        if action is RelaxAction.MIN_PROFICIENCY:
            if not str(self.value).isdigit():
                raise AcdValidationError(f"min-proficiency step needs a value 1-5, got {self.value!r}")
            _check_int(int(self.value), "min-proficiency step value", PROFICIENCY_MIN, PROFICIENCY_MAX)
        elif action is RelaxAction.OVERFLOW:
            check_name(self.value, "overflow step target queue")
        elif self.value not in ("", None):
            raise AcdValidationError(f"{action.value} step takes no value, got {self.value!r}")
        object.__setattr__(self, "value", str(self.value or ""))


@dataclass(frozen=True)
class Queue:
    """Where calls for one skill wait, with its service-level target and relaxation steps."""

    name: str
    skill: str
    service_level_percent: float = 80.0
    service_level_seconds: float = 20.0
    wrap_up_seconds: float = 30.0
    ring_timeout_seconds: int = 20
    max_attempts: int = 3
    strategy: Strategy = Strategy.PROFICIENCY_FIRST
    min_proficiency: int = 1
    steps: tuple[RelaxationStep, ...] = ()
    announce_every_seconds: int = 30

    def __post_init__(self) -> None:
        check_name(self.name, "queue name")
        check_name(self.skill, f"queue {self.name}: skill")
        _check_number(self.service_level_percent, f"queue {self.name}: service_level_percent", 0, 100)
        _check_number(self.service_level_seconds, f"queue {self.name}: service_level_seconds", 1, 3600)
        _check_number(self.wrap_up_seconds, f"queue {self.name}: wrap_up_seconds", 0, 3600)
        _check_int(self.ring_timeout_seconds, f"queue {self.name}: ring_timeout_seconds", 5, 300)
        _check_int(self.max_attempts, f"queue {self.name}: max_attempts", 1, 100)
        _check_int(
            self.min_proficiency, f"queue {self.name}: min_proficiency", PROFICIENCY_MIN, PROFICIENCY_MAX
        )
        _check_int(self.announce_every_seconds, f"queue {self.name}: announce_every_seconds", 10, 3600)
        try:
            object.__setattr__(self, "strategy", Strategy(self.strategy))
        except ValueError:
            choices = ", ".join(s.value for s in Strategy)
            raise AcdValidationError(
                f"queue {self.name}: unknown strategy {self.strategy!r} ({choices})"
            ) from None
        steps = tuple(sorted(self.steps, key=lambda s: s.after_seconds))
        for step in steps:
            if not isinstance(step, RelaxationStep):
                raise AcdValidationError(f"queue {self.name}: steps must be RelaxationStep values")
            if step.action is RelaxAction.OVERFLOW and step.value == self.name:
                raise AcdValidationError(f"queue {self.name}: cannot overflow into itself")
        object.__setattr__(self, "steps", steps)
        for key in ("service_level_percent", "service_level_seconds", "wrap_up_seconds"):
            object.__setattr__(self, key, float(getattr(self, key)))

    def step_after(self, action: RelaxAction) -> RelaxationStep | None:
        """The first step of this kind, if the queue has one."""
        return next((s for s in self.steps if s.action is action), None)


@dataclass(frozen=True)
class Absence:
    """A planned absence (sick, leave, training) from ``starts_at`` until ``ends_at``."""

    id: str
    agent_id: str
    kind: AbsenceKind
    starts_at: datetime
    ends_at: datetime
    note: str = ""

    def __post_init__(self) -> None:
        check_agent_id(self.agent_id)
        try:
            object.__setattr__(self, "kind", AbsenceKind(self.kind))
        except ValueError:
            raise AcdValidationError(f"unknown absence kind {self.kind!r} (sick, leave, training)") from None
        object.__setattr__(self, "starts_at", check_aware(self.starts_at, "absence start"))
        object.__setattr__(self, "ends_at", check_aware(self.ends_at, "absence end"))
        if self.ends_at <= self.starts_at:
            raise AcdValidationError(
                f"absence of {self.agent_id}: end {self.ends_at.isoformat()} is not after start "
                f"{self.starts_at.isoformat()}"
            )
        if len(self.note) > 500:
            raise AcdValidationError("absence note longer than 500 characters")

    def covers(self, when: datetime) -> bool:
        return self.starts_at <= when < self.ends_at


@dataclass(frozen=True)
class VipEntry:
    """A caller number that gets a priority boost and, optionally, a personal agent."""

    number: str
    name: str = ""
    priority_boost: int = 10
    agent_id: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.number, str) or not NUMBER_RE.fullmatch(self.number):
            raise AcdValidationError(f"VIP number {self.number!r} is not a phone number (+ and 2-20 digits)")
        _check_int(self.priority_boost, f"VIP {self.number}: priority_boost", 0, MAX_PRIORITY)
        if self.agent_id is not None:
            check_agent_id(self.agent_id, f"VIP {self.number}: agent")


@dataclass(frozen=True)
class AcdConfig:
    """The whole routing configuration, cross-checked: every reference resolves."""

    agents: Mapping[str, Agent]
    queues: Mapping[str, Queue]
    skills: frozenset[str] = frozenset()
    regions: frozenset[str] = frozenset()
    absences: tuple[Absence, ...] = ()
    vips: Mapping[str, VipEntry] = field(default_factory=dict)
    version: int = 0

    def __post_init__(self) -> None:
        problems = config_problems(self)
        if problems:
            raise AcdValidationError("; ".join(problems[:10]))
        by_agent: dict[str, list[Absence]] = {}
        for a in self.absences:
            by_agent.setdefault(a.agent_id, []).append(a)
        object.__setattr__(self, "_absences_by_agent", {k: tuple(v) for k, v in by_agent.items()})
        by_endpoint = {a.endpoint: a.id for a in self.agents.values()}
        object.__setattr__(self, "_by_endpoint", by_endpoint)
        by_skill: dict[str, list[str]] = {}
        for a in self.agents.values():
            for s in a.skills:
                by_skill.setdefault(s.skill, []).append(a.id)
        object.__setattr__(self, "_by_skill", {k: tuple(v) for k, v in by_skill.items()})

    def absence_at(self, agent_id: str, when: datetime) -> Absence | None:
        """The absence covering ``when`` for this agent, if any."""
        for a in self._absences_by_agent.get(agent_id, ()):  # type: ignore[attr-defined]
            if a.covers(when):
                return a
        return None

    def agent_for_endpoint(self, endpoint: str) -> str | None:
        return self._by_endpoint.get(endpoint)  # type: ignore[attr-defined]

    def agents_with_skill(self, skill: str) -> tuple[str, ...]:
        return self._by_skill.get(skill, ())  # type: ignore[attr-defined]

    def queues_for_agent(self, agent_id: str) -> tuple[str, ...]:
        """Queues whose skill the agent has (including overflow targets)."""
        agent = self.agents.get(agent_id)
        if agent is None:
            return ()
        return tuple(q.name for q in self.queues.values() if agent.proficiency(q.skill) > 0)


def config_problems(config: AcdConfig) -> list[str]:
    """Every dangling reference in a configuration, in words."""
    problems: list[str] = []
    skills = config.skills or frozenset(
        s.skill for a in config.agents.values() for s in a.skills
    ) | frozenset(q.skill for q in config.queues.values())
    regions = config.regions or frozenset(r for a in config.agents.values() for r in a.regions)
    endpoints: dict[str, str] = {}
    for agent_id, agent in config.agents.items():
        if agent_id != agent.id:
            problems.append(f"agent key {agent_id!r} differs from its id {agent.id!r}")
        for s in agent.skills:
            if s.skill not in skills:
                problems.append(f"agent {agent.id}: unknown skill {s.skill!r}")
        for r in agent.regions:
            if r not in regions:
                problems.append(f"agent {agent.id}: unknown region {r!r}")
        for sub in agent.substitutes:
            if sub not in config.agents:
                problems.append(f"agent {agent.id}: substitute {sub!r} is not an agent")
        if agent.endpoint in endpoints:
            problems.append(
                f"agents {endpoints[agent.endpoint]} and {agent.id} share endpoint {agent.endpoint}"
            )
        endpoints[agent.endpoint] = agent.id
    for name, queue in config.queues.items():
        if name != queue.name:
            problems.append(f"queue key {name!r} differs from its name {queue.name!r}")
        if queue.skill not in skills:
            problems.append(f"queue {queue.name}: unknown skill {queue.skill!r}")
        for step in queue.steps:
            if step.action is RelaxAction.OVERFLOW and step.value not in config.queues:
                problems.append(f"queue {queue.name}: overflow target {step.value!r} is not a queue")
    for absence in config.absences:
        if absence.agent_id not in config.agents:
            problems.append(f"absence {absence.id}: agent {absence.agent_id!r} is not an agent")
    for vip in config.vips.values():
        if vip.agent_id is not None and vip.agent_id not in config.agents:
            problems.append(f"VIP {vip.number}: agent {vip.agent_id!r} is not an agent")
    return problems


def to_ms(when: datetime) -> int:
    """UTC datetime -> integer epoch milliseconds (the unit Redis scores use)."""
    return round(when.timestamp() * 1000)


def from_ms(ms: float | int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def order_score(priority: int, enqueued_at: datetime) -> float:
    """Sorted-set score: higher priority first, then earlier enqueue; exact in a double (< 2**53)."""
    p = min(max(priority, 0), MAX_PRIORITY)
    return float((MAX_PRIORITY - p) * 10**13 + to_ms(enqueued_at))


@dataclass(frozen=True)
class WaitingCall:
    """A caller in (or being connected from) a queue."""

    call_id: str
    queue: str
    skill: str
    channel: str
    uniqueid: str
    enqueued_at: datetime
    caller_number: str = ""
    caller_name: str = ""
    priority: int = 0
    region: str | None = None
    language: str | None = None
    vip: bool = False
    attempts: int = 0
    preferred_agent: str | None = None
    preference: PreferenceKind | None = None
    status: CallStatus = CallStatus.WAITING
    agent_id: str | None = None
    callback: bool = False
    callback_number: str = ""
    original_queue: str = ""
    reason: str = ""
    assigned_at: datetime | None = None
    answered_at: datetime | None = None
    # The current attempt (``attempts``) has been claimed for its Redirect/Originate: from then on only
    # signals of that attempt (SB_RONA_ATTEMPT token, the agent's own DialEnd) or the ring guard end it.
    redirect_sent: bool = False
    owner: str = ""  # origin of the controller that made the current assignment (it sends the Redirect)
    agent_leg: str = ""  # uniqueid of the agent's channel once connected (its hang-up ends the call too)

    def __post_init__(self) -> None:
        if not self.call_id or len(self.call_id) > 64:
            raise AcdValidationError("call id must be 1-64 characters")
        check_name(self.queue, "queue")
        check_name(self.skill, "skill")
        if self.region is not None:
            check_name(self.region, "region")
        _check_int(self.priority, "priority", 0, MAX_PRIORITY)
        object.__setattr__(self, "enqueued_at", check_aware(self.enqueued_at, "enqueued_at"))

    @property
    def score(self) -> float:
        return order_score(self.priority, self.enqueued_at)

    def order_key(self) -> tuple[int, datetime, str]:
        return (-self.priority, self.enqueued_at, self.call_id)

    def waited(self, now: datetime) -> float:
        return max(0.0, (now - self.enqueued_at).total_seconds())


@dataclass(frozen=True)
class AgentStatus:
    """An agent's live routing state as Redis holds it."""

    agent_id: str
    state: AgentState = AgentState.OFFLINE
    reason: str = ""
    call_id: str = ""
    since: datetime | None = None
    idle_since: datetime | None = None
    calls_taken: int = 0
    registered: bool = True
    direct_call: bool = False
    until: datetime | None = None  # wrap-up end or absence end

    @property
    def routable(self) -> bool:
        """Ready, softphone registered, not on a direct call and holding no queue call."""
        return (
            self.state is AgentState.READY and self.registered and not self.direct_call and not self.call_id
        )

    def idle_seconds(self, now: datetime) -> float:
        if self.idle_since is None:
            return 0.0
        return max(0.0, (now - self.idle_since).total_seconds())

    def replace(self, **changes: Any) -> AgentStatus:
        from dataclasses import replace

        return replace(self, **changes)


@dataclass(frozen=True)
class Scope:
    """What a call may be matched with after waiting so long (the relaxation in force)."""

    step: int  # number of steps reached
    label: str
    region_required: bool
    min_proficiency: int
    hold_for_preferred: bool
    overflow_to: str | None
    callback_offered: bool


@dataclass(frozen=True)
class CandidateNote:
    agent_id: str
    proficiency: int
    idle_seconds: float
    calls_taken: int
    tier: str  # preferred | substitute | pool


@dataclass(frozen=True)
class SkipNote:
    agent_id: str
    reason: str


@dataclass(frozen=True)
class RoutingExplanation:
    """Why a call went to an agent (or did not): the step, the candidates, the rule, the skipped."""

    step: str
    rule: str
    candidates: tuple[CandidateNote, ...] = ()
    skipped: tuple[SkipNote, ...] = ()
    not_ready: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "rule": self.rule,
            "candidates": [
                {
                    "agent": c.agent_id,
                    "proficiency": c.proficiency,
                    "idle_s": round(c.idle_seconds, 1),
                    "calls": c.calls_taken,
                    "tier": c.tier,
                }
                for c in self.candidates
            ],
            "skipped": [{"agent": s.agent_id, "reason": s.reason} for s in self.skipped],
            "not_ready": self.not_ready,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RoutingExplanation:
        return cls(
            step=str(data.get("step", "")),
            rule=str(data.get("rule", "")),
            candidates=tuple(
                CandidateNote(
                    c["agent"], int(c["proficiency"]), float(c["idle_s"]), int(c["calls"]), c["tier"]
                )
                for c in data.get("candidates", ())
            ),
            skipped=tuple(SkipNote(s["agent"], s["reason"]) for s in data.get("skipped", ())),
            not_ready=int(data.get("not_ready", 0)),
        )


@dataclass(frozen=True)
class Decision:
    """The policy's answer for one call: an agent (or None) and why."""

    call: WaitingCall
    agent_id: str | None
    explanation: RoutingExplanation


@dataclass(frozen=True)
class Assignment:
    """A call atomically given to an agent: the connector now rings the agent."""

    call: WaitingCall
    agent_id: str
    endpoint: str
    explanation: RoutingExplanation
    assigned_at: datetime
    ring_timeout_seconds: int
    # Handed straight from the atomic assignment to the connector (the dispatcher): the assign script's own
    # check was the fence, and the connector need not claim the attempt again before its Redirect.
    fresh: bool = False
