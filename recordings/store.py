"""SQL writes of the recordings domain: the catalogue, the transcription job queue, retention, the audit log.

The recordings table is also the job queue, so jobs survive restarts: a pending job is a row in state
``ready`` whose ``next_attempt_at`` has come; a worker claims it with a conditional UPDATE (safe with
several controller processes on one database) and holds a lease; a lease that expires (its process died)
makes the job claimable again, and a restarted worker releases its own leases at once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from recordings.model import (
    AuditAction,
    Leg,
    Recording,
    RecordingStart,
    RecordingState,
    Speaker,
    TranscriptSegment,
)
from recordings.tables import AuditRow, RecordingLegRow, RecordingRow, SegmentRow
from switchboard.ids import new_id

log = logging.getLogger(__name__)

S = RecordingState
MAX_PROBLEM = 300
MAX_TEXT = 80  # caller number length kept
MAX_PATH = 512  # Asterisk paths (a unique key on PostgreSQL, whose index entries are limited)


def _clip(text: str | None, limit: int) -> str | None:
    return None if text is None else text[:limit]


@dataclass(frozen=True)
class Job:
    """A claimed transcription job: the recording's files and its history."""

    recording_id: str
    call_id: str | None
    local_path: str | None
    legs: tuple[Leg, ...]
    attempts: int


def row_to_recording(row: RecordingRow, legs: Iterable[RecordingLegRow] = ()) -> Recording:
    """The domain view of a row."""
    return Recording(
        id=row.id,
        call_id=row.call_id,
        uniqueid=row.uniqueid,
        linkedid=row.linkedid,
        channel=row.channel,
        source=row.source,
        queue=row.queue,
        agent_id=row.agent_id,
        caller_number=row.caller_number,
        caller_name=row.caller_name,
        asterisk_path=row.asterisk_path,
        local_path=row.local_path,
        legs=tuple(Leg(Speaker(g.speaker), g.asterisk_path, g.local_path) for g in legs),
        state=RecordingState(row.state),
        problem=row.problem,
        started_at=row.started_at,
        ended_at=row.ended_at,
        duration_s=row.duration_s,
        size_bytes=row.size_bytes,
        attempts=row.attempts,
        engine=row.engine,
        transcribed_at=row.transcribed_at,
        legal_hold=row.legal_hold,
        delete_after=row.delete_after,
        deleted_at=row.deleted_at,
    )


