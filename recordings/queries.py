"""SQL reads for the HTTP surface: list and search (full text on SQLite FTS5 or PostgreSQL), detail, audit.

Sorting and filtering only ever use the allow-listed columns below; search text is reduced to words
(letters and digits) before it reaches either full-text engine, so no query syntax (quotes, NEAR, column
filters, tsquery operators) can be injected and every input is a valid query. Each word matches as a
prefix ("bill" finds "billing"); all words must occur in one segment.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from sqlalchemy import ColumnElement, Integer, and_, column, func, select, text, true
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from recordings.model import AuditAction, AuditEntry, Recording, RecordingState, Speaker, TranscriptSegment
from recordings.store import _legs_of, row_to_recording
from recordings.tables import AuditRow, RecordingRow, SegmentRow

SORT_COLUMNS: Final = {
    "started_at": RecordingRow.started_at,
    "ended_at": RecordingRow.ended_at,
    "duration": RecordingRow.duration_s,
    "state": RecordingRow.state,
    "caller_number": RecordingRow.caller_number,
}
SORT_KEYS: Final = tuple(k for name in SORT_COLUMNS for k in (name, f"-{name}"))
MAX_TERMS: Final = 12
MAX_TERM_LENGTH: Final = 64
MATCHES_PER_RECORDING: Final = 3
_WORD = re.compile(r"[^\W_]+")


def search_terms(query: str) -> list[str]:
    """The words of a search box entry (letters/digits only), at most MAX_TERMS of them, lower-cased."""
    return [w[:MAX_TERM_LENGTH].lower() for w in _WORD.findall(query)][:MAX_TERMS]


@dataclass(frozen=True)
class RecordingFilter:
    """Allow-listed filters; every field is matched exactly (or as a range), never spliced into SQL."""

    state: RecordingState | None = None
    call_id: str | None = None
    agent_id: str | None = None
    queue: str | None = None
    caller_number: str | None = None
    started_from: datetime | None = None
    started_to: datetime | None = None
    legal_hold: bool | None = None
    text: str | None = None


@dataclass(frozen=True)
class Page:
    """One page of recordings, the total that match, and for a text search the segments that matched."""

    items: list[Recording]
    total: int
    matches: dict[str, list[TranscriptSegment]] = field(default_factory=dict)


def _segment(row: SegmentRow) -> TranscriptSegment:
    return TranscriptSegment(row.start_s, row.end_s, Speaker(row.speaker), row.text, row.confidence)


class RecordingQueries:
    """Read side of the recordings tables."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def get(self, rec_id: str) -> Recording | None:
        """One recording by id (None when unknown)."""
        async with self.sessions() as session:
            row = await session.get(RecordingRow, rec_id)
            if row is None:
                return None
            legs = await _legs_of(session, [rec_id])
            return row_to_recording(row, legs.get(rec_id, ()))

    async def transcript(self, rec_id: str) -> list[TranscriptSegment]:
        """The transcript's segments in time order."""
        async with self.sessions() as session:
            rows = await session.execute(
                select(SegmentRow).where(SegmentRow.recording_id == rec_id).order_by(SegmentRow.seq)
            )
            return [_segment(r) for r in rows.scalars()]

    async def search(
        self, flt: RecordingFilter, *, sort: str = "-started_at", limit: int = 50, offset: int = 0
    ) -> Page:
        """Recordings matching ``flt``, sorted by an allow-listed key, one page of them."""
        if sort not in SORT_KEYS:
            raise ValueError(f"unknown sort {sort!r}; one of {', '.join(SORT_KEYS)}")
        column = SORT_COLUMNS[sort.lstrip("-")]
        order = column.desc().nulls_last() if sort.startswith("-") else column.asc().nulls_last()
        async with self.sessions() as session:
            dialect = session.bind.dialect.name
            conditions = self._conditions(flt, dialect)
            if conditions is None:
                return Page([], 0)
            where = and_(true(), *conditions)
            total = (
                await session.execute(select(func.count()).select_from(RecordingRow).where(where))
            ).scalar_one()
            rows = (
                (
                    await session.execute(
                        select(RecordingRow)
                        .where(where)
                        .order_by(order, RecordingRow.id)
                        .limit(limit)
                        .offset(offset)
                    )
                )
                .scalars()
                .all()
            )
            ids = [r.id for r in rows]
            legs = await _legs_of(session, ids)
            items = [row_to_recording(r, legs.get(r.id, ())) for r in rows]
            matches: dict[str, list[TranscriptSegment]] = {}
            terms = search_terms(flt.text or "")
            if ids and terms:
                found = await session.execute(
                    select(SegmentRow)
                    .where(SegmentRow.recording_id.in_(ids), _fts_condition(terms, dialect))
                    .order_by(SegmentRow.recording_id, SegmentRow.seq)
                )
                for seg in found.scalars():
                    hits = matches.setdefault(seg.recording_id, [])
                    if len(hits) < MATCHES_PER_RECORDING:
                        hits.append(_segment(seg))
            return Page(items, total, matches)

    def _conditions(self, flt: RecordingFilter, dialect: str) -> list[ColumnElement[bool]] | None:
        c: list[ColumnElement[bool]] = []
        exact: Sequence[tuple[Any, Any]] = (
            (RecordingRow.state, flt.state.value if flt.state else None),
            (RecordingRow.call_id, flt.call_id),
            (RecordingRow.agent_id, flt.agent_id),
            (RecordingRow.queue, flt.queue),
            (RecordingRow.caller_number, flt.caller_number),
            (RecordingRow.legal_hold, flt.legal_hold),
        )
        c.extend(column == value for column, value in exact if value is not None)
        if flt.started_from is not None:
            c.append(RecordingRow.started_at >= flt.started_from)
        if flt.started_to is not None:
            c.append(RecordingRow.started_at < flt.started_to)
        if flt.text is not None:
            terms = search_terms(flt.text)
            if not terms:
                return None  # no words: nothing can match
            c.append(
                RecordingRow.id.in_(
                    select(SegmentRow.recording_id).where(_fts_condition(terms, dialect)).distinct()
                )
            )
        return c

    async def audit_log(self, rec_id: str, limit: int = 500) -> list[AuditEntry]:
        """The recording's audit entries, newest first."""
        async with self.sessions() as session:
            rows = await session.execute(
                select(AuditRow)
                .where(AuditRow.recording_id == rec_id)
                .order_by(AuditRow.at.desc())
                .limit(limit)
            )
            return [
                AuditEntry(r.id, r.recording_id, r.user_id, r.role, AuditAction(r.action), r.at, r.client_ip)
                for r in rows.scalars()
            ]


def _fts_condition(terms: list[str], dialect: str) -> ColumnElement[bool]:
    """Segments containing every term (as a word prefix), in the database's own full-text engine."""
    if dialect == "postgresql":
        query = " & ".join(f"{t}:*" for t in terms)
        return text("recording_segments.text_tsv @@ to_tsquery('simple', :fts_query)").bindparams(
            fts_query=query
        )
    if dialect == "sqlite":
        query = " ".join(f'"{t}"*' for t in terms)
        return SegmentRow.id.in_(
            text("SELECT rowid FROM recording_segments_fts WHERE recording_segments_fts MATCH :fts_query")
            .bindparams(fts_query=query)
            .columns(column("rowid", Integer))
        )
    # Any other database: a plain (slow, but correct) substring match.
    return and_(*(func.lower(SegmentRow.text).contains(t) for t in terms))
