"""The hold-loop AGI route (``agi://controller/acd/hold``): position and wait announcements, callback key.

The hold context plays music for ``SB_ANNOUNCE_EVERY`` seconds, calls this route, and loops; when the caller
takes a callback, the route sets ``SB_HOLD_ACTION=callback`` and the context hangs up (the caller keeps
their place in the queue). If the controller cannot be reached, the AGI fails and the loop simply goes on.
Prompts are Asterisk's own queue sounds (``queue-thereare``...) plus two configurable ones.
"""

from __future__ import annotations

import logging
import math
from typing import Protocol

from acd.ports import LiveChannel
from acd.service import AcdService
from ivr.fastagi.errors import AgiError, AgiHangup
from switchboard.settings import AcdSettings

log = logging.getLogger(__name__)


class HoldSession(Protocol):
    """The part of ivr.fastagi.session.AgiSession the hold loop uses."""

    @property
    def env(self) -> object: ...
    async def stream_file(self, filename: str, escape_digits: str = "") -> object: ...
    async def say_digits(self, digits: str, escape_digits: str = "") -> str | None: ...
    async def wait_for_digit(self, timeout_ms: int) -> str | None: ...
    async def set_variable(self, name: str, value: str) -> None: ...
    async def exec(self, application: str, args: str = "") -> int: ...


class HoldRoute:
    """AGI handler for callers waiting in the hold context."""

    def __init__(self, service: AcdService, settings: AcdSettings | None = None) -> None:
        self.service = service
        self.settings = settings or service.settings

    async def __call__(self, session: HoldSession) -> None:
        env = session.env
        uniqueid = str(getattr(env, "uniqueid", ""))
        channel = str(getattr(env, "channel", ""))
        try:
            await self._run(session, channel, uniqueid, str(getattr(env, "callerid", "")))
        except AgiHangup:
            log.debug("hold announcement cut short (hung up or redirected) channel=%s", channel)
        except AgiError as exc:
            log.warning("hold announcement failed channel=%s error=%s", channel, exc)

    async def _run(self, session: HoldSession, channel: str, uniqueid: str, caller: str) -> None:
        call = await self.service.call_for_channel(uniqueid)
        if call is None:
            # A caller on hold the ACD does not know (the IVR could not reach us): adopt it now.
            call_id = await self.service.adopt_channel(
                LiveChannel(channel, uniqueid, self.settings.hold_context, caller_number=caller)
            )
            if call_id is None:
                return
            call = await self.service.call_for_channel(uniqueid)
            if call is None:
                return
        info = await self.service.hold_info(call.call_id)
        if info is None:
            return
        await session.set_variable("SB_ANNOUNCE_EVERY", str(info.announce_every_seconds))
        key = self.settings.callback_key if info.callback_offered else ""
        digit = await self._announce(session, info.position, info.estimated_wait_seconds, key)
        if info.callback_offered and digit is None:
            res = await session.stream_file(self.settings.callback_offer_prompt, key)
            digit = getattr(res, "digit", None) or await session.wait_for_digit(3000)
        if key and digit == key and await self.service.request_callback(call.call_id):
            await session.stream_file(self.settings.callback_confirm_prompt)
            await session.set_variable("SB_HOLD_ACTION", "callback")
            log.info("caller took a callback call_id=%s", call.call_id)

    async def _announce(self, session: HoldSession, position: int, ewt: float, key: str) -> str | None:
        """Position, then estimated wait; returns a key pressed meanwhile (None when none)."""
        if position == 1:
            digit = _digit(await session.stream_file("queue-youarenext", key))
        else:
            digit = _digit(await session.stream_file("queue-thereare", key))
            digit = digit or await self._number(session, position, key)
            digit = digit or _digit(await session.stream_file("queue-callswaiting", key))
        if digit or not math.isfinite(ewt):
            return digit
        minutes = max(1, math.ceil(ewt / 60))
        digit = _digit(await session.stream_file("queue-holdtime", key))
        if ewt < 60:
            digit = digit or _digit(await session.stream_file("queue-less-than", key))
        digit = digit or await self._number(session, minutes, key)
        return digit or _digit(await session.stream_file("queue-minutes", key))

    async def _number(self, session: HoldSession, n: int, key: str) -> str | None:
        if n < 10:
            return await session.say_digits(str(n), key) or None
        await session.exec("SayNumber", str(n))
        return None


def _digit(result: object) -> str | None:
    return getattr(result, "digit", None) or None
