"""The catalogue: what a MixMonitor start and a channel's end mean for the recordings table.

``recording_started`` maps the file name Asterisk used to this controller's view of it (refusing anything
outside the recordings directory: such a recording is kept, in state ``missing`` with the reason, so the
call still shows that it was recorded) and opens a row. ``recording_finished`` closes the channel's open
rows; they become pending transcription jobs due ``settle_seconds`` later, because MixMonitor closes its
file after the hang-up. ``reconcile`` closes rows whose channel vanished while events were missed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from datetime import datetime, timedelta

from recordings.model import Leg, RecordingStart, Speaker
from recordings.paths import PathMapper, UnsafePath, leg_path
from recordings.retention import RetentionPolicy
from recordings.store import RecordingStore
from switchboard.clock import Clock
from switchboard.settings import RecordingsSettings

log = logging.getLogger(__name__)


class RecordingCatalogue:
    """Opens and closes recordings; tells the worker when there is something new to transcribe."""

    def __init__(
        self,
        store: RecordingStore,
        mapper: PathMapper,
        policy: RetentionPolicy,
        clock: Clock,
        *,
        separate_legs: bool = False,
        caller_leg_template: str = "{stem}-caller.wav",
        agent_leg_template: str = "{stem}-agent.wav",
        settle_seconds: float = 2.0,
        on_ready: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self.mapper = mapper
        self.policy = policy
        self.clock = clock
        self.separate_legs = separate_legs
        self.caller_leg_template = caller_leg_template
        self.agent_leg_template = agent_leg_template
        self.settle_seconds = settle_seconds
        self.on_ready = on_ready

    @classmethod
    def from_settings(
        cls,
        store: RecordingStore,
        settings: RecordingsSettings,
        clock: Clock,
        on_ready: Callable[[], None] | None = None,
    ) -> RecordingCatalogue:
        """A catalogue configured from the recordings settings section."""
        return cls(
            store,
            PathMapper(settings.asterisk_dir, settings.local_dir),
            RetentionPolicy(settings.retention_days, dict(settings.retention_days_by_queue)),
            clock,
            separate_legs=settings.separate_legs,
            caller_leg_template=settings.caller_leg_template,
            agent_leg_template=settings.agent_leg_template,
            settle_seconds=settings.settle_seconds,
            on_ready=on_ready,
        )

    async def recording_started(self, start: RecordingStart) -> str:
        """Catalogue a MixMonitor that started; returns the recording id (the same for a repeated start)."""
        problem: str | None = None
        local: str | None = None
        try:
            local = str(self.mapper.to_local(start.asterisk_path))
        except UnsafePath as exc:
            problem = f"recording file not reachable: {exc}"
            log.warning(
                "recording path refused call_id=%s uniqueid=%s path=%r reason=%s",
                start.call_id,
                start.uniqueid,
                start.asterisk_path[:200],
                exc,
            )
        legs: list[Leg] = []
        if self.separate_legs and local is not None:
            for speaker, template in (
                (Speaker.CALLER, self.caller_leg_template),
                (Speaker.AGENT, self.agent_leg_template),
            ):
                leg = self.mapper.leg(speaker, leg_path(start.asterisk_path, template))
                if leg.local_path is None:
                    log.warning("recording leg path refused call_id=%s speaker=%s", start.call_id, speaker)
                legs.append(leg)
        rec_id, created = await self.store.open_recording(
            start, local_path=local, problem=problem, legs=legs, now=self.clock.now()
        )
        log.info(
            "recording %s call_id=%s recording_id=%s uniqueid=%s agent=%s queue=%s",
            "started" if created else "continued",
            start.call_id,
            rec_id,
            start.uniqueid,
            start.agent_id,
            start.queue,
        )
        return rec_id

    async def recording_finished(
        self, source: str, uniqueid: str, *, ended_at: datetime | None = None
    ) -> list[str]:
        """Close the channel's open recordings (hang-up or StopMixMonitor); returns their ids."""
        ended = ended_at or self.clock.now()
        ids = await self.store.finish(
            source,
            uniqueid,
            ended,
            first_check_at=ended + timedelta(seconds=self.settle_seconds),
            delete_after=self.policy.table(ended),
        )
        for rec_id in ids:
            log.info("recording finished recording_id=%s uniqueid=%s", rec_id, uniqueid)
        if ids and self.on_ready is not None:
            self.on_ready()
        return ids

    async def open_uniqueids(self, source: str) -> set[str]:
        """Channels of ``source`` with a recording still open."""
        return await self.store.open_uniqueids(source)

    async def reconcile(self, source: str, live_uniqueids: Collection[str]) -> set[str]:
        """Close recordings whose channel is no longer live; returns the uniqueids still recording."""
        open_ids = await self.store.open_uniqueids(source)
        live = set(live_uniqueids)
        for uniqueid in open_ids - live:
            log.warning("recording channel vanished while events were missed; closing uniqueid=%s", uniqueid)
            await self.recording_finished(source, uniqueid)
        return open_ids & live
