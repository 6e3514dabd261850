"""The ACD's own exceptions; adapters translate library errors into these at one boundary."""

from __future__ import annotations


class AcdError(Exception):
    """Base of every ACD error."""


class AcdValidationError(AcdError, ValueError):
    """Bad input (config, import file, API body): the message names the field and the problem."""


class UnknownQueueError(AcdError):
    """A queue name that is not configured."""


class UnknownAgentError(AcdError):
    """An agent id that is not configured."""


class AgentUnavailableError(AcdError):
    """The agent cannot take this state now (e.g. ready while the softphone is unregistered)."""


class InvalidTransitionError(AcdError):
    """An agent state change the life cycle does not allow."""


class StoreError(AcdError):
    """Redis failed or answered something unexpected."""


class PortError(AcdError):
    """An Asterisk action failed (connection lost, timeout, error response)."""


class ChannelGoneError(PortError):
    """The channel no longer exists (golden: 'Channel does not exist', 'No such channel')."""