class RecordingStore:
    """All SQL writes; each method is one short transaction."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    # -- catalogue ------------------------------------------------------------------------------------

    async def open_recording(
        self,
        start: RecordingStart,
        *,
        local_path: str | None,
        problem: str | None,
        legs: Sequence[Leg],
        now: datetime,
    ) -> tuple[str, bool]:
        """Open a recording of one file: (id, True) when it starts (or restarts) recording, (id, False) when
        it was already recording. One row per (box, channel, file): MixMonitor truncates the file it opens,
        so a second MixMonitor on the same file replaces the earlier audio, and its transcript goes too."""
        for attempt in range(2):
            try:
                return await self._open(start, local_path=local_path, problem=problem, legs=legs, now=now)
            except IntegrityError:
                if attempt:  # another controller inserted the same recording a moment ago: use that row
                    raise
        raise AssertionError("unreachable")

    async def _open(
        self,
        start: RecordingStart,
        *,
        local_path: str | None,
        problem: str | None,
        legs: Sequence[Leg],
        now: datetime,
    ) -> tuple[str, bool]:
        path = start.asterisk_path[:MAX_PATH]
        async with self.sessions.begin() as session:
            row = (
                await session.execute(
                    select(RecordingRow).where(
                        RecordingRow.source == start.source,
                        RecordingRow.uniqueid == start.uniqueid,
                        RecordingRow.asterisk_path == path,
                    )
                )
            ).scalar_one_or_none()
            created = row is None or row.state != S.RECORDING.value
            if row is None:
                row = RecordingRow(
                    id=new_id(),
                    source=start.source,
                    uniqueid=start.uniqueid,
                    asterisk_path=path,
                    legal_hold=False,
                    created_at=now,
                )
                session.add(row)
            elif created:
                await session.execute(delete(SegmentRow).where(SegmentRow.recording_id == row.id))
                await session.execute(delete(RecordingLegRow).where(RecordingLegRow.recording_id == row.id))
            if created:
                row.linkedid = start.linkedid
                row.channel = start.channel[:128]
                row.caller_number = start.caller_number[:MAX_TEXT]
                row.caller_name = start.caller_name[:128]
                row.local_path = local_path
                row.started_at = start.started_at
                row.state = S.RECORDING.value
                row.problem = _clip(problem, MAX_PROBLEM)
                row.attempts = 0
                for name in (
                    "ended_at",
                    "duration_s",
                    "size_bytes",
                    "next_attempt_at",
                    "lease_owner",
                    "lease_until",
                    "engine",
                    "transcribed_at",
                    "delete_after",
                    "deleted_at",
                ):
                    setattr(row, name, None)
            # A repeated start (the caller came back from hold to another agent) names the latest agent.
            row.call_id = start.call_id or row.call_id
            row.agent_id = start.agent_id or row.agent_id
            row.queue = start.queue or row.queue
            row.updated_at = now
            await session.flush()
            if created:
                for leg in legs:
                    session.add(
                        RecordingLegRow(
                            recording_id=row.id,
                            speaker=leg.speaker.value,
                            asterisk_path=leg.asterisk_path[:MAX_PATH],
                            local_path=leg.local_path,
                        )
                    )
            return row.id, created

    async def finish(
        self,
        source: str,
        uniqueid: str,
        ended_at: datetime,
        *,
        first_check_at: datetime,
        delete_after: dict[str | None, datetime | None],
    ) -> list[str]:
        """Close the open recordings of a channel; they become pending jobs (or missing, when unmappable)."""
        async with self.sessions.begin() as session:
            rows = (
                (
                    await session.execute(
                        select(RecordingRow).where(
                            RecordingRow.source == source,
                            RecordingRow.uniqueid == uniqueid,
                            RecordingRow.state == S.RECORDING.value,
                        )
                    )
                )
                .scalars()
                .all()
            )
            for row in rows:
                row.ended_at = ended_at
                row.duration_s = max(0.0, (ended_at - row.started_at).total_seconds())
                row.state = (S.READY if row.local_path else S.MISSING).value
                row.next_attempt_at = first_check_at if row.local_path else None
                row.delete_after = delete_after.get(row.queue, delete_after.get(None))
                row.updated_at = ended_at
            return [row.id for row in rows]

    async def open_uniqueids(self, source: str) -> set[str]:
        """Uniqueids of the channels from ``source`` whose recordings are still open."""
        async with self.sessions() as session:
            result = await session.execute(
                select(RecordingRow.uniqueid).where(
                    RecordingRow.source == source, RecordingRow.state == S.RECORDING.value
                )
            )
            return set(result.scalars())

    # -- job queue ------------------------------------------------------------------------------------

    async def claim(self, owner: str, now: datetime, limit: int, lease_seconds: float) -> list[Job]:
        """Take up to ``limit`` due jobs (pending, or abandoned by a dead worker) under a lease."""
        if limit <= 0:
            return []
        due = or_(
            and_(RecordingRow.state == S.READY.value, RecordingRow.next_attempt_at <= now),
            and_(RecordingRow.state == S.TRANSCRIBING.value, RecordingRow.lease_until < now),
        )
        until = now + timedelta(seconds=lease_seconds)
        jobs: list[Job] = []
        async with self.sessions.begin() as session:
            candidates = (
                (
                    await session.execute(
                        select(RecordingRow.id)
                        .where(due)
                        .order_by(RecordingRow.next_attempt_at, RecordingRow.id)
                        .limit(limit * 2)
                    )
                )
                .scalars()
                .all()
            )
            for rec_id in candidates:
                if len(jobs) >= limit:
                    break
                taken = await session.execute(
                    update(RecordingRow)
                    .where(RecordingRow.id == rec_id, due)
                    .values(state=S.TRANSCRIBING.value, lease_owner=owner, lease_until=until, updated_at=now)
                )
                if taken.rowcount != 1:  # another process was faster
                    continue
                row = await session.get(RecordingRow, rec_id, populate_existing=True)
                assert row is not None
                legs = (
                    (
                        await session.execute(
                            select(RecordingLegRow).where(RecordingLegRow.recording_id == rec_id)
                        )
                    )
                    .scalars()
                    .all()
                )
                jobs.append(
                    Job(
                        rec_id,
                        row.call_id,
                        row.local_path,
                        tuple(Leg(Speaker(g.speaker), g.asterisk_path, g.local_path) for g in legs),
                        row.attempts,
                    )
                )
        return jobs

    async def release_leases(self, owner: str, now: datetime) -> int:
        """Give back the jobs ``owner`` held (its previous run died or is shutting down)."""
        async with self.sessions.begin() as session:
            result = await session.execute(
                update(RecordingRow)
                .where(RecordingRow.state == S.TRANSCRIBING.value, RecordingRow.lease_owner == owner)
                .values(
                    state=S.READY.value,
                    lease_owner=None,
                    lease_until=None,
                    next_attempt_at=now,
                    updated_at=now,
                )
            )
            return result.rowcount or 0

    async def pending_due_at(self) -> datetime | None:
        """When the earliest pending job becomes due (None: nothing pending)."""
        async with self.sessions() as session:
            return (
                await session.execute(
                    select(func.min(RecordingRow.next_attempt_at)).where(RecordingRow.state == S.READY.value)
                )
            ).scalar_one_or_none()

    def _held(self, rec_id: str, owner: str) -> object:
        return and_(
            RecordingRow.id == rec_id,
            RecordingRow.state == S.TRANSCRIBING.value,
            RecordingRow.lease_owner == owner,
        )

    async def complete(
        self,
        rec_id: str,
        owner: str,
        segments: Sequence[TranscriptSegment],
        *,
        engine: str,
        size_bytes: int,
        duration_s: float,
        now: datetime,
        note: str | None = None,
    ) -> bool:
        """Store a transcript (replacing any older one); False when the lease was lost meanwhile."""
        async with self.sessions.begin() as session:
            result = await session.execute(
                update(RecordingRow)
                .where(self._held(rec_id, owner))
                .values(
                    state=S.TRANSCRIBED.value,
                    engine=engine,
                    transcribed_at=now,
                    size_bytes=size_bytes,
                    duration_s=duration_s,
                    problem=_clip(note, MAX_PROBLEM),
                    lease_owner=None,
                    lease_until=None,
                    next_attempt_at=None,
                    updated_at=now,
                )
            )
            if result.rowcount != 1:
                return False
            await session.execute(delete(SegmentRow).where(SegmentRow.recording_id == rec_id))
            session.add_all(
                SegmentRow(
                    recording_id=rec_id,
                    seq=i,
                    speaker=s.speaker.value,
                    start_s=s.start_s,
                    end_s=s.end_s,
                    text=s.text,
                    confidence=s.confidence,
                )
                for i, s in enumerate(segments)
            )
            return True

    async def settle(
        self,
        rec_id: str,
        owner: str,
        state: RecordingState,
        *,
        now: datetime,
        problem: str | None = None,
        size_bytes: int | None = None,
        duration_s: float | None = None,
    ) -> bool:
        """End a held job in a final state without a transcript (stored, damaged, missing, failed)."""
        values: dict[str, object] = {
            "state": state.value,
            "problem": _clip(problem, MAX_PROBLEM),
            "lease_owner": None,
            "lease_until": None,
            "next_attempt_at": None,
            "updated_at": now,
        }
        if size_bytes is not None:
            values["size_bytes"] = size_bytes
        if duration_s is not None:
            values["duration_s"] = duration_s
        async with self.sessions.begin() as session:
            result = await session.execute(
                update(RecordingRow).where(self._held(rec_id, owner)).values(**values)
            )
            return result.rowcount == 1

    async def retry_later(
        self, rec_id: str, owner: str, *, problem: str, attempts: int, at: datetime, now: datetime
    ) -> bool:
        """Put a held job back in the queue after a failed attempt."""
        async with self.sessions.begin() as session:
            result = await session.execute(
                update(RecordingRow)
                .where(self._held(rec_id, owner))
                .values(
                    state=S.READY.value,
                    attempts=attempts,
                    problem=_clip(problem, MAX_PROBLEM),
                    next_attempt_at=at,
                    lease_owner=None,
                    lease_until=None,
                    updated_at=now,
                )
            )
            return result.rowcount == 1

    async def count_attempt(self, rec_id: str, owner: str, attempts: int) -> None:
        """Record the attempt number on a held job (its final state is set by ``settle``)."""
        async with self.sessions.begin() as session:
            await session.execute(
                update(RecordingRow).where(self._held(rec_id, owner)).values(attempts=attempts)
            )

    async def requeue(self, rec_id: str, now: datetime) -> bool:
        """Queue a finished recording for transcription again (after a failure or an engine change)."""
        requeueable = [s.value for s in (S.FAILED, S.TRANSCRIBED, S.STORED, S.MISSING)]
        async with self.sessions.begin() as session:
            result = await session.execute(
                update(RecordingRow)
                .where(
                    RecordingRow.id == rec_id,
                    RecordingRow.state.in_(requeueable),
                    RecordingRow.local_path.is_not(None),
                )
                .values(state=S.READY.value, attempts=0, next_attempt_at=now, problem=None, updated_at=now)
            )
            return result.rowcount == 1

    # -- playback, hold, audit ------------------------------------------------------------------------

    async def mark_missing(self, rec_id: str, problem: str, now: datetime) -> None:
        """The file of a catalogued recording is gone (seen when someone tried to play it)."""
        async with self.sessions.begin() as session:
            await session.execute(
                update(RecordingRow)
                .where(RecordingRow.id == rec_id, RecordingRow.state.in_([s.value for s in S if s.playable]))
                .values(state=S.MISSING.value, problem=_clip(problem, MAX_PROBLEM), updated_at=now)
            )

    async def set_legal_hold(self, rec_id: str, hold: bool, now: datetime) -> bool:
        """Exempt a recording from retention (or lift that); False when the recording does not exist."""
        async with self.sessions.begin() as session:
            result = await session.execute(
                update(RecordingRow).where(RecordingRow.id == rec_id).values(legal_hold=hold, updated_at=now)
            )
            return result.rowcount == 1

    async def audit(
        self,
        rec_id: str,
        *,
        user_id: str,
        role: str,
        action: AuditAction,
        client_ip: str | None,
        now: datetime,
        window_seconds: float = 0.0,
    ) -> bool:
        """Append to the audit log; with a window, a repeat of the same user/action/recording is folded in."""
        async with self.sessions.begin() as session:
            if window_seconds > 0:
                recent = (
                    await session.execute(
                        select(AuditRow.id)
                        .where(
                            AuditRow.recording_id == rec_id,
                            AuditRow.user_id == user_id,
                            AuditRow.action == action.value,
                            AuditRow.at > now - timedelta(seconds=window_seconds),
                        )
                        .limit(1)
                    )
                ).scalar_one_or_none()
                if recent is not None:
                    return False
            session.add(
                AuditRow(
                    id=new_id(),
                    recording_id=rec_id,
                    user_id=user_id[:64],
                    role=role[:16],
                    action=action.value,
                    at=now,
                    client_ip=_clip(client_ip, 64),
                )
            )
            return True

    # -- retention ------------------------------------------------------------------------------------

    async def expired(self, now: datetime, limit: int) -> list[Recording]:
        """Recordings past their retention date and not on legal hold."""
        finished = [s.value for s in S if s not in (S.RECORDING, S.TRANSCRIBING, S.DELETED)]
        async with self.sessions() as session:
            rows = (
                (
                    await session.execute(
                        select(RecordingRow)
                        .where(
                            RecordingRow.delete_after <= now,
                            RecordingRow.legal_hold.is_(False),
                            RecordingRow.state.in_(finished),
                        )
                        .order_by(RecordingRow.delete_after)
                        .limit(limit)
                    )
                )
                .scalars()
                .all()
            )
            legs = await _legs_of(session, [r.id for r in rows])
            return [row_to_recording(r, legs.get(r.id, ())) for r in rows]

    async def mark_deleted(self, rec_id: str, now: datetime) -> bool:
        """Files are gone: drop the transcript, keep the row (and the audit log) as the record of deletion."""
        async with self.sessions.begin() as session:
            result = await session.execute(
                update(RecordingRow)
                .where(
                    RecordingRow.id == rec_id,
                    RecordingRow.legal_hold.is_(False),
                    RecordingRow.state.not_in([S.RECORDING.value, S.TRANSCRIBING.value]),
                )
                .values(
                    state=S.DELETED.value, deleted_at=now, problem=None, next_attempt_at=None, updated_at=now
                )
            )
            if result.rowcount != 1:
                return False
            await session.execute(delete(SegmentRow).where(SegmentRow.recording_id == rec_id))
            return True

    async def deleted_with_leftovers(self, limit: int) -> list[Recording]:
        """Deleted recordings whose files could not all be removed last time (noted in ``problem``)."""
        async with self.sessions() as session:
            rows = (
                (
                    await session.execute(
                        select(RecordingRow)
                        .where(RecordingRow.state == S.DELETED.value, RecordingRow.problem.is_not(None))
                        .limit(limit)
                    )
                )
                .scalars()
                .all()
            )
            legs = await _legs_of(session, [r.id for r in rows])
            return [row_to_recording(r, legs.get(r.id, ())) for r in rows]

    async def set_problem(self, rec_id: str, problem: str | None) -> None:
        """Note (or clear) what is wrong with a recording."""
        async with self.sessions.begin() as session:
            await session.execute(
                update(RecordingRow)
                .where(RecordingRow.id == rec_id)
                .values(problem=_clip(problem, MAX_PROBLEM))
            )


async def _legs_of(session: AsyncSession, ids: Sequence[str]) -> dict[str, list[RecordingLegRow]]:
    out: dict[str, list[RecordingLegRow]] = {}
    if not ids:
        return out
    rows = (
        await session.execute(select(RecordingLegRow).where(RecordingLegRow.recording_id.in_(ids)))
    ).scalars()
    for leg in rows:
        out.setdefault(leg.recording_id, []).append(leg)
    return out
