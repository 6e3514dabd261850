"""The IVR's callback node reaches the ACD: a callback request becomes a waiting call with no channel.

The request keeps the caller's queue, skill, region, priority, language and VIP flag; when an agent is
assigned, the ACD places the call with AMI Originate to the number (AcdService.on_assigned). The number
ends up in a dial string, so it is checked here even though the IVR normalised it: E.164 only.
The flow variables stay in the IVR's record of the call, under the same call id, as for queued callers.
"""

from __future__ import annotations

import logging
import re

from acd.errors import AcdValidationError
from acd.service import AcdService
from ivr.ports import CallbackRequest, QueueRequest

log = logging.getLogger(__name__)

# E.164: a plus, a country code that does not start with 0, at most 15 digits in all.
E164_RE = re.compile(r"\+[1-9][0-9]{2,14}")


class CallbackNumberError(AcdValidationError):
    """The number to call back is not an E.164 number (nothing was queued)."""


def check_callback_number(number: object) -> str:
    """``number`` when it is E.164 (``+`` and 3-15 digits); CallbackNumberError otherwise."""
    if not isinstance(number, str) or not E164_RE.fullmatch(number):
        raise CallbackNumberError(
            "callback number must be E.164 ('+' then 3 to 15 digits, no other characters)"
        )
    return number


class IvrCallbacks:
    """ivr.ports.CallbackPort backed by the ACD (idempotent on the request's call id)."""

    def __init__(self, acd: AcdService) -> None:
        self.acd = acd

    async def request_callback(self, request: CallbackRequest) -> None:
        """Queue the callback; a retried request is accepted and changes nothing."""
        try:
            number = check_callback_number(request.number)
        except CallbackNumberError:
            # The number itself is not logged: it may carry line breaks or worse.
            log.warning("callback refused: number not E.164 call_id=%s", request.call_id[:64])
            raise
        queued = QueueRequest(
            call_id=request.call_id, channel="", uniqueid="", caller_number=number,
            caller_name=request.caller_name, queue=request.queue, skill=request.skill, region=request.region,
            priority=request.priority, language=request.language, vip=request.vip,
            reason=f"callback:{request.reason}", variables=request.variables,
        )  # fmt: skip
        # The wait counts from the request, as it would have for a caller who stayed on hold.
        call_id = await self.acd.enqueue_call(
            queued, enqueued_at=request.requested_at, callback_number=number
        )
        if call_id is None:
            log.info("callback request already taken call_id=%s", request.call_id[:64])
            return
        log.info("callback queued call_id=%s requested_queue=%s", call_id, request.queue)
