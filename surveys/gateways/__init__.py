"""SMS gateways behind one interface: log (embedded default), Kannel (HTTP) and SMPP."""

from surveys.gateways.base import (
    GatewayError,
    GatewayRejected,
    GatewayUncertain,
    GatewayUnavailable,
    InboundHandlers,
    SmsGateway,
)

__all__ = [
    "GatewayError",
    "GatewayRejected",
    "GatewayUncertain",
    "GatewayUnavailable",
    "InboundHandlers",
    "SmsGateway",
]
