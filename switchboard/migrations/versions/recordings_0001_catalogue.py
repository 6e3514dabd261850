"""Recordings: catalogue (also the transcription job queue), leg files, transcript segments with
full-text search, and the audit log.

Full-text search differs per database:
- SQLite: an external-content FTS5 table ``recording_segments_fts`` (rowid = recording_segments.id) kept in
  step by three triggers. A later batch migration that copies ``recording_segments`` must recreate them.
- PostgreSQL: a generated ``text_tsv`` tsvector column with a GIN index. Everything but letters and digits
  becomes a space first and the 'simple' configuration adds no stemming, so words are split exactly as
  FTS5's unicode61 tokenizer splits them (PostgreSQL's own parser would swallow "<b>x</b>", e-mail
  addresses and paths as single tokens), in any language; neither side folds accents.

Revision ID: recordings_0001
Revises: 0001_base
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "recordings_0001"
down_revision: str | Sequence[str] | None = "0001_base"
branch_labels: str | Sequence[str] | None = ("recordings",)
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)

_FTS_DELETE_OLD = (
    "INSERT INTO recording_segments_fts(recording_segments_fts, rowid, text) "
    "VALUES ('delete', old.id, old.text); "
)
SQLITE_FTS = (
    "CREATE VIRTUAL TABLE recording_segments_fts USING fts5("
    "text, content='recording_segments', content_rowid='id', tokenize='unicode61 remove_diacritics 0')",
    "CREATE TRIGGER recording_segments_fts_insert AFTER INSERT ON recording_segments BEGIN "
    "INSERT INTO recording_segments_fts(rowid, text) VALUES (new.id, new.text); END",
    "CREATE TRIGGER recording_segments_fts_delete AFTER DELETE ON recording_segments BEGIN "
    f"{_FTS_DELETE_OLD}END",
    "CREATE TRIGGER recording_segments_fts_update AFTER UPDATE ON recording_segments BEGIN "
    f"{_FTS_DELETE_OLD}"
    "INSERT INTO recording_segments_fts(rowid, text) VALUES (new.id, new.text); END",
)
SQLITE_FTS_DROP = (
    "DROP TRIGGER IF EXISTS recording_segments_fts_update",
    "DROP TRIGGER IF EXISTS recording_segments_fts_delete",
    "DROP TRIGGER IF EXISTS recording_segments_fts_insert",
    "DROP TABLE IF EXISTS recording_segments_fts",
)
POSTGRES_FTS = (
    "ALTER TABLE recording_segments ADD COLUMN text_tsv tsvector "
    "GENERATED ALWAYS AS (to_tsvector('simple', regexp_replace(text, '[^[:alnum:]]+', ' ', 'g'))) STORED",
    "CREATE INDEX ix_recording_segments_text_tsv ON recording_segments USING gin (text_tsv)",
)


def upgrade() -> None:
    op.create_table(
        "recordings",
        sa.Column("id", sa.String(26), nullable=False),
        sa.Column("call_id", sa.String(64), nullable=True),
        sa.Column("source", sa.String(128), nullable=False),
        sa.Column("uniqueid", sa.String(64), nullable=False),
        sa.Column("linkedid", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(128), nullable=False),
        sa.Column("queue", sa.String(64), nullable=True),
        sa.Column("agent_id", sa.String(64), nullable=True),
        sa.Column("caller_number", sa.String(80), nullable=False),
        sa.Column("caller_name", sa.String(128), nullable=False),
        sa.Column("asterisk_path", sa.String(512), nullable=False),
        sa.Column("local_path", sa.String(1024), nullable=True),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("ended_at", TS, nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("problem", sa.String(300), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", TS, nullable=True),
        sa.Column("lease_owner", sa.String(80), nullable=True),
        sa.Column("lease_until", TS, nullable=True),
        sa.Column("engine", sa.String(32), nullable=True),
        sa.Column("transcribed_at", TS, nullable=True),
        sa.Column("legal_hold", sa.Boolean(), nullable=False),
        sa.Column("delete_after", TS, nullable=True),
        sa.Column("deleted_at", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recordings")),
        sa.UniqueConstraint("source", "uniqueid", "asterisk_path", name="uq_recordings_source_uniqueid_path"),
    )
    op.create_index(op.f("ix_recordings_agent_id"), "recordings", ["agent_id"])
    op.create_index(op.f("ix_recordings_call_id"), "recordings", ["call_id"])
    op.create_index(op.f("ix_recordings_delete_after"), "recordings", ["delete_after"])
    op.create_index(op.f("ix_recordings_started_at"), "recordings", ["started_at"])
    op.create_index("ix_recordings_state_next_attempt_at", "recordings", ["state", "next_attempt_at"])

    op.create_table(
        "recording_legs",
        sa.Column("recording_id", sa.String(26), nullable=False),
        sa.Column("speaker", sa.String(16), nullable=False),
        sa.Column("asterisk_path", sa.String(512), nullable=False),
        sa.Column("local_path", sa.String(1024), nullable=True),
        sa.ForeignKeyConstraint(
            ["recording_id"],
            ["recordings.id"],
            name=op.f("fk_recording_legs_recording_id_recordings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("recording_id", "speaker", name=op.f("pk_recording_legs")),
    )

    op.create_table(
        "recording_segments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("recording_id", sa.String(26), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("speaker", sa.String(16), nullable=False),
        sa.Column("start_s", sa.Float(), nullable=False),
        sa.Column("end_s", sa.Float(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["recording_id"],
            ["recordings.id"],
            name=op.f("fk_recording_segments_recording_id_recordings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recording_segments")),
    )
    op.create_index(op.f("ix_recording_segments_recording_id"), "recording_segments", ["recording_id"])

    op.create_table(
        "recording_audit",
        sa.Column("id", sa.String(26), nullable=False),
        sa.Column("recording_id", sa.String(26), nullable=False),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("action", sa.String(24), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("client_ip", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recording_audit")),
    )
    op.create_index("ix_recording_audit_recording_id_at", "recording_audit", ["recording_id", "at"])
    op.create_index("ix_recording_audit_user_id_at", "recording_audit", ["user_id", "at"])

    dialect = op.get_bind().dialect.name
    for statement in SQLITE_FTS if dialect == "sqlite" else POSTGRES_FTS if dialect == "postgresql" else ():
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for statement in SQLITE_FTS_DROP:
            op.execute(statement)
    elif dialect == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_recording_segments_text_tsv")
    op.drop_index("ix_recording_audit_user_id_at", table_name="recording_audit")
    op.drop_index("ix_recording_audit_recording_id_at", table_name="recording_audit")
    op.drop_table("recording_audit")
    op.drop_index(op.f("ix_recording_segments_recording_id"), table_name="recording_segments")
    op.drop_table("recording_segments")
    op.drop_table("recording_legs")
    op.drop_index("ix_recordings_state_next_attempt_at", table_name="recordings")
    op.drop_index(op.f("ix_recordings_started_at"), table_name="recordings")
    op.drop_index(op.f("ix_recordings_delete_after"), table_name="recordings")
    op.drop_index(op.f("ix_recordings_call_id"), table_name="recordings")
    op.drop_index(op.f("ix_recordings_agent_id"), table_name="recordings")
    op.drop_table("recordings")
