"""The recordings feature assembled from settings, for the composition root.

recordings = build_recordings(settings.recordings, sessions, clock, ami, source=f"{host}:{port}")
stack.push_async_callback(recordings.close)
ctl.jobs.update(recordings.jobs())                      # each run under the controller's supervisor
app.include_router(recordings.router(require_role))
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from recordings.ami_glue import AmiEventSource, RecordingsAmiGlue
from recordings.api import make_router
from recordings.catalogue import RecordingCatalogue
from recordings.paths import PathMapper
from recordings.queries import RecordingQueries
from recordings.retention import RetentionSweeper
from recordings.service import RecordingsService
from recordings.store import RecordingStore
from recordings.worker import TranscriptionWorker
from switchboard.clock import Clock
from switchboard.settings import RecordingsSettings


@dataclass
class Recordings:
    """Every part of the feature, sharing one store and one clock."""

    settings: RecordingsSettings
    service: RecordingsService
    catalogue: RecordingCatalogue
    worker: TranscriptionWorker
    sweeper: RetentionSweeper
    glue: RecordingsAmiGlue | None

    def jobs(self) -> dict[str, Callable[[], Awaitable[None]]]:
        """Background jobs: AMI events -> catalogue, transcription, retention sweeps."""
        jobs: dict[str, Callable[[], Awaitable[None]]] = {
            "recordings-transcriber": self.worker.run,
            "recordings-retention": lambda: self.sweeper.run(self.settings.retention_sweep_interval),
        }
        if self.glue is not None:
            jobs["recordings-events"] = self.glue.run
        return jobs

    def router(self, require_role: Callable[[str], Any]) -> APIRouter:
        """The /recordings HTTP routes."""
        return make_router(self.service, require_role=require_role)

    async def close(self) -> None:
        """Stop the transcriber processes and hand their jobs back to the queue."""
        await self.worker.close()


def build_recordings(
    settings: RecordingsSettings,
    sessions: async_sessionmaker[AsyncSession],
    clock: Clock,
    ami: AmiEventSource | None,
    *,
    source: str,
    owner: str | None = None,
) -> Recordings:
    """Build the feature; ``source`` names the Asterisk box (AMI host:port), ``owner`` this process's jobs."""
    store = RecordingStore(sessions)
    mapper = PathMapper(settings.asterisk_dir, settings.local_dir)
    worker = TranscriptionWorker.from_settings(store, settings, clock, owner=owner)
    catalogue = RecordingCatalogue.from_settings(store, settings, clock, on_ready=worker.notify)
    service = RecordingsService(
        store,
        RecordingQueries(sessions),
        mapper,
        clock,
        audit_window_seconds=settings.audit_window_seconds,
        on_requeued=worker.notify,
    )
    glue = None
    if ami is not None:
        glue = RecordingsAmiGlue(
            ami,
            catalogue,
            clock,
            source=source,
            asterisk_dir=settings.asterisk_dir,
            file_template=settings.file_template,
        )
    return Recordings(settings, service, catalogue, worker, RetentionSweeper(store, mapper, clock), glue)
