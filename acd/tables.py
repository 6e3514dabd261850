"""SQL tables of the ACD: the routing configuration (the record) and one row per queued call."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, CheckConstraint, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from switchboard.orm import Base


class SkillRow(Base):
    __tablename__ = "acd_skills"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    description: Mapped[str] = mapped_column(String(200), default="")


class RegionRow(Base):
    __tablename__ = "acd_regions"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    description: Mapped[str] = mapped_column(String(200), default="")


class AgentRow(Base):
    __tablename__ = "acd_agents"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    endpoint: Mapped[str] = mapped_column(String(100), unique=True)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    regions: Mapped[list[str]] = mapped_column(JSON, default=list)
    languages: Mapped[list[str]] = mapped_column(JSON, default=list)


class AgentSkillRow(Base):
    __tablename__ = "acd_agent_skills"
    __table_args__ = (CheckConstraint("proficiency BETWEEN 1 AND 5", name="proficiency_range"),)

    agent_id: Mapped[str] = mapped_column(ForeignKey("acd_agents.id", ondelete="CASCADE"), primary_key=True)
    skill: Mapped[str] = mapped_column(ForeignKey("acd_skills.name"), primary_key=True)
    proficiency: Mapped[int] = mapped_column(Integer)


class AgentSubstituteRow(Base):
    __tablename__ = "acd_agent_substitutes"

    agent_id: Mapped[str] = mapped_column(ForeignKey("acd_agents.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    substitute_id: Mapped[str] = mapped_column(ForeignKey("acd_agents.id", ondelete="CASCADE"))


class QueueRow(Base):
    __tablename__ = "acd_queues"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    skill: Mapped[str] = mapped_column(ForeignKey("acd_skills.name"))
    service_level_percent: Mapped[float] = mapped_column(Float, default=80.0)
    service_level_seconds: Mapped[float] = mapped_column(Float, default=20.0)
    wrap_up_seconds: Mapped[float] = mapped_column(Float, default=30.0)
    ring_timeout_seconds: Mapped[int] = mapped_column(Integer, default=20)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    strategy: Mapped[str] = mapped_column(String(32), default="proficiency-first")
    min_proficiency: Mapped[int] = mapped_column(Integer, default=1)
    announce_every_seconds: Mapped[int] = mapped_column(Integer, default=30)


class RelaxationStepRow(Base):
    __tablename__ = "acd_relaxation_steps"

    queue: Mapped[str] = mapped_column(ForeignKey("acd_queues.name", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    after_seconds: Mapped[float] = mapped_column(Float)
    action: Mapped[str] = mapped_column(String(32))
    value: Mapped[str] = mapped_column(String(64), default="")


class AbsenceRow(Base):
    __tablename__ = "acd_absences"
    __table_args__ = (CheckConstraint("ends_at > starts_at", name="ends_after_start"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    agent_id: Mapped[str] = mapped_column(ForeignKey("acd_agents.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    note: Mapped[str] = mapped_column(String(500), default="")


class VipRow(Base):
    __tablename__ = "acd_vips"

    number: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    priority_boost: Mapped[int] = mapped_column(Integer, default=10)
    agent_id: Mapped[str | None] = mapped_column(
        ForeignKey("acd_agents.id", ondelete="SET NULL"), nullable=True
    )


class QueueCallRow(Base):
    """One queued call: times, outcome, the agent and the routing explanation."""

    __tablename__ = "acd_queue_calls"

    call_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    queue: Mapped[str] = mapped_column(String(64), index=True)
    skill: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(200), default="")
    uniqueid: Mapped[str] = mapped_column(String(64), default="", index=True)
    caller_number: Mapped[str] = mapped_column(String(64), default="")
    priority: Mapped[int] = mapped_column(Integer, default=0)
    region: Mapped[str | None] = mapped_column(String(64), nullable=True)
    language: Mapped[str | None] = mapped_column(String(16), nullable=True)
    vip: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[str] = mapped_column(String(200), default="")
    enqueued_at: Mapped[datetime] = mapped_column(index=True)
    answered_at: Mapped[datetime | None] = mapped_column(nullable=True)
    abandoned_at: Mapped[datetime | None] = mapped_column(nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(nullable=True)
    wait_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    agent_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    outcome: Mapped[str] = mapped_column(String(32), default="waiting", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    callback: Mapped[bool] = mapped_column(Boolean, default=False)
    callback_number: Mapped[str] = mapped_column(String(32), default="")
    explanation: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    notes: Mapped[str] = mapped_column(Text, default="")
