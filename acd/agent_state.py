"""The agent life cycle as a pure state machine: (status, event, now) -> new status.

The store applies the result atomically (compare-and-set); the call-coupled transitions (offer, answer,
no answer, call ended) are also done inside the assignment scripts, which follow the same table.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from acd.errors import AgentUnavailableError, InvalidTransitionError
from acd.model import AgentState, AgentStatus

NO_ANSWER = "no answer"
UNREGISTERED = "softphone unregistered"
S = AgentState


class AgentEvent(StrEnum):
    LOGIN = "login"  # agent says ready
    LOGOUT = "logout"
    PAUSE = "pause"
    UNPAUSE = "unpause"
    OFFER = "offer"  # a queue call rings the agent
    ANSWER = "answer"  # BridgeEnter
    NO_ANSWER = "no_answer"  # ring-no-answer
    OFFER_CANCELLED = "offer_cancelled"  # the caller went away or the connect failed before ringing
    CALL_ENDED = "call_ended"
    WRAP_DONE = "wrap_done"
    ABSENCE_START = "absence_start"
    ABSENCE_END = "absence_end"
    REGISTERED = "registered"
    UNREGISTERED = "unregistered"
    DIRECT_CALL_START = "direct_call_start"
    DIRECT_CALL_END = "direct_call_end"


def apply(
    status: AgentStatus,
    event: AgentEvent,
    now: datetime,
    *,
    reason: str = "",
    call_id: str = "",
    wrap_seconds: float = 0.0,
    until: datetime | None = None,
) -> AgentStatus:
    """The status after ``event``; raises InvalidTransitionError or AgentUnavailableError when not allowed."""
    st = status.state
    e = AgentEvent

    def bad() -> InvalidTransitionError:
        return InvalidTransitionError(f"agent {status.agent_id}: cannot {event.value} while {st.value}")

    if event is e.LOGIN or event is e.UNPAUSE:
        if st in (S.RINGING, S.ON_CALL):
            raise bad()
        if st is S.READY:
            return status
        if event is e.UNPAUSE and st is not S.PAUSED:
            raise bad()
        if not status.registered:
            raise AgentUnavailableError(
                f"agent {status.agent_id}: softphone is not registered, cannot be ready"
            )
        return status.replace(state=S.READY, reason="", since=now, idle_since=now, until=None)
    if event is e.LOGOUT:
        if st in (S.RINGING, S.ON_CALL):
            raise bad()
        return status.replace(state=S.OFFLINE, reason="", since=now, until=None)
    if event is e.PAUSE:
        if st not in (S.READY, S.WRAP_UP, S.PAUSED):
            raise bad()
        return status.replace(state=S.PAUSED, reason=reason or "break", since=now, until=None)
    if event is e.OFFER:
        if not status.routable:
            raise bad()
        return status.replace(state=S.RINGING, call_id=call_id, since=now)
    if event is e.ANSWER:
        if st is not S.RINGING:
            raise bad()
        return status.replace(state=S.ON_CALL, since=now, calls_taken=status.calls_taken + 1)
    if event is e.NO_ANSWER:
        if st is not S.RINGING:
            raise bad()
        return status.replace(state=S.PAUSED, reason=NO_ANSWER, call_id="", since=now)
    if event is e.OFFER_CANCELLED:
        if st is not S.RINGING:
            raise bad()
        return status.replace(state=S.READY, call_id="", since=now)  # idle_since kept: not the agent's doing
    if event is e.CALL_ENDED:
        if st is S.RINGING:
            return status.replace(state=S.READY, call_id="", since=now)
        if st is not S.ON_CALL:
            raise bad()
        if wrap_seconds <= 0:
            return status.replace(state=S.READY, call_id="", since=now, idle_since=now, until=None)
        return status.replace(
            state=S.WRAP_UP, call_id="", since=now, until=now + timedelta(seconds=wrap_seconds)
        )
    if event is e.WRAP_DONE:
        if st is not S.WRAP_UP:
            raise bad()
        return status.replace(state=S.READY, since=now, idle_since=now, until=None)
    if event is e.ABSENCE_START:
        if st in (S.RINGING, S.ON_CALL):
            raise bad()
        return status.replace(state=S.ABSENT, reason=reason or "absent", since=now, until=until)
    if event is e.ABSENCE_END:
        if st is not S.ABSENT:
            return status
        return status.replace(state=S.OFFLINE, reason="", since=now, until=None)
    if event is e.UNREGISTERED:
        if st is S.READY:
            return status.replace(registered=False, state=S.PAUSED, reason=UNREGISTERED, since=now)
        return status.replace(registered=False)
    if event is e.REGISTERED:
        if st is S.PAUSED and status.reason == UNREGISTERED:
            return status.replace(registered=True, state=S.READY, reason="", since=now)
        return status.replace(registered=True)
    if event is e.DIRECT_CALL_START:
        return status.replace(direct_call=True)
    if event is e.DIRECT_CALL_END:
        if not status.direct_call:
            return status
        idle = now if st is S.READY else status.idle_since
        return status.replace(direct_call=False, idle_since=idle)
    raise bad()  # pragma: no cover - every event is handled above
