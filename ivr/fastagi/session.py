"""The typed per-call API a FastAGI handler uses: one method per AGI command, typed results, typed errors."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from ivr.fastagi.environment import AgiEnvironment
from ivr.fastagi.errors import AgiArgumentError, AgiCommandError, AgiHangup, AgiProtocolError
from ivr.fastagi.protocol import AgiReply, check_variable_name, encode_command, token_arg, value_arg

_APPLICATION = re.compile(r"[A-Za-z0-9_]{1,64}")
_SAY_DIGITS = re.compile(r"[0-9]{1,256}")

_ANSWER = b"ANSWER\n"
_NOOP = b"NOOP\n"
_HANGUP = b"HANGUP\n"
_CHANNEL_STATUS = b"CHANNEL STATUS\n"


@dataclass(frozen=True)
class StreamResult:
    """STREAM FILE outcome; ``played`` is False when Asterisk could not open the file (result=-1 endpos=0)."""

    digit: str | None
    endpos: int
    played: bool


@dataclass(frozen=True)
class DigitsResult:
    """GET DATA outcome: the digits (without the terminating ``#``) and whether input ended by timeout."""

    digits: str
    timed_out: bool


@dataclass(frozen=True)
class RecordResult:
    """RECORD FILE outcome: the escape digit that ended it, the end position, whether it ended by timeout."""

    digit: str | None
    endpos: int
    timed_out: bool


class AgiWire(Protocol):
    """What a session needs from its connection (implemented by the server's connection)."""

    @property
    def hung_up(self) -> bool: ...

    @property
    def closed(self) -> bool: ...

    async def request(self, data: bytes) -> AgiReply: ...


class AgiSession:
    """One call's FastAGI conversation: one command at a time; failures after hang-up raise AgiHangup."""

    def __init__(self, env: AgiEnvironment, call_id: str, wire: AgiWire) -> None:
        self.env = env
        self.call_id = call_id
        self._wire = wire

    @property
    def hung_up(self) -> bool:
        """True once Asterisk sent its asynchronous ``HANGUP`` line."""
        return self._wire.hung_up

    @property
    def closed(self) -> bool:
        """True once the connection to Asterisk is gone."""
        return self._wire.closed

    async def send_command(self, line: str) -> AgiReply:
        """Escape hatch: send ``line`` verbatim (the caller quotes) and return the 200 reply."""
        return await self._send(encode_command(line))

    async def _send(self, data: bytes) -> AgiReply:
        reply = await self._wire.request(data)
        code = reply.code
        if code == 200:
            return reply
        if code == 511:
            raise AgiHangup(f"command refused on a dead channel: {reply.line}")
        if code == 510:
            raise AgiCommandError(f"invalid or unknown command: {reply.line}", code=code)
        if code == 520:
            raise AgiCommandError(f"invalid command syntax: {reply.line}", code=code, usage=reply.usage)
        raise AgiCommandError(f"unexpected AGI reply: {reply.line}", code=code)

    async def _send_int(self, data: bytes) -> int:
        reply = await self._send(data)
        value = reply.result_int()
        if value is None:
            raise AgiProtocolError(f"non-numeric result in {reply.line[:120]!r}")
        return value

    async def _media(self, data: bytes, what: str) -> AgiReply:
        """A command whose ``result=-1`` means the channel hung up during it."""
        reply = await self._send(data)
        if reply.result == "-1":
            raise AgiHangup(f"{what} failed: caller hung up")
        return reply

    async def answer(self) -> None:
        """Answer the channel (no-op if already up)."""
        await self._media(_ANSWER, "ANSWER")

    async def stream_file(self, filename: str, escape_digits: str = "") -> StreamResult:
        """Play a sound file; returns the escape digit pressed, if any."""
        data = encode_command("STREAM", "FILE", token_arg(filename), value_arg(escape_digits))
        reply = await self._send(data)
        result = _int_result(reply)
        endpos = reply.endpos or 0
        if result == -1:
            # -1 with endpos=0 is a missing file; a hang-up mid-file reports where playback stopped.
            if endpos > 0 or self.hung_up:
                raise AgiHangup("STREAM FILE interrupted: caller hung up")
            return StreamResult(digit=None, endpos=0, played=False)
        return StreamResult(digit=_digit(result), endpos=endpos, played=True)

    async def get_data(self, filename: str, timeout_ms: int, max_digits: int) -> DigitsResult:
        """Play a prompt and collect up to ``max_digits`` DTMF digits (``#`` ends input early)."""
        data = encode_command("GET", "DATA", token_arg(filename), str(int(timeout_ms)), str(int(max_digits)))
        reply = await self._media(data, "GET DATA")
        return DigitsResult(digits=reply.result, timed_out=reply.data == "timeout")

    async def wait_for_digit(self, timeout_ms: int) -> str | None:
        """Wait for one DTMF digit; None on timeout."""
        data = encode_command("WAIT", "FOR", "DIGIT", str(int(timeout_ms)))
        reply = await self._media(data, "WAIT FOR DIGIT")
        return _digit(_int_result(reply))

    async def say_digits(self, digits: str, escape_digits: str = "") -> str | None:
        """Say ``digits`` one by one; returns the escape digit pressed, if any."""
        if not _SAY_DIGITS.fullmatch(digits):
            raise AgiArgumentError(f"SAY DIGITS needs decimal digits, got {digits[:40]!r}")
        data = encode_command("SAY", "DIGITS", digits, value_arg(escape_digits))
        reply = await self._media(data, "SAY DIGITS")
        return _digit(_int_result(reply))

    async def record_file(
        self, filename: str, fmt: str = "wav", escape_digits: str = "#", timeout_ms: int = 10000,
        offset: int = 0, beep: bool = False, silence_s: int | None = None,
    ) -> RecordResult:
        """Record the caller to ``filename.fmt`` until an escape digit, the timeout or silence."""
        words = ["RECORD", "FILE", token_arg(filename), token_arg(fmt), value_arg(escape_digits),
                 str(int(timeout_ms)), str(int(offset))]  # fmt: skip
        if beep:
            words.append("BEEP")
        if silence_s is not None:
            words.append(f"s={int(silence_s)}")
        reply = await self._send(encode_command(*words))
        result = _int_result(reply)
        if result < 0:
            if reply.data in ("hangup", "waitfor", None) or self.hung_up:
                raise AgiHangup("RECORD FILE interrupted: caller hung up")
            raise AgiCommandError(f"RECORD FILE failed ({reply.data}): {reply.line}", code=reply.code)
        return RecordResult(digit=_digit(result), endpos=reply.endpos or 0, timed_out=reply.data == "timeout")

    async def set_variable(self, name: str, value: str) -> None:
        """Set a channel variable; the value is written literally (quoted, control characters blanked)."""
        name = token_arg(check_variable_name(name))
        await self._send(encode_command("SET", "VARIABLE", name, value_arg(value)))

    async def get_variable(self, name: str) -> str | None:
        """A channel variable or function value (``CALLERID(num)``); None when unset."""
        reply = await self._send(encode_command("GET", "VARIABLE", token_arg(check_variable_name(name))))
        return _variable(reply)

    async def get_full_variable(self, expression: str) -> str | None:
        """Evaluate a dialplan expression such as ``${SB_TEST}``; never build it from caller input."""
        reply = await self._send(encode_command("GET", "FULL", "VARIABLE", token_arg(expression)))
        return _variable(reply)

    async def exec(self, application: str, args: str = "") -> int:
        """Run a dialplan application; returns its result (``-2``: no such application)."""
        if not _APPLICATION.fullmatch(application):
            raise AgiArgumentError(f"invalid application name {application[:80]!r}")
        words = ("EXEC", application, value_arg(args)) if args else ("EXEC", application)
        result = await self._send_int(encode_command(*words))
        if result == -1 and self.hung_up:
            raise AgiHangup(f"EXEC {application} failed: caller hung up")
        return result

    async def verbose(self, message: str, level: int = 1) -> None:
        """Write ``message`` to Asterisk's verbose log."""
        await self._send(encode_command("VERBOSE", value_arg(message), str(int(level))))

    async def channel_status(self) -> int:
        """The channel state (6 = up)."""
        return await self._send_int(_CHANNEL_STATUS)

    async def noop(self) -> None:
        """Do nothing (a cheap liveness check)."""
        await self._send(_NOOP)

    async def hangup(self) -> None:
        """Hang the channel up; tolerates a channel or connection that is already gone."""
        if self._wire.closed:
            return
        try:
            await self._send(_HANGUP)
        except AgiHangup:
            pass
        except AgiProtocolError:
            if not self._wire.closed:
                raise


def _int_result(reply: AgiReply) -> int:
    value = reply.result_int()
    if value is None:
        raise AgiProtocolError(f"non-numeric result in {reply.line[:120]!r}")
    return value


def _digit(code: int) -> str | None:
    if code <= 0:
        return None
    if code > 0x10FFFF:
        raise AgiProtocolError(f"digit code {code} out of range")
    return chr(code)


def _variable(reply: AgiReply) -> str | None:
    if reply.result == "1":
        return reply.data if reply.data is not None else ""
    return None
