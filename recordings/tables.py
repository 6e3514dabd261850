"""SQL tables of the recordings domain (migration: switchboard/migrations/versions/recordings_0001_*.py).

Full-text search lives outside these declarations because it differs per database and Alembic's
autogenerate cannot express it: on SQLite an external-content FTS5 table ``recording_segments_fts`` kept in
step by triggers; on PostgreSQL a generated ``text_tsv`` tsvector column with a GIN index.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from sqlalchemy import BigInteger, Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from switchboard.orm import Base

# Database objects the migration creates outside these declarations. Alembic's autogenerate must skip them
# (switchboard/migrations/env.py: include_name), or every new revision would propose dropping them.
UNMANAGED_NAMES: Final = frozenset(
    {
        "recording_segments_fts",
        "recording_segments_fts_data",
        "recording_segments_fts_idx",
        "recording_segments_fts_docsize",
        "recording_segments_fts_config",
        "recording_segments_fts_content",
        "text_tsv",
        "ix_recording_segments_text_tsv",
    }
)
Base.metadata.info.setdefault("unmanaged_names", set()).update(UNMANAGED_NAMES)


class RecordingRow(Base):
    """One MixMonitor recording of one channel; also its transcription job (state, attempts, lease)."""

    __tablename__ = "recordings"

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    call_id: Mapped[str | None] = mapped_column(String(64), index=True)
    source: Mapped[str] = mapped_column(String(128))
    uniqueid: Mapped[str] = mapped_column(String(64))
    linkedid: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(128))
    queue: Mapped[str | None] = mapped_column(String(64))
    agent_id: Mapped[str | None] = mapped_column(String(64), index=True)
    caller_number: Mapped[str] = mapped_column(String(80))
    caller_name: Mapped[str] = mapped_column(String(128))
    asterisk_path: Mapped[str] = mapped_column(String(512))
    local_path: Mapped[str | None] = mapped_column(String(1024))
    started_at: Mapped[datetime] = mapped_column(index=True)
    ended_at: Mapped[datetime | None]
    duration_s: Mapped[float | None] = mapped_column(Float)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(16))
    problem: Mapped[str | None] = mapped_column(String(300))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    lease_owner: Mapped[str | None] = mapped_column(String(80))
    lease_until: Mapped[datetime | None]
    engine: Mapped[str | None] = mapped_column(String(32))
    transcribed_at: Mapped[datetime | None]
    legal_hold: Mapped[bool] = mapped_column(Boolean, default=False)
    delete_after: Mapped[datetime | None] = mapped_column(index=True)
    deleted_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __table_args__ = (
        # One row per file of a channel on a box: also what makes two controllers on one Asterisk agree.
        UniqueConstraint("source", "uniqueid", "asterisk_path", name="uq_recordings_source_uniqueid_path"),
        Index("ix_recordings_state_next_attempt_at", "state", "next_attempt_at"),
    )


class RecordingLegRow(Base):
    """One side of a recording in a file of its own (MixMonitor ``r()`` caller, ``t()`` agent)."""

    __tablename__ = "recording_legs"

    recording_id: Mapped[str] = mapped_column(
        String(26), ForeignKey("recordings.id", ondelete="CASCADE"), primary_key=True
    )
    speaker: Mapped[str] = mapped_column(String(16), primary_key=True)
    asterisk_path: Mapped[str] = mapped_column(String(512))
    local_path: Mapped[str | None] = mapped_column(String(1024))


class SegmentRow(Base):
    """A transcript segment. The integer id is FTS5's rowid on SQLite; it never leaves the database."""

    __tablename__ = "recording_segments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    recording_id: Mapped[str] = mapped_column(
        String(26), ForeignKey("recordings.id", ondelete="CASCADE"), index=True
    )
    seq: Mapped[int] = mapped_column(Integer)
    speaker: Mapped[str] = mapped_column(String(16))
    start_s: Mapped[float] = mapped_column(Float)
    end_s: Mapped[float] = mapped_column(Float)
    text: Mapped[str] = mapped_column(Text)
    confidence: Mapped[float] = mapped_column(Float)


class AuditRow(Base):
    """Who listened to, downloaded or held which recording, when, from where. Append-only, no foreign key."""

    __tablename__ = "recording_audit"

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    recording_id: Mapped[str] = mapped_column(String(26))
    user_id: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(24))
    at: Mapped[datetime]
    client_ip: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_recording_audit_recording_id_at", "recording_id", "at"),
        Index("ix_recording_audit_user_id_at", "user_id", "at"),
    )
