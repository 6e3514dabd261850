"""Typed data that travels through the survey domain."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class SurveyState(StrEnum):
    """Where one survey SMS is in its life (the outbox row's state machine, see README)."""

    SKIPPED = "skipped"  # policy decided not to send (reason kept)
    PENDING = "pending"  # waiting for due_at
    SENDING = "sending"  # claimed by one sender; the gateway call is in flight
    UNCERTAIN = "uncertain"  # the gateway may or may not have taken it: never resent, waits for evidence
    SENT = "sent"  # the gateway accepted it
    DELIVERED = "delivered"  # a delivery report or a reply proves it reached the phone
    FAILED = "failed"  # final: rejected, retries used up, expired or outcome unknown
    CANCELLED = "cancelled"  # the number opted out before it was sent


class SkipReason(StrEnum):
    """Why a survey was not scheduled or not sent."""

    DISABLED = "disabled"
    NOT_ELIGIBLE = "not-eligible"  # no agent and not a self-service outcome that is surveyed
    NO_NUMBER = "no-number"
    INVALID_NUMBER = "invalid-number"
    NOT_MOBILE = "not-mobile"
    COUNTRY_NOT_ALLOWED = "country-not-allowed"
    OPTED_OUT = "opted-out"
    RECENTLY_SURVEYED = "recently-surveyed"
    PREFIX_CAP = "prefix-cap"
    TOO_LATE = "too-late"  # quiet hours would push it past the expiry


class FailReason(StrEnum):
    """Why a survey ended in the failed state."""

    REJECTED = "rejected"  # the gateway said no for good (bad number...)
    RETRIES_EXHAUSTED = "retries-exhausted"
    EXPIRED = "expired"  # still unsent when the survey expired
    OUTCOME_UNKNOWN = "outcome-unknown"  # no answer and no delivery report: not resent (no duplicates)
    UNDELIVERABLE = "undeliverable"  # a delivery report said the phone never got it


class ReplyKind(StrEnum):
    """What an inbound SMS turned out to be."""

    RATING = "rating"  # a rating, perhaps with a comment
    COMMENT = "comment"  # text without a rating
    OPT_OUT = "opt-out"
    OPT_IN = "opt-in"
    EMPTY = "empty"  # nothing but whitespace


class UnmatchedReason(StrEnum):
    """Why an inbound SMS is not attached to any call."""

    INVALID_NUMBER = "invalid-number"
    UNKNOWN_NUMBER = "unknown-number"  # no survey was ever sent to it
    TOO_LATE = "too-late"  # a survey was sent, but longer ago than the reply window


class DeliveryStatus(StrEnum):
    """A delivery report's meaning, whatever the gateway's encoding."""

    ACCEPTED = "accepted"  # the SMSC took it (Kannel type 8 / 4)
    DELIVERED = "delivered"  # reached the handset (Kannel 1, SMPP DELIVRD)
    UNDELIVERABLE = "undeliverable"  # never will (Kannel 2, SMPP UNDELIV/EXPIRED/REJECTD)
    REJECTED = "rejected"  # the SMSC refused it (Kannel 16)


@dataclass(frozen=True)
class PhoneInfo:
    """A caller number that phonenumbers accepted."""

    e164: str
    region: str | None
    time_zones: tuple[str, ...]
    mobile_capable: bool


@dataclass(frozen=True)
class SurveyDecision:
    """The outcome of ``on_call_ended`` for one call (the same on every repeat of the event)."""

    survey_id: str
    call_id: str
    state: SurveyState
    reason: str | None
    due_at: datetime | None


@dataclass(frozen=True)
class OutboundSms:
    """One survey SMS handed to a gateway."""

    survey_id: str
    attempt: int
    to: str  # E.164
    sender: str
    text: str
    call_id: str


@dataclass(frozen=True)
class SendReceipt:
    """The gateway accepted an SMS."""

    gateway: str
    message_id: str | None  # the gateway's id when it gives one at submit time (SMPP)
    detail: str = ""


@dataclass(frozen=True)
class InboundSms:
    """An SMS from a phone, as a gateway delivered it (sender unchecked, text decoded)."""

    sender: str
    text: str
    gateway: str
    receiver: str = ""
    message_id: str | None = None  # gateway's id, used to drop redelivered copies


@dataclass(frozen=True)
class DeliveryReport:
    """A gateway's report on one sent survey, by our id or by the gateway's message id."""

    gateway: str
    status: DeliveryStatus
    survey_id: str | None = None
    message_id: str | None = None
    detail: str = ""


@dataclass(frozen=True)
class ReplyOutcome:
    """What ``handle_reply`` did with an inbound SMS."""

    reply_id: str
    kind: ReplyKind
    matched: bool
    survey_id: str | None = None
    call_id: str | None = None
    rating: int | None = None
    unmatched_reason: UnmatchedReason | None = None
    duplicate: bool = False


@dataclass(frozen=True)
class DispatchStats:
    """What one sender pass did."""

    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    uncertain: int = 0
    skipped: int = 0
    recovered: int = 0
