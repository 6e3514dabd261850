"""Reply -> typed result mapping of every session method, driven through the AgiWire seam without sockets."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from ivr.fastagi import (
    AgiCommandError,
    AgiEnvironment,
    AgiHangup,
    AgiProtocolError,
    AgiSession,
    DigitsResult,
    RecordResult,
    StreamResult,
)
from ivr.fastagi.protocol import AgiReply, ReplyAssembler


class ScriptedWire:
    """Answers each command with the given reply lines (as the connection would assemble them)."""

    def __init__(self, *lines: str, hung_up: bool = False) -> None:
        self.lines = list(lines)
        self.sent: list[bytes] = []
        self.hung_up = hung_up
        self.closed = False

    async def request(self, data: bytes) -> AgiReply:
        self.sent.append(data)
        assembler = ReplyAssembler()
        while True:
            line = self.lines.pop(0)
            if line == "HANGUP":
                self.hung_up = True
                continue
            reply = assembler.feed(line)
            if reply is not None:
                return reply


def session_with(*lines: str, hung_up: bool = False) -> tuple[AgiSession, ScriptedWire]:
    wire = ScriptedWire(*lines, hung_up=hung_up)
    return AgiSession(AgiEnvironment(), "call-1", wire), wire


Call = Callable[[AgiSession], Awaitable[Any]]

CASES: list[tuple[str, Call, str, Any]] = [
    ("stream digit", lambda s: s.stream_file("menu", "12"), "200 result=50 endpos=800",
     StreamResult("2", 800, True)),
    ("stream missing file", lambda s: s.stream_file("nope"), "200 result=-1 endpos=0",
     StreamResult(None, 0, False)),
    ("get data partial timeout", lambda s: s.get_data("p", 3000, 6), "200 result=12 (timeout)",
     DigitsResult("12", True)),
    ("get data star", lambda s: s.get_data("p", 3000, 6), "200 result=*9", DigitsResult("*9", False)),
    ("wait timeout", lambda s: s.wait_for_digit(100), "200 result=0", None),
    ("wait star", lambda s: s.wait_for_digit(100), "200 result=42", "*"),
    ("say digits interrupted", lambda s: s.say_digits("5551234", "#"), "200 result=35", "#"),
    ("record dtmf", lambda s: s.record_file("/tmp/r", escape_digits="#*"), "200 result=35 (dtmf) endpos=1200",
     RecordResult("#", 1200, False)),
    ("record digit during beep", lambda s: s.record_file("/tmp/r", beep=True),
     "200 result=35 (randomerror) endpos=0", RecordResult("#", 0, False)),
    ("variable empty", lambda s: s.get_variable("EMPTY"), "200 result=1 ()", ""),
    ("variable with parens", lambda s: s.get_variable("X"), "200 result=1 (a (b))", "a (b)"),
    ("full variable unset", lambda s: s.get_full_variable("${NOPE}"), "200 result=0", None),
    ("exec result", lambda s: s.exec("Dial", "PJSIP/101,30"), "200 result=0", 0),
    ("exec unknown", lambda s: s.exec("Nope"), "200 result=-2", -2),
    ("channel status", lambda s: s.channel_status(), "200 result=4", 4),
]


@pytest.mark.parametrize(("name", "call", "line", "expected"), CASES, ids=[c[0] for c in CASES])
async def test_replies_map_to_typed_results(name, call, line, expected):
    session, _wire = session_with(line)
    assert await call(session) == expected


@pytest.mark.parametrize(
    ("call", "lines", "error"),
    [
        (lambda s: s.answer(), ["200 result=-1"], AgiHangup),
        (lambda s: s.stream_file("menu"), ["200 result=-1 endpos=4000"], AgiHangup),
        (lambda s: s.stream_file("menu"), ["HANGUP", "200 result=-1 endpos=0"], AgiHangup),
        (lambda s: s.get_data("p", 1000, 4), ["200 result=-1"], AgiHangup),
        (lambda s: s.say_digits("1"), ["200 result=-1"], AgiHangup),
        (lambda s: s.record_file("/tmp/r"), ["200 result=-1 (hangup) endpos=300"], AgiHangup),
        (lambda s: s.record_file("/tmp/r"), ["200 result=-1 (writefile)"], AgiCommandError),
        (lambda s: s.exec("Playback", "x"), ["HANGUP", "200 result=-1"], AgiHangup),
        (lambda s: s.noop(), ["511 Command Not Permitted on a dead channel or intercept routine"], AgiHangup),
        (lambda s: s.noop(), ["599 Something new"], AgiCommandError),
        (lambda s: s.wait_for_digit(1), ["200 result=abc"], AgiProtocolError),
        (lambda s: s.channel_status(), ["200 result="], AgiProtocolError),
    ],
)
async def test_failures_raise_the_right_error(call, lines, error):
    session, _wire = session_with(*lines)
    with pytest.raises(error):
        await call(session)


async def test_exec_minus_one_before_hangup_is_returned_to_the_caller():
    session, _wire = session_with("200 result=-1")
    assert await session.exec("Playback", "x") == -1


async def test_record_file_writes_beep_and_silence_in_asterisk_order():
    session, wire = session_with("200 result=0 (timeout) endpos=8000")
    await session.record_file("/tmp/rec 1", "wav", "#", 5000, offset=0, beep=True, silence_s=3)
    assert wire.sent == [b'RECORD FILE "/tmp/rec 1" wav "#" 5000 0 BEEP s=3\n']


async def test_hangup_tolerates_a_dead_channel_and_a_closed_connection():
    session, wire = session_with("511 Command Not Permitted on a dead channel or intercept routine")
    await session.hangup()
    assert wire.sent == [b"HANGUP\n"]
    wire.closed = True
    await session.hangup()  # nothing sent, no error
    assert wire.sent == [b"HANGUP\n"]
