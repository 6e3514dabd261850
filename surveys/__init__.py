"""Post-call SMS surveys: policy, outbox, gateways (log, Kannel, SMPP), replies and CSAT results."""

from surveys.api import make_router
from surveys.factory import build_survey_service
from surveys.model import (
    DeliveryReport,
    DeliveryStatus,
    InboundSms,
    ReplyOutcome,
    SurveyDecision,
    SurveyState,
)
from surveys.ports import CallEnded
from surveys.service import SurveyService

__all__ = [
    "CallEnded",
    "DeliveryReport",
    "DeliveryStatus",
    "InboundSms",
    "ReplyOutcome",
    "SurveyDecision",
    "SurveyService",
    "SurveyState",
    "build_survey_service",
    "make_router",
]
