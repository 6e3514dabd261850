"""IVR: calls (one row per call with its IVR outcome), ivr_steps (the path) and ivr_script_runs (deflection).

Revision ID: ivr_0001
Revises: 0001_base
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "ivr_0001"
down_revision: str | Sequence[str] | None = "0001_base"
branch_labels: str | Sequence[str] | None = ("ivr",)
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "calls",
        sa.Column("call_id", sa.String(64), nullable=False),
        sa.Column("uniqueid", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(128), nullable=False),
        sa.Column("caller_number", sa.String(64), nullable=False),
        sa.Column("caller_name", sa.String(128), nullable=False),
        sa.Column("flow", sa.String(64), nullable=False),
        sa.Column("flow_version", sa.String(32), nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("ended_at", TS, nullable=True),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.Column("outcome_detail", sa.String(256), nullable=False),
        sa.Column("region", sa.String(64), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("skill", sa.String(64), nullable=True),
        sa.Column("queue", sa.String(64), nullable=True),
        sa.Column("language", sa.String(16), nullable=True),
        sa.Column("vip", sa.Boolean(), nullable=False),
        sa.Column("resolved_by", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("call_id", name=op.f("pk_calls")),
    )
    op.create_index(op.f("ix_calls_caller_number"), "calls", ["caller_number"])
    op.create_index(op.f("ix_calls_outcome"), "calls", ["outcome"])
    op.create_index(op.f("ix_calls_started_at"), "calls", ["started_at"])
    op.create_index(op.f("ix_calls_uniqueid"), "calls", ["uniqueid"])

    op.create_table(
        "ivr_steps",
        sa.Column("call_id", sa.String(64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("flow", sa.String(64), nullable=False),
        sa.Column("node", sa.String(80), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("input", sa.String(128), nullable=True),
        sa.Column("recognised", sa.String(512), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("result", sa.String(128), nullable=True),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["call_id"], ["calls.call_id"], name=op.f("fk_ivr_steps_call_id_calls"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("call_id", "seq", name=op.f("pk_ivr_steps")),
    )

    op.create_table(
        "ivr_script_runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("script", sa.String(64), nullable=False),
        sa.Column("call_id", sa.String(64), nullable=False),
        sa.Column("caller_number", sa.String(32), nullable=True),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("resolved_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ivr_script_runs")),
        sa.UniqueConstraint("script", "call_id", name=op.f("uq_ivr_script_runs_script")),
    )
    op.create_index("ix_ivr_script_runs_caller_script", "ivr_script_runs", ["caller_number", "script"])


def downgrade() -> None:
    op.drop_index("ix_ivr_script_runs_caller_script", table_name="ivr_script_runs")
    op.drop_table("ivr_script_runs")
    op.drop_table("ivr_steps")
    op.drop_index(op.f("ix_calls_uniqueid"), table_name="calls")
    op.drop_index(op.f("ix_calls_started_at"), table_name="calls")
    op.drop_index(op.f("ix_calls_outcome"), table_name="calls")
    op.drop_index(op.f("ix_calls_caller_number"), table_name="calls")
    op.drop_table("calls")
