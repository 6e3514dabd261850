"""The embedded default gateway: the survey stays in the outbox table and one log line; nothing leaves."""

from __future__ import annotations

import logging
from collections import deque

from surveys.gateways.base import InboundHandlers
from surveys.model import OutboundSms, SendReceipt
from surveys.phone import mask

log = logging.getLogger(__name__)


class LogGateway:
    """Accepts every SMS and logs it (number masked); keeps the last few for the demo and tests."""

    name = "log"

    def __init__(self, keep: int = 1000) -> None:
        self.sent: deque[OutboundSms] = deque(maxlen=keep)

    async def start(self, handlers: InboundHandlers) -> None:
        return None

    async def close(self) -> None:
        return None

    async def send(self, sms: OutboundSms) -> SendReceipt:
        self.sent.append(sms)
        log.info(
            "survey sms not sent (log gateway) call_id=%s survey_id=%s to=%s chars=%d",
            sms.call_id,
            sms.survey_id,
            mask(sms.to),
            len(sms.text),
        )
        return SendReceipt(gateway=self.name, message_id=f"log-{sms.survey_id}-{sms.attempt}")

    async def healthy(self) -> bool:
        return True
