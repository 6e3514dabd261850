"""The FastAGI layer's exceptions: everything a handler may see from a session is an ``AgiError``."""

from __future__ import annotations


class AgiError(Exception):
    """Base of every FastAGI error."""


class AgiHangup(AgiError):
    """The caller hung up: a command failed after hang-up (``result=-1`` on a media command, or ``511``)."""


class AgiCommandError(AgiError):
    """Asterisk refused or failed a command: 510, 520 (usage text in ``usage``) or an unexpected code."""

    def __init__(self, message: str, *, code: int, usage: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.usage = usage


class AgiProtocolError(AgiError):
    """The peer broke the protocol: malformed reply or environment, oversize line, or connection lost."""


class AgiTimeout(AgiError):
    """No reply within the command timeout (the late reply, if any, is discarded when it arrives)."""


class AgiArgumentError(AgiError, ValueError):
    """A command that cannot be written safely: bad variable name or digits, or a line too long."""
