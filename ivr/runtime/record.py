"""The IVR record of one call: the path it took (nodes, inputs, timings, speech) and how it ended."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime


class Outcome(enum.StrEnum):
    """How a call left the IVR."""

    RESOLVED = "resolved"  # self-service fixed it (a deflection)
    QUEUED = "queued"  # handed to the ACD
    TRANSFERRED = "transferred"  # dialled elsewhere and answered
    CALLBACK = "callback"  # a callback request was taken
    ENDED = "ended"  # the flow hung up on purpose (closed message, information only)
    ABANDONED = "abandoned"  # the caller hung up in the IVR
    ERROR = "error"  # the flow failed; the caller was sent to the default queue


@dataclass(frozen=True)
class IvrStep:
    """One node visit (or one attempt at an interactive node)."""

    seq: int
    flow: str
    node: str
    kind: str
    started: datetime
    duration_ms: int
    input: str | None = None  # digits (masked when sensitive), "timeout", "speech", "hangup"...
    recognised: str | None = None  # what the speech engine heard
    confidence: float | None = None
    result: str | None = None  # the branch taken: next node, option, outcome


@dataclass(frozen=True)
class CallStart:
    """What is known when a call enters the IVR."""

    call_id: str
    uniqueid: str
    channel: str
    caller_number: str
    caller_name: str
    flow: str
    flow_version: str
    started: datetime
    region: str | None


@dataclass(frozen=True)
class IvrPath:
    """The whole IVR record of a call, written once when it leaves the IVR."""

    start: CallStart
    ended: datetime
    outcome: Outcome
    detail: str
    steps: tuple[IvrStep, ...]
    region: str | None = None
    priority: int = 0
    skill: str | None = None
    queue: str | None = None
    language: str | None = None
    vip: bool = False
    resolved_by: str | None = None
    variables: dict[str, str] = field(default_factory=dict)

    @property
    def call_id(self) -> str:
        return self.start.call_id
