"""Surveys: outbox, replies, unmatched replies, opt-outs, contact slots and prefix counters.

Revision ID: surveys_0001
Revises: 0001_base
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "surveys_0001"
down_revision: str | Sequence[str] | None = "0001_base"
branch_labels: str | Sequence[str] | None = ("surveys",)
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "surveys",
        sa.Column("id", sa.String(26), nullable=False),
        sa.Column("call_id", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(32), nullable=True),
        sa.Column("number", sa.String(20), nullable=True),
        sa.Column("region", sa.String(3), nullable=True),
        sa.Column("language", sa.String(16), nullable=False),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("agent_id", sa.String(64), nullable=True),
        sa.Column("queue", sa.String(64), nullable=True),
        sa.Column("skill", sa.String(64), nullable=True),
        sa.Column("ivr_outcome", sa.String(64), nullable=True),
        sa.Column("call_ended_at", TS, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("due_at", TS, nullable=True),
        sa.Column("expires_at", TS, nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("attempted_at", TS, nullable=True),
        sa.Column("lease_owner", sa.String(40), nullable=True),
        sa.Column("lease_until", TS, nullable=True),
        sa.Column("last_error", sa.String(200), nullable=True),
        sa.Column("gateway", sa.String(16), nullable=True),
        sa.Column("gateway_message_id", sa.String(80), nullable=True),
        sa.Column("sent_at", TS, nullable=True),
        sa.Column("delivered_at", TS, nullable=True),
        sa.Column("finished_at", TS, nullable=True),
        sa.Column("rating", sa.Integer(), nullable=True),
        sa.Column("rated_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_surveys")),
        sa.UniqueConstraint("call_id", name=op.f("uq_surveys_call_id")),
        sa.UniqueConstraint("gateway", "gateway_message_id", name="uq_surveys_gateway_message"),
    )
    op.create_index("ix_surveys_state_due", "surveys", ["state", "due_at"])
    op.create_index("ix_surveys_number_attempted", "surveys", ["number", "attempted_at"])
    op.create_index("ix_surveys_call_ended_at", "surveys", ["call_ended_at"])

    op.create_table(
        "survey_replies",
        sa.Column("id", sa.String(26), nullable=False),
        sa.Column("survey_id", sa.String(26), nullable=False),
        sa.Column("received_at", TS, nullable=False),
        sa.Column("sender", sa.String(64), nullable=False),
        sa.Column("number", sa.String(20), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("gateway", sa.String(16), nullable=False),
        sa.Column("gateway_message_id", sa.String(80), nullable=True),
        sa.ForeignKeyConstraint(
            ["survey_id"],
            ["surveys.id"],
            name=op.f("fk_survey_replies_survey_id_surveys"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey_replies")),
        sa.UniqueConstraint("gateway", "gateway_message_id", name="uq_survey_replies_gateway_message"),
    )
    op.create_index(op.f("ix_survey_replies_survey_id"), "survey_replies", ["survey_id"])

    op.create_table(
        "survey_unmatched_replies",
        sa.Column("id", sa.String(26), nullable=False),
        sa.Column("received_at", TS, nullable=False),
        sa.Column("sender", sa.String(64), nullable=False),
        sa.Column("number", sa.String(20), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=True),
        sa.Column("gateway", sa.String(16), nullable=False),
        sa.Column("gateway_message_id", sa.String(80), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey_unmatched_replies")),
        sa.UniqueConstraint(
            "gateway", "gateway_message_id", name="uq_survey_unmatched_replies_gateway_message"
        ),
    )
    op.create_index(
        op.f("ix_survey_unmatched_replies_received_at"), "survey_unmatched_replies", ["received_at"]
    )

    op.create_table(
        "survey_optouts",
        sa.Column("number", sa.String(20), nullable=False),
        sa.Column("opted_out", sa.Boolean(), nullable=False),
        sa.Column("keyword", sa.String(32), nullable=False),
        sa.Column("changed_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("number", name=op.f("pk_survey_optouts")),
    )
    op.create_table(
        "survey_contacts",
        sa.Column("number", sa.String(20), nullable=False),
        sa.Column("survey_id", sa.String(26), nullable=False),
        sa.Column("reserved_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("number", name=op.f("pk_survey_contacts")),
    )
    op.create_table(
        "survey_prefix_counts",
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("hour", TS, nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("prefix", "hour", name=op.f("pk_survey_prefix_counts")),
    )


def downgrade() -> None:
    op.drop_table("survey_prefix_counts")
    op.drop_table("survey_contacts")
    op.drop_table("survey_optouts")
    op.drop_index(op.f("ix_survey_unmatched_replies_received_at"), table_name="survey_unmatched_replies")
    op.drop_table("survey_unmatched_replies")
    op.drop_index(op.f("ix_survey_replies_survey_id"), table_name="survey_replies")
    op.drop_table("survey_replies")
    op.drop_index("ix_surveys_call_ended_at", table_name="surveys")
    op.drop_index("ix_surveys_number_attempted", table_name="surveys")
    op.drop_index("ix_surveys_state_due", table_name="surveys")
    op.drop_table("surveys")
