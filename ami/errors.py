"""The AMI client's own exceptions: every panoramisk/asyncio/OS error is translated into one of these."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ami.events import AmiResponse


class AmiError(Exception):
    """Base of every AMI client error."""


class AmiConnectionError(AmiError):
    """No usable connection: refused, timed out, not an AMI server, lost, or the client is closed."""


class AmiAuthError(AmiError):
    """Asterisk refused the login (wrong user or secret, or an ACL)."""


class AmiTimeout(AmiError):
    """No response within the action timeout (or not ready within ``wait_ready``'s timeout)."""


class AmiActionError(AmiError):
    """Asterisk answered an action with ``Response: Error`` (or another failure status)."""

    def __init__(self, action: str, response: AmiResponse) -> None:
        self.action = action
        self.response = response
        super().__init__(f"AMI action {action} failed: {response.message or response.status}")

    @property
    def message(self) -> str:
        """Asterisk's ``Message:`` text, e.g. ``No such channel``."""
        return self.response.message
