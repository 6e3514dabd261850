"""Typed helpers for the actions the controller sends, on top of ``AmiClient.action``."""

from __future__ import annotations

from collections.abc import Mapping

from ami.events import AmiEvent, AmiResponse, CoreShowChannel


class AmiActions:
    """Mixin: Redirect, Hangup, Setvar, Getvar, Originate and CoreShowChannels as typed methods."""

    async def action(
        self,
        name: str,
        fields: Mapping[str, str] | None = None,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 (measured on the injected Clock)
        variables: Mapping[str, str] | None = None,
    ) -> AmiResponse:
        """Send an action (implemented by AmiClient)."""
        raise NotImplementedError

    async def _action(
        self,
        name: str,
        fields: Mapping[str, str] | None = None,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 (measured on the injected Clock)
        variables: Mapping[str, str] | None = None,
        action_id: str | None = None,
    ) -> AmiResponse:
        raise NotImplementedError

    async def redirect(self, channel: str, context: str, exten: str, priority: int = 1) -> AmiResponse:
        """Send a channel (and only it) to ``context,exten,priority``."""
        return await self.action(
            "Redirect", {"Channel": channel, "Context": context, "Exten": exten, "Priority": str(priority)}
        )

    async def hangup(self, channel: str, cause: int | None = None) -> AmiResponse:
        """Hang up a channel (AmiActionError ``No such channel`` when it is already gone)."""
        fields = {"Channel": channel}
        if cause is not None:
            fields["Cause"] = str(cause)
        return await self.action("Hangup", fields)

    async def setvar(self, channel: str | None, variable: str, value: str) -> AmiResponse:
        """Set a channel variable (a global one when ``channel`` is None)."""
        fields = {"Variable": variable, "Value": value}
        if channel is not None:
            fields = {"Channel": channel, **fields}
        return await self.action("Setvar", fields)

    async def getvar(self, channel: str | None, variable: str) -> str | None:
        """A variable's value; None when Asterisk returns it empty (AMI cannot tell unset from empty)."""
        fields = {"Variable": variable}
        if channel is not None:
            fields = {"Channel": channel, **fields}
        response = await self.action("Getvar", fields)
        return response.fields.get("Value") or None

    async def originate(
        self,
        *,
        channel: str,
        context: str,
        exten: str,
        priority: int = 1,
        caller_id: str | None = None,
        timeout_ms: int | None = None,
        variables: Mapping[str, str] | None = None,
        action_id: str | None = None,
    ) -> AmiResponse:
        """Queue an ``Async: true`` Originate; its OriginateResponse (same ActionID) reaches subscriptions."""
        fields = {"Channel": channel, "Context": context, "Exten": exten, "Priority": str(priority)}
        if caller_id is not None:
            fields["CallerID"] = caller_id
        if timeout_ms is not None:
            fields["Timeout"] = str(timeout_ms)
        fields["Async"] = "true"
        return await self._action("Originate", fields, variables=variables, action_id=action_id)

    async def core_show_channels(self) -> list[AmiEvent]:
        """The live channels as CoreShowChannel events."""
        response = await self.action("CoreShowChannels")
        return [event for event in response.events if isinstance(event, CoreShowChannel)]
