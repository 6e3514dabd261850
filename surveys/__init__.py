"""Post-call SMS surveys: policy, outbox, gateways (log, Kannel, SMPP), replies and CSAT results.

Names are imported lazily, so that importing ``surveys.tables`` (Alembic, the table registry) does not
pull in FastAPI, httpx or aiosmpplib.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_WHERE = {
    "CallEnded": "surveys.ports",
    "DeliveryReport": "surveys.model",
    "DeliveryStatus": "surveys.model",
    "InboundSms": "surveys.model",
    "ReplyOutcome": "surveys.model",
    "SurveyDecision": "surveys.model",
    "SurveyState": "surveys.model",
    "SurveyService": "surveys.service",
    "build_survey_service": "surveys.factory",
    "make_router": "surveys.api",
}

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


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'surveys' has no attribute {name!r}")
