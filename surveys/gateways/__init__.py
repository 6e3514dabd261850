"""SMS gateways behind one interface: log (embedded default), Kannel (HTTP) and SMPP."""

from surveys.gateways.base import (
    GatewayError,
    GatewayRejected,
    GatewayUnavailable,
    GatewayUncertain,
    InboundHandlers,
    SmsGateway,
)

__all__ = [
    "GatewayError",
    "GatewayRejected",
    "GatewayUnavailable",
    "GatewayUncertain",
    "InboundHandlers",
    "SmsGateway",
]
