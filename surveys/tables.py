"""SQL tables of the survey domain: the outbox, replies (matched and unmatched), opt-outs and counters."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from switchboard.orm import Base

ID = String(26)
NUMBER = String(20)  # E.164 is at most 15 digits and a "+"
LABEL = String(64)


class SurveyRow(Base):
    """One survey per call: the outbox row whose ``state`` is the send state machine."""

    __tablename__ = "surveys"
    __table_args__ = (
        UniqueConstraint("gateway", "gateway_message_id", name="uq_surveys_gateway_message"),
        Index("ix_surveys_state_due", "state", "due_at"),
        Index("ix_surveys_number_attempted", "number", "attempted_at"),
        Index("ix_surveys_call_ended_at", "call_ended_at"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    call_id: Mapped[str] = mapped_column(LABEL, unique=True)
    state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(32))
    number: Mapped[str | None] = mapped_column(NUMBER)
    region: Mapped[str | None] = mapped_column(String(3))
    language: Mapped[str] = mapped_column(String(16))
    body: Mapped[str | None] = mapped_column(Text)
    agent_id: Mapped[str | None] = mapped_column(LABEL)
    queue: Mapped[str | None] = mapped_column(LABEL)
    skill: Mapped[str | None] = mapped_column(LABEL)
    ivr_outcome: Mapped[str | None] = mapped_column(LABEL)
    call_ended_at: Mapped[datetime]
    created_at: Mapped[datetime]
    due_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    attempted_at: Mapped[datetime | None]
    lease_owner: Mapped[str | None] = mapped_column(String(40))
    lease_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(200))
    gateway: Mapped[str | None] = mapped_column(String(16))
    gateway_message_id: Mapped[str | None] = mapped_column(String(80))
    sent_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    rating: Mapped[int | None] = mapped_column(Integer)
    rated_at: Mapped[datetime | None]


class ReplyRow(Base):
    """An inbound SMS attached to the survey (and so the call) it answers."""

    __tablename__ = "survey_replies"
    __table_args__ = (
        UniqueConstraint("gateway", "gateway_message_id", name="uq_survey_replies_gateway_message"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    survey_id: Mapped[str] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"), index=True)
    received_at: Mapped[datetime]
    sender: Mapped[str] = mapped_column(String(64))
    number: Mapped[str] = mapped_column(NUMBER)
    text: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16))
    rating: Mapped[int | None] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    gateway: Mapped[str] = mapped_column(String(16))
    gateway_message_id: Mapped[str | None] = mapped_column(String(80))


class UnmatchedReplyRow(Base):
    """An inbound SMS that answers no survey we can name: kept for review, never attached to a call."""

    __tablename__ = "survey_unmatched_replies"
    __table_args__ = (
        UniqueConstraint("gateway", "gateway_message_id", name="uq_survey_unmatched_replies_gateway_message"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    received_at: Mapped[datetime] = mapped_column(index=True)
    sender: Mapped[str] = mapped_column(String(64))
    number: Mapped[str | None] = mapped_column(NUMBER)
    text: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(32))
    rating: Mapped[int | None] = mapped_column(Integer)
    gateway: Mapped[str] = mapped_column(String(16))
    gateway_message_id: Mapped[str | None] = mapped_column(String(80))


class OptOutRow(Base):
    """A number's survey consent: opted out (STOP) until it opts in again (START)."""

    __tablename__ = "survey_optouts"

    number: Mapped[str] = mapped_column(NUMBER, primary_key=True)
    opted_out: Mapped[bool]
    keyword: Mapped[str] = mapped_column(String(32))
    changed_at: Mapped[datetime]


class ContactRow(Base):
    """The survey that holds a number's "one per N days" slot; reserving it is one atomic update."""

    __tablename__ = "survey_contacts"

    number: Mapped[str] = mapped_column(NUMBER, primary_key=True)
    survey_id: Mapped[str] = mapped_column(ID)
    reserved_at: Mapped[datetime]


class PrefixCountRow(Base):
    """Surveys sent per number prefix per clock hour (the SMS-pumping cap)."""

    __tablename__ = "survey_prefix_counts"

    prefix: Mapped[str] = mapped_column(String(16), primary_key=True)
    hour: Mapped[datetime] = mapped_column(primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
