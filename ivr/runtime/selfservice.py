"""Self-service that learns: deflection counting per script and the repeat-caller policy.

A script *run* starts when a caller enters it and is *resolved* when the caller says the fix worked.
Deflection rate = resolved / started. A caller who comes back within the window after a resolution skips
that script (the fix did not hold) and gets a priority bump. The store is SQL in production
(``ivr.store.SqlIvrStore``); ``MemorySelfServiceStore`` serves the demo and single-process use.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from switchboard.errors import describe

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Deflection:
    """Counts for one script."""

    script: str
    started: int
    resolved: int

    @property
    def rate(self) -> float:
        return self.resolved / self.started if self.started else 0.0


class SelfServiceStore(Protocol):
    """Persistence of script runs."""

    async def script_started(self, script: str, call_id: str, caller: str | None, at: datetime) -> None: ...

    async def script_resolved(self, script: str, call_id: str, at: datetime) -> None: ...

    async def last_resolved(self, script: str, caller: str) -> datetime | None: ...

    async def deflection(self, script: str) -> Deflection: ...


class MemorySelfServiceStore:
    """Script runs kept in memory (one process, lost on restart)."""

    def __init__(self) -> None:
        self._runs: dict[tuple[str, str], tuple[str | None, datetime, datetime | None]] = {}

    async def script_started(self, script: str, call_id: str, caller: str | None, at: datetime) -> None:
        self._runs[(script, call_id)] = (caller, at, None)

    async def script_resolved(self, script: str, call_id: str, at: datetime) -> None:
        run = self._runs.get((script, call_id))
        if run is not None:
            self._runs[(script, call_id)] = (run[0], run[1], at)

    async def last_resolved(self, script: str, caller: str) -> datetime | None:
        times = [res for (s, _), (c, _, res) in self._runs.items() if s == script and c == caller and res]
        return max(times, default=None)

    async def deflection(self, script: str) -> Deflection:
        runs = [r for (s, _), r in self._runs.items() if s == script]
        return Deflection(script, len(runs), sum(1 for r in runs if r[2] is not None))


class RecentIndex(Protocol):
    """A fast index of recent resolutions in front of the store (``ivr.recent_resolutions``)."""

    async def last(self, script: str, caller: str) -> datetime | str | None:
        """A time, a "not found" marker (any string), or None when the index cannot say."""
        ...

    async def remember(self, script: str, caller: str, at: datetime) -> None: ...


class SelfService:
    """The policy around a store: failures of the store never reach the caller (logged, then ignored).
    With a ``recent`` index the repeat check reads it and asks the store only when the index cannot say."""

    def __init__(
        self, store: SelfServiceStore, *, repeat_window: timedelta, timeout: float = 1.0,
        recent: RecentIndex | None = None,
    ) -> None:  # fmt: skip
        self.store = store
        self.repeat_window = repeat_window
        self.timeout = timeout
        self.recent = recent

    async def is_repeat(self, script: str, caller: str | None, now: datetime, call_id: str) -> bool:
        """True when this caller had this script resolved within the window (the fix did not hold)."""
        if caller is None or self.repeat_window <= timedelta(0):
            return False
        try:
            async with asyncio.timeout(self.timeout):  # no extra task per call, unlike wait_for
                last = await self._last_resolved(script, caller)
        except Exception as exc:
            log.warning(
                "self-service lookup failed call_id=%s script=%s error=%s", call_id, script, describe(exc)
            )
            return False
        return last is not None and now - last <= self.repeat_window

    async def _last_resolved(self, script: str, caller: str) -> datetime | None:
        if self.recent is not None:
            found = await self.recent.last(script, caller)
            if isinstance(found, datetime):
                return found
            if found is not None:
                return None  # the index knows there is none
        return await self.store.last_resolved(script, caller)

    async def started(self, script: str, call_id: str, caller: str | None, now: datetime) -> None:
        try:
            async with asyncio.timeout(self.timeout):  # no extra task per call, unlike wait_for
                await self.store.script_started(script, call_id, caller, now)
        except Exception as exc:
            log.warning(
                "self-service count failed call_id=%s script=%s error=%s", call_id, script, describe(exc)
            )

    async def resolved(self, script: str, call_id: str, caller: str | None, now: datetime) -> None:
        try:
            async with asyncio.timeout(self.timeout):  # no extra task per call, unlike wait_for
                await self.store.script_resolved(script, call_id, now)
                if self.recent is not None and caller is not None:
                    await self.recent.remember(script, caller, now)
        except Exception as exc:
            log.warning(
                "self-service count failed call_id=%s script=%s error=%s", call_id, script, describe(exc)
            )
