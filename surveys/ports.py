"""What the rest of Switchboard hands to surveys: the end of a call."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class CallEnded:
    """A call has ended; the ACD/IVR passes this to ``SurveyService.on_call_ended``.

    ``caller_number`` is the caller ID as received (hostile, possibly empty or "anonymous").
    ``agent_id`` is None when no agent handled the call; ``ivr_outcome`` is the flow's outcome
    ("resolved", "queue", "transfer", "hangup"...). ``ended_at`` must be timezone-aware.
    """

    call_id: str
    caller_number: str | None
    agent_id: str | None
    queue: str | None
    skill: str | None
    ivr_outcome: str | None
    language: str
    ended_at: datetime
