"""The gateway interface and the three ways a send can fail.

What matters for idempotency is whether the gateway *may* have taken the message:
- ``GatewayUnavailable``: it certainly did not (refused connection, 5xx, not bound, throttled) -> retry;
- ``GatewayRejected``: it certainly did not and never will (bad number, bad text) -> fail now;
- ``GatewayUncertain``: it may have (timeout after the request went out, connection lost mid-reply)
  -> never resent; a delivery report or a reply can still prove it arrived.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from surveys.model import DeliveryReport, InboundSms, OutboundSms, SendReceipt


class GatewayError(Exception):
    """A send did not succeed; the subclass says whether a retry could duplicate it."""


class GatewayUnavailable(GatewayError):
    """The gateway certainly did not take the message; retrying later is safe."""


class GatewayRejected(GatewayError):
    """The gateway refused the message for good."""


class GatewayUncertain(GatewayError):
    """The gateway may have taken the message; resending could duplicate it."""


@dataclass(frozen=True)
class InboundHandlers:
    """Where a gateway that receives over its own connection (SMPP) hands replies and reports."""

    on_reply: Callable[[InboundSms], Awaitable[object]]
    on_report: Callable[[DeliveryReport], Awaitable[object]]


class SmsGateway(Protocol):
    """One way of sending SMS."""

    name: str

    async def start(self, handlers: InboundHandlers) -> None:
        """Open connections; inbound traffic that arrives outside HTTP goes to ``handlers``."""
        ...

    async def close(self) -> None:
        """Close connections (idempotent)."""
        ...

    async def send(self, sms: OutboundSms) -> SendReceipt:
        """Hand one SMS over; raise a GatewayError subclass when it was not accepted."""
        ...

    async def healthy(self) -> bool:
        """A cheap check, without sending anything, that a send could succeed now."""
        ...
