"""Request and response bodies of the ACD API (pydantic, strict: "5" is not a proficiency, true not 1).

Shapes are checked here (types, ranges, patterns, unknown fields); cross-references (does that skill,
region, agent or queue exist?) are checked against the configuration by the routes, and the domain model
validates once more when the configuration is rebuilt.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from acd.model import (
    AGENT_ID_RE,
    ENDPOINT_RE,
    LANGUAGE_RE,
    NAME_RE,
    Absence,
    Agent,
    AgentStatus,
    Queue,
    WaitingCall,
)


def _iso_text(value: Any) -> Any:
    if not isinstance(value, str):
        raise ValueError("must be an ISO 8601 date-time string with a time zone, e.g. 2026-01-05T08:00:00Z")
    return value


Name = Annotated[str, Field(pattern=NAME_RE.pattern, examples=["billing"])]
AgentId = Annotated[str, Field(pattern=AGENT_ID_RE.pattern, examples=["a101"])]
Proficiency = Annotated[int, Field(ge=1, le=5)]
Language = Annotated[str, Field(pattern=LANGUAGE_RE.pattern, examples=["en"])]
When = Annotated[
    AwareDatetime, BeforeValidator(_iso_text), Field(strict=False, examples=["2026-01-05T08:00:00Z"])
]
StepAction = Literal["any-region", "min-proficiency", "substitutes", "overflow", "callback"]
StrategyName = Literal["proficiency-first", "longest-idle", "fewest-calls", "round-robin"]
AbsenceKindName = Literal["sick", "leave", "training"]
Seconds = Annotated[float, Field(ge=0, le=86_400)]


class Strict(BaseModel):
    """Strict types, unknown fields refused."""

    model_config = ConfigDict(strict=True, extra="forbid")


class Out(BaseModel):
    """Response bodies."""

    model_config = ConfigDict(from_attributes=True)


# ---- agents' own state ----


class PauseIn(Strict):
    reason: str = Field(min_length=1, max_length=64, examples=["lunch"])


class AgentStatusOut(Out):
    """An agent's live routing state."""

    agent_id: str
    state: str = Field(examples=["ready"])
    reason: str = ""
    call_id: str = ""
    since: datetime | None = None
    idle_since: datetime | None = None
    until: datetime | None = Field(None, description="End of the wrap-up or of the absence")
    calls_taken: int = 0
    registered: bool = True
    direct_call: bool = False
    routable: bool = False
    name: str = ""
    endpoint: str = ""

    @classmethod
    def of(cls, status: AgentStatus, agent: Agent | None = None) -> AgentStatusOut:
        return cls(
            agent_id=status.agent_id,
            state=status.state.value,
            reason=status.reason,
            call_id=status.call_id,
            since=status.since,
            idle_since=status.idle_since,
            until=status.until,
            calls_taken=status.calls_taken,
            registered=status.registered,
            direct_call=status.direct_call,
            routable=status.routable,
            name=agent.name if agent else "",
            endpoint=agent.endpoint if agent else "",
        )


# ---- snapshots ----


class CallOut(Out):
    """A call the ACD holds: waiting (with its position), ringing an agent, or connected."""

    call_id: str
    queue: str
    status: str
    position: int | None = None
    waited_seconds: float
    priority: int
    vip: bool
    caller_number: str
    region: str | None
    agent_id: str | None
    attempts: int
    callback: bool

    @classmethod
    def of(cls, call: WaitingCall, now: datetime, position: int | None) -> CallOut:
        return cls(
            call_id=call.call_id,
            queue=call.queue,
            status=call.status.value,
            position=position,
            waited_seconds=round(call.waited(now), 3),
            priority=call.priority,
            vip=call.vip,
            caller_number=call.caller_number,
            region=call.region,
            agent_id=call.agent_id,
            attempts=call.attempts,
            callback=call.callback,
        )


class QueueSnapshotOut(Out):
    """A queue now: its calls in routing order and the states of the agents who have its skill."""

    name: str
    skill: str
    waiting: int
    longest_wait_seconds: float
    calls: list[CallOut]
    agents_by_state: dict[str, int]


class QueueMetricsOut(Out):
    """A queue's figures over a window; ratios are 0-1 and null when there was nothing to divide."""

    queue: str
    window: str
    start: datetime
    end: datetime
    waiting: int
    longest_wait_seconds: float
    offered: int
    answered: int
    answered_within_target: int
    abandoned: int
    short_abandoned: int
    pending_over_target: int
    completed: int
    service_level: float | None
    service_level_target: float
    service_level_seconds: float
    abandon_rate: float | None
    average_speed_of_answer_seconds: float | None
    average_handle_time_seconds: float | None
    occupancy: float | None
    busy_seconds: float
    staffed_seconds: float


