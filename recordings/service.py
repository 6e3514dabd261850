"""What the HTTP surface may do with recordings, for whom: visibility, playback, legal hold, audit.

Agents see only recordings of calls they took (``agent_id``); supervisors and admins see all. A recording
that does not exist and one the viewer may not see look the same (NotFound), and an id that is not a ULID
is refused before any database or file system access. Files are opened only from the path stored in the
catalogue, re-checked to lie inside the recordings directory. Every listen and download is written to the
audit log before the first byte is served; when the log cannot be written, nothing is served.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from recordings.http_range import ByteRange, RangeNotSatisfiable, parse_range
from recordings.model import (
    AuditAction,
    AuditEntry,
    Recording,
    RecordingState,
    TranscriptSegment,
    is_recording_id,
)
from recordings.paths import PathMapper
from recordings.queries import Page, RecordingFilter, RecordingQueries
from recordings.store import RecordingStore
from switchboard.clock import Clock
from switchboard.settings import RecordingsSettings

log = logging.getLogger(__name__)

ALL_SEEING_ROLES: Final = frozenset({"supervisor", "admin"})


class RecordingNotFound(Exception):
    """No such recording, or not one this viewer may see."""


class RecordingGone(Exception):
    """The recording exists but its file does not (deleted by retention, or missing)."""

    def __init__(self, state: RecordingState, problem: str | None) -> None:
        super().__init__(f"recording is {state.value}" + (f": {problem}" if problem else ""))
        self.state = state
        self.problem = problem


class RecordingNotReady(Exception):
    """The call is still being recorded."""


class AuditUnavailable(Exception):
    """The audit log could not be written, so the recording is not served."""


class RangeRefused(Exception):
    """The Range header cannot be served for this file (HTTP 416)."""

    def __init__(self, reason: str, size: int) -> None:
        super().__init__(reason)
        self.size = size


@dataclass(frozen=True)
class Viewer:
    """The signed-in user as far as recordings care."""

    user_id: str
    role: str
    agent_id: str | None = None

    @property
    def sees_all(self) -> bool:
        """Supervisors and admins see every recording."""
        return self.role in ALL_SEEING_ROLES

    def may_see(self, rec: Recording) -> bool:
        """True for all-seeing roles, and for an agent on a recording of their own call."""
        if self.sees_all:
            return True
        return self.role == "agent" and bool(self.agent_id) and rec.agent_id == self.agent_id


@dataclass
class OpenedAudio:
    """An open recording file, the range to send, and its recording. The receiver closes ``file``."""

    recording: Recording
    file: BinaryIO
    size: int
    byte_range: ByteRange | None


class RecordingsService:
    """Recordings for the HTTP routers (and the pages that use them)."""

    def __init__(
        self,
        store: RecordingStore,
        queries: RecordingQueries,
        mapper: PathMapper,
        clock: Clock,
        *,
        audit_window_seconds: float = 300.0,
        on_requeued: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self.queries = queries
        self.mapper = mapper
        self.clock = clock
        self.audit_window_seconds = audit_window_seconds
        self.on_requeued = on_requeued

    @classmethod
    def build(
        cls,
        sessions: async_sessionmaker[AsyncSession],
        settings: RecordingsSettings,
        clock: Clock,
        *,
        on_requeued: Callable[[], None] | None = None,
    ) -> RecordingsService:
        """The service on a database and the recordings settings."""
        return cls(
            RecordingStore(sessions),
            RecordingQueries(sessions),
            PathMapper(settings.asterisk_dir, settings.local_dir),
            clock,
            audit_window_seconds=settings.audit_window_seconds,
            on_requeued=on_requeued,
        )

    async def _visible(self, viewer: Viewer, rec_id: str) -> Recording:
        if not is_recording_id(rec_id):
            raise RecordingNotFound(rec_id)
        rec = await self.queries.get(rec_id)
        if rec is None or not viewer.may_see(rec):
            raise RecordingNotFound(rec_id)
        return rec

    async def search(
        self,
        viewer: Viewer,
        flt: RecordingFilter,
        *,
        sort: str = "-started_at",
        limit: int = 50,
        offset: int = 0,
    ) -> Page:
        """Recordings the viewer may see that match the filter."""
        if not viewer.sees_all:
            if viewer.role != "agent" or not viewer.agent_id:
                return Page([], 0)
            flt = dataclasses.replace(flt, agent_id=viewer.agent_id)
        return await self.queries.search(flt, sort=sort, limit=limit, offset=offset)

    async def detail(self, viewer: Viewer, rec_id: str) -> tuple[Recording, list[TranscriptSegment]]:
        """A recording and its transcript."""
        rec = await self._visible(viewer, rec_id)
        return rec, await self.queries.transcript(rec.id)

    async def open_audio(
        self,
        viewer: Viewer,
        rec_id: str,
        *,
        action: AuditAction,
        client_ip: str | None,
        range_header: str | None,
    ) -> OpenedAudio:
        """Open the recording's file for a listen or download, audited; the caller closes the file."""
        rec = await self._visible(viewer, rec_id)
        if rec.state is RecordingState.RECORDING:
            raise RecordingNotReady(rec.id)
        if not rec.state.playable or not rec.local_path:
            raise RecordingGone(rec.state, rec.problem)
        path = Path(rec.local_path)
        if not self.mapper.contains(path):
            log.warning("recording path outside the recordings directory recording_id=%s", rec.id)
            raise RecordingGone(RecordingState.MISSING, "file is outside the recordings directory")
        try:
            file, size = await asyncio.to_thread(_open, path)
        except OSError as exc:
            problem = f"file not found when played: {exc.strerror or type(exc).__name__}"
            log.warning(
                "recording file missing recording_id=%s call_id=%s problem=%s", rec.id, rec.call_id, problem
            )
            await self.store.mark_missing(rec.id, problem, self.clock.now())
            raise RecordingGone(RecordingState.MISSING, problem) from None
        try:
            try:
                byte_range = parse_range(range_header, size)
            except RangeNotSatisfiable as exc:
                raise RangeRefused(str(exc), size) from None
            await self._audit(viewer, rec, action, client_ip)
        except BaseException:
            file.close()
            raise
        return OpenedAudio(rec, file, size, byte_range)

    async def _audit(
        self, viewer: Viewer, rec: Recording, action: AuditAction, client_ip: str | None
    ) -> None:
        window = self.audit_window_seconds if action is AuditAction.LISTEN else 0.0
        try:
            written = await self.store.audit(
                rec.id,
                user_id=viewer.user_id,
                role=viewer.role,
                action=action,
                client_ip=client_ip,
                now=self.clock.now(),
                window_seconds=window,
            )
        except SQLAlchemyError as exc:
            log.error(
                "recording audit write failed recording_id=%s user=%s error=%s", rec.id, viewer.user_id, exc
            )
            raise AuditUnavailable(rec.id) from exc
        if written:
            log.info(
                "recording %s recording_id=%s call_id=%s user=%s ip=%s",
                action.value,
                rec.id,
                rec.call_id,
                viewer.user_id,
                client_ip,
            )

    async def set_legal_hold(
        self, viewer: Viewer, rec_id: str, hold: bool, *, client_ip: str | None
    ) -> Recording:
        """Place or lift a legal hold (audited); a held recording is never deleted by retention."""
        rec = await self._visible(viewer, rec_id)
        if rec.state is RecordingState.DELETED and hold:
            raise RecordingGone(rec.state, rec.problem)
        await self.store.set_legal_hold(rec.id, hold, self.clock.now())
        await self._audit(
            viewer, rec, AuditAction.LEGAL_HOLD_ON if hold else AuditAction.LEGAL_HOLD_OFF, client_ip
        )
        updated = await self.queries.get(rec.id)
        assert updated is not None
        return updated

    async def audit_log(self, viewer: Viewer, rec_id: str) -> list[AuditEntry]:
        """Who listened to, downloaded or held this recording."""
        rec = await self._visible(viewer, rec_id)
        return await self.queries.audit_log(rec.id)

    async def retranscribe(self, viewer: Viewer, rec_id: str) -> Recording:
        """Queue a finished recording for transcription again; RecordingNotReady when it cannot be."""
        rec = await self._visible(viewer, rec_id)
        if not await self.store.requeue(rec.id, self.clock.now()):
            raise RecordingNotReady(rec.id)
        if self.on_requeued is not None:
            self.on_requeued()
        updated = await self.queries.get(rec.id)
        assert updated is not None
        return updated


def _open(path: Path) -> tuple[BinaryIO, int]:
    if not path.is_file():  # not a FIFO or device: open() on those could block or never end
        raise FileNotFoundError(2, "not a regular file")
    file = path.open("rb")
    try:
        return file, os.fstat(file.fileno()).st_size
    except BaseException:
        file.close()
        raise
