"""FastAGI: a small asyncio server with a typed per-call session API (README.md: why not panoramisk)."""

from ivr.fastagi.environment import AgiEnvironment, parse_environment, split_script
from ivr.fastagi.errors import (
    AgiArgumentError,
    AgiCommandError,
    AgiError,
    AgiHangup,
    AgiProtocolError,
    AgiTimeout,
)
from ivr.fastagi.protocol import AgiReply
from ivr.fastagi.server import AgiHandler, AgiRoute, FastAgiServer, Router
from ivr.fastagi.session import AgiSession, DigitsResult, RecordResult, StreamResult

__all__ = [
    "AgiArgumentError",
    "AgiCommandError",
    "AgiEnvironment",
    "AgiError",
    "AgiHandler",
    "AgiHangup",
    "AgiProtocolError",
    "AgiReply",
    "AgiRoute",
    "AgiSession",
    "AgiTimeout",
    "DigitsResult",
    "FastAgiServer",
    "RecordResult",
    "Router",
    "StreamResult",
    "parse_environment",
    "split_script",
]