# ---- configuration ----


class AgentFields(Strict):
    name: str = Field("", max_length=200, examples=["Ann Lee"])
    endpoint: str = Field(pattern=ENDPOINT_RE.pattern, examples=["PJSIP/101"])
    skills: dict[Name, Proficiency] = Field(default_factory=dict, examples=[{"billing": 5, "support": 3}])
    regions: list[Name] = Field(default_factory=list, max_length=64)
    languages: list[Language] = Field(default_factory=list, max_length=32)
    timezone: str = Field("UTC", max_length=64, examples=["Europe/Berlin"])
    substitutes: list[AgentId] = Field(default_factory=list, max_length=32)


class AgentIn(AgentFields):
    """A new agent."""

    id: AgentId


class AgentOut(Out):
    id: str
    name: str
    endpoint: str
    skills: dict[str, int]
    regions: list[str]
    languages: list[str]
    timezone: str
    substitutes: list[str]

    @classmethod
    def of(cls, a: Agent) -> AgentOut:
        return cls(
            id=a.id,
            name=a.name,
            endpoint=a.endpoint,
            skills={s.skill: s.proficiency for s in a.skills},
            regions=sorted(a.regions),
            languages=sorted(a.languages),
            timezone=a.timezone,
            substitutes=list(a.substitutes),
        )


class StepIn(Strict):
    after_seconds: Seconds
    action: StepAction
    value: str = Field("", max_length=64, description="min-proficiency: 1-5; overflow: the target queue")


class QueueFields(Strict):
    skill: Name
    service_level_percent: float = Field(80.0, ge=0, le=100)
    service_level_seconds: float = Field(20.0, ge=1, le=3600)
    wrap_up_seconds: float = Field(30.0, ge=0, le=3600)
    ring_timeout_seconds: int = Field(20, ge=5, le=300)
    max_attempts: int = Field(3, ge=1, le=100)
    strategy: StrategyName = "proficiency-first"
    min_proficiency: Proficiency = 1
    announce_every_seconds: int = Field(30, ge=10, le=3600)
    steps: list[StepIn] = Field(default_factory=list, max_length=20)


class QueueIn(QueueFields):
    """A new queue."""

    name: Name


class StepOut(Out):
    after_seconds: float
    action: str
    value: str


class QueueOut(Out):
    name: str
    skill: str
    service_level_percent: float
    service_level_seconds: float
    wrap_up_seconds: float
    ring_timeout_seconds: int
    max_attempts: int
    strategy: str
    min_proficiency: int
    announce_every_seconds: int
    steps: list[StepOut]

    @classmethod
    def of(cls, q: Queue) -> QueueOut:
        return cls(
            name=q.name,
            skill=q.skill,
            service_level_percent=q.service_level_percent,
            service_level_seconds=q.service_level_seconds,
            wrap_up_seconds=q.wrap_up_seconds,
            ring_timeout_seconds=q.ring_timeout_seconds,
            max_attempts=q.max_attempts,
            strategy=q.strategy.value,
            min_proficiency=q.min_proficiency,
            announce_every_seconds=q.announce_every_seconds,
            steps=[
                StepOut(after_seconds=s.after_seconds, action=s.action.value, value=s.value) for s in q.steps
            ],
        )


class NameIn(Strict):
    name: Name


class AbsenceFields(Strict):
    agent_id: AgentId
    kind: AbsenceKindName
    starts_at: When
    ends_at: When
    note: str = Field("", max_length=500)

    @model_validator(mode="after")
    def _ends_after_start(self) -> AbsenceFields:
        if self.ends_at <= self.starts_at:
            raise ValueError(
                f"the absence ends ({self.ends_at.isoformat()}) before or when it starts "
                f"({self.starts_at.isoformat()}); ends_at must be later than starts_at"
            )
        return self


class AbsenceOut(Out):
    id: str
    agent_id: str
    kind: str
    starts_at: datetime
    ends_at: datetime
    note: str

    @classmethod
    def of(cls, a: Absence) -> AbsenceOut:
        return cls(
            id=a.id,
            agent_id=a.agent_id,
            kind=a.kind.value,
            starts_at=a.starts_at,
            ends_at=a.ends_at,
            note=a.note,
        )
