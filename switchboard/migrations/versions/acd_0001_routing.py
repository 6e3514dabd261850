"""ACD: routing configuration (skills, regions, agents, queues, steps, absences, VIPs) and queued calls.

Revision ID: acd_0001
Revises: 0001_base
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "acd_0001"
down_revision: str | Sequence[str] | None = "0001_base"
branch_labels: str | Sequence[str] | None = ("acd",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "acd_skills",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("description", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_acd_skills"),
    )
    op.create_table(
        "acd_regions",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("description", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_acd_regions"),
    )
    op.create_table(
        "acd_agents",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("endpoint", sa.String(100), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("regions", sa.JSON(), nullable=False),
        sa.Column("languages", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_acd_agents"),
        sa.UniqueConstraint("endpoint", name="uq_acd_agents_endpoint"),
    )
    op.create_table(
        "acd_agent_skills",
        sa.Column("agent_id", sa.String(64), nullable=False),
        sa.Column("skill", sa.String(64), nullable=False),
        sa.Column("proficiency", sa.Integer(), nullable=False),
        sa.CheckConstraint("proficiency BETWEEN 1 AND 5", name="ck_acd_agent_skills_proficiency_range"),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["acd_agents.id"],
            name="fk_acd_agent_skills_agent_id_acd_agents",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["skill"], ["acd_skills.name"], name="fk_acd_agent_skills_skill_acd_skills"),
        sa.PrimaryKeyConstraint("agent_id", "skill", name="pk_acd_agent_skills"),
    )
    op.create_table(
        "acd_agent_substitutes",
        sa.Column("agent_id", sa.String(64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("substitute_id", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["acd_agents.id"],
            name="fk_acd_agent_substitutes_agent_id_acd_agents",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["substitute_id"],
            ["acd_agents.id"],
            name="fk_acd_agent_substitutes_substitute_id_acd_agents",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("agent_id", "position", name="pk_acd_agent_substitutes"),
    )
    op.create_table(
        "acd_queues",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("skill", sa.String(64), nullable=False),
        sa.Column("service_level_percent", sa.Float(), nullable=False),
        sa.Column("service_level_seconds", sa.Float(), nullable=False),
        sa.Column("wrap_up_seconds", sa.Float(), nullable=False),
        sa.Column("ring_timeout_seconds", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("strategy", sa.String(32), nullable=False),
        sa.Column("min_proficiency", sa.Integer(), nullable=False),
        sa.Column("announce_every_seconds", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["skill"], ["acd_skills.name"], name="fk_acd_queues_skill_acd_skills"),
        sa.PrimaryKeyConstraint("name", name="pk_acd_queues"),
    )
    op.create_table(
        "acd_relaxation_steps",
        sa.Column("queue", sa.String(64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("after_seconds", sa.Float(), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("value", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(
            ["queue"],
            ["acd_queues.name"],
            name="fk_acd_relaxation_steps_queue_acd_queues",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("queue", "position", name="pk_acd_relaxation_steps"),
    )
    op.create_table(
        "acd_absences",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("agent_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.String(500), nullable=False),
        sa.CheckConstraint("ends_at > starts_at", name="ck_acd_absences_ends_after_start"),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["acd_agents.id"], name="fk_acd_absences_agent_id_acd_agents", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_acd_absences"),
    )
    op.create_index("ix_acd_absences_agent_id", "acd_absences", ["agent_id"])
    op.create_table(
        "acd_vips",
        sa.Column("number", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("priority_boost", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.String(64), nullable=True),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["acd_agents.id"], name="fk_acd_vips_agent_id_acd_agents", ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("number", name="pk_acd_vips"),
    )
    op.create_table(
        "acd_queue_calls",
        sa.Column("call_id", sa.String(64), nullable=False),
        sa.Column("queue", sa.String(64), nullable=False),
        sa.Column("skill", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(200), nullable=False),
        sa.Column("uniqueid", sa.String(64), nullable=False),
        sa.Column("caller_number", sa.String(64), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("region", sa.String(64), nullable=True),
        sa.Column("language", sa.String(16), nullable=True),
        sa.Column("vip", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("enqueued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("abandoned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("wait_seconds", sa.Float(), nullable=True),
        sa.Column("agent_id", sa.String(64), nullable=True),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("callback", sa.Boolean(), nullable=False),
        sa.Column("callback_number", sa.String(32), nullable=False),
        sa.Column("explanation", sa.JSON(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("call_id", name="pk_acd_queue_calls"),
    )
    op.create_index("ix_acd_queue_calls_queue", "acd_queue_calls", ["queue"])
    op.create_index("ix_acd_queue_calls_uniqueid", "acd_queue_calls", ["uniqueid"])
    op.create_index("ix_acd_queue_calls_enqueued_at", "acd_queue_calls", ["enqueued_at"])
    op.create_index("ix_acd_queue_calls_outcome", "acd_queue_calls", ["outcome"])


def downgrade() -> None:
    for index, table in (
        ("ix_acd_queue_calls_outcome", "acd_queue_calls"),
        ("ix_acd_queue_calls_enqueued_at", "acd_queue_calls"),
        ("ix_acd_queue_calls_uniqueid", "acd_queue_calls"),
        ("ix_acd_queue_calls_queue", "acd_queue_calls"),
        ("ix_acd_absences_agent_id", "acd_absences"),
    ):
        op.drop_index(index, table_name=table)
    for table in (
        "acd_queue_calls",
        "acd_vips",
        "acd_absences",
        "acd_relaxation_steps",
        "acd_queues",
        "acd_agent_substitutes",
        "acd_agent_skills",
        "acd_agents",
        "acd_regions",
        "acd_skills",
    ):
        op.drop_table(table)
