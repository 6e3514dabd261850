"""What the IVR hands to other parts: calls to the ACD, callback requests, and the record of each call."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ivr.runtime.record import CallStart, IvrPath


@dataclass(frozen=True)
class QueueRequest:
    """A caller the IVR hands to the ACD (the channel waits in the hold context meanwhile)."""

    call_id: str
    channel: str
    uniqueid: str
    caller_number: str
    caller_name: str
    queue: str
    skill: str
    region: str | None
    priority: int
    language: str
    vip: bool
    reason: str  # why (e.g. "menu:billing", "error-fallback")
    variables: Mapping[str, str] = field(default_factory=dict)


class CallQueue(Protocol):
    """Implemented by the ACD: accept a waiting call."""

    async def enqueue(self, request: QueueRequest) -> None: ...


@dataclass(frozen=True)
class CallbackRequest:
    """A caller asked to be called back instead of waiting."""

    call_id: str
    number: str  # E.164
    caller_name: str
    queue: str
    skill: str
    region: str | None
    priority: int
    language: str
    vip: bool
    requested_at: datetime
    reason: str
    variables: Mapping[str, str] = field(default_factory=dict)


class CallbackPort(Protocol):
    """Implemented by whoever places callbacks (the ACD's callback offer, or a CRM)."""

    async def request_callback(self, request: CallbackRequest) -> None: ...


class CallRecordSink(Protocol):
    """Where IVR call records go (SQL in production: ``ivr.store.SqlIvrStore``)."""

    async def call_started(self, start: CallStart) -> None: ...

    async def call_finished(self, path: IvrPath) -> None: ...
