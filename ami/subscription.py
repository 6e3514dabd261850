"""Bounded per-consumer event queues that never make the AMI reader wait.

Overflow policy (a consumer that falls ``maxsize`` events behind):
1. the events already queued are kept (they are real history, in order);
2. new events for this subscription are discarded and counted, and the client is asked for a resync;
3. when the resync's ``CoreShowChannels`` list completes, a :class:`ami.events.ResyncEvent` carrying
   the live channels and the number of events discarded is appended (the queue may then hold
   ``maxsize + 1`` items), and normal delivery resumes with the events that follow the snapshot.
A consumer that still has an unread marker is not resynchronised again until it reads it, so a
subscriber that never reads costs one resync, not one per event. Nothing is lost silently: every gap
is announced by a marker that says how many events fell into it and what the channels look like now.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from typing import Final

from ami.events import RESYNC_EVENT, AmiEvent, CoreShowChannel, ResyncEvent

log = logging.getLogger(__name__)

REASON_FULLY_BOOTED: Final = "fully_booted"
REASON_OVERFLOW: Final = "overflow"


class EventSubscription:
    """An async iterator of :class:`AmiEvent` for one consumer; ``close()`` ends the iteration."""

    def __init__(
        self,
        names: frozenset[str] | None,
        maxsize: int,
        *,
        request_resync: Callable[[], None],
        on_close: Callable[[EventSubscription], None],
    ) -> None:
        if maxsize < 1:
            raise ValueError("subscription maxsize must be at least 1")
        self.names = names
        self.maxsize = maxsize
        self.total_dropped = 0
        self._queue: deque[AmiEvent] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._closed = False
        self._needs_resync = False
        self._dropped = 0
        self._markers = 0
        self._request_resync = request_resync
        self._on_close = on_close

    @property
    def closed(self) -> bool:
        """True after ``close()`` (or the client's close)."""
        return self._closed

    @property
    def overflowed(self) -> bool:
        """True while events are being discarded until the next resync marker."""
        return self._needs_resync

    def qsize(self) -> int:
        """Events waiting to be read."""
        return len(self._queue)

    def __aiter__(self) -> EventSubscription:
        return self

    async def __anext__(self) -> AmiEvent:
        while not self._queue:
            if self._closed:
                raise StopAsyncIteration
            waiter = asyncio.get_running_loop().create_future()
            self._waiter = waiter
            try:
                await waiter
            finally:
                self._waiter = None
        return self._take()

    def get_nowait(self) -> AmiEvent | None:
        """The next event if one is queued, else None."""
        return self._take() if self._queue else None

    def close(self) -> None:
        """Stop receiving; a pending ``async for`` ends once the queue is drained."""
        if self._closed:
            return
        self._closed = True
        self._wake()
        self._on_close(self)

    # -- called by the client inside the reader: never blocks, never awaits ----------------------

    def _offer(self, event: AmiEvent) -> None:
        if self._closed or (self.names is not None and event.name not in self.names):
            return
        if self._needs_resync:
            self._dropped += 1
            self.total_dropped += 1
            return
        if len(self._queue) >= self.maxsize:
            self._needs_resync = True
            self._dropped += 1
            self.total_dropped += 1
            log.warning(
                "ami subscriber fell behind; discarding events until resync names=%s maxsize=%d",
                self._describe(),
                self.maxsize,
            )
            if not self._markers:
                self._request_resync()
            return
        self._queue.append(event)
        self._wake()

    def _deliver_resync(self, reason: str, channels: tuple[CoreShowChannel, ...], received_at: float) -> None:
        if self._closed or (reason == REASON_OVERFLOW and not self._needs_resync):
            return
        if len(self._queue) > self.maxsize:
            # Still full of unread history and an unread marker: resync again once that marker is read.
            self._needs_resync = True
            return
        marker = ResyncEvent(
            name=RESYNC_EVENT,
            fields={},
            received_at=received_at,
            reason=reason,
            channels=channels,
            dropped=self._dropped,
        )
        if self._dropped:
            log.info("ami subscriber resynchronised names=%s dropped=%d", self._describe(), self._dropped)
        self._dropped = 0
        self._needs_resync = False
        self._markers += 1
        self._queue.append(marker)
        self._wake()

    def _close_from_client(self) -> None:
        self._closed = True
        self._wake()

    def _take(self) -> AmiEvent:
        event = self._queue.popleft()
        if event.name == RESYNC_EVENT and isinstance(event, ResyncEvent):
            self._markers -= 1
            if self._needs_resync and not self._markers:
                self._request_resync()
        return event

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _describe(self) -> str:
        return "all" if self.names is None else ",".join(sorted(self.names))
