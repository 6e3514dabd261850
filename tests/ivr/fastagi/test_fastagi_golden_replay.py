"""Replays the real Asterisk 22 AGI transcripts against our server, byte for byte.

A scripted Asterisk (raw TCP) sends the captured environment, then for each ``>>>`` line checks that the
server wrote exactly those bytes and answers with the captured ``<<<`` lines (HANGUP included, each line a
separate write). The server side runs a flow written against the typed session API.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest

from ivr.fastagi import (
    AgiCommandError,
    AgiHangup,
    AgiSession,
    DigitsResult,
    RecordResult,
    StreamResult,
)

_LINE = re.compile(r"^\s*[0-9.]+ (<<<|>>>) (.*)$")


def load_transcript(path: Path) -> tuple[bytes, list[tuple[bytes, list[bytes]]]]:
    """(environment bytes, [(command bytes, [reply line bytes...])...])."""
    env = b""
    exchanges: list[tuple[bytes, list[bytes]]] = []
    for text in path.read_text().splitlines():
        match = _LINE.match(text)
        assert match, f"unparsable transcript line {text!r}"
        direction, literal = match.groups()
        data = bytes(literal, "ascii").decode("unicode_escape").encode("latin-1")
        if direction == ">>>":
            exchanges.append((data, []))
        elif exchanges:
            exchanges[-1][1].append(data)
        else:
            env += data
    return env, exchanges


async def replay(port: int, env: bytes, exchanges: list[tuple[bytes, list[bytes]]]) -> bytes:
    """Play Asterisk's side; returns whatever the server wrote after the last exchange (before closing)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(env)
        for expected, replies in exchanges:
            line = await asyncio.wait_for(reader.readline(), 5)
            assert line == expected
            for reply in replies:
                writer.write(reply)
                await writer.drain()
                await asyncio.sleep(0)
        return await asyncio.wait_for(reader.read(), 5)
    finally:
        writer.close()


async def ivr_basic_flow(session: AgiSession) -> dict[str, Any]:
    """The flow the golden ivr-basic capture ran, through the typed API."""
    out: dict[str, Any] = {"env": session.env}
    await session.answer()
    out["callerid"] = await session.get_variable("CALLERID(num)")
    await session.set_variable("SB_TEST", "hello world")
    out["full"] = await session.get_full_variable("${SB_TEST}")
    out["unset"] = await session.get_variable("NO_SUCH_VAR")
    await session.verbose("switchboard capture", 1)
    out["status"] = await session.channel_status()
    out["beep"] = await session.stream_file("beep")
    out["missing"] = await session.stream_file("no-such-sound-file")
    out["digit"] = await session.wait_for_digit(6000)
    out["data"] = await session.get_data("beep", 6000, 4)
    out["say"] = await session.say_digits("123")
    out["record"] = await session.record_file(
        "/var/spool/asterisk/tmp/sb-golden-rec", "wav", "#", 4000, silence_s=2
    )
    out["exec_ok"] = await session.exec("Playback", "beep")
    out["exec_missing"] = await session.exec("NoSuchApplication", "foo")
    await session.noop()
    with pytest.raises(AgiCommandError) as bogus:
        await session.send_command("BOGUS COMMAND")
    out["bogus"] = bogus.value
    with pytest.raises(AgiCommandError) as usage:
        await session.send_command("GET DATA")
    out["usage"] = usage.value
    out["hung_up_before"] = session.hung_up
    with pytest.raises(AgiHangup):
        await session.wait_for_digit(8000)
    out["callerid_after_hangup"] = await session.get_variable("CALLERID(num)")
    out["hung_up_after"] = session.hung_up
    await session.hangup()  # 511: already dead, tolerated
    return out


@pytest.mark.parametrize(
    ("name", "callerid", "data", "record"),
    [
        ("ivr-basic", "+15551230001", DigitsResult("42", False), RecordResult(None, 9541, True)),
        ("sip-caller", "+15557770001", DigitsResult("", True), RecordResult(None, 0, True)),
    ],
)
async def test_ivr_basic_flow_replays_golden_bytes_and_types_results(
    golden_dir, start_server, recorder, name, callerid, data, record
):
    env, exchanges = load_transcript(golden_dir / "agi" / f"{name}.agi.txt")
    flow = recorder(ivr_basic_flow)
    server = await start_server(lambda e: flow if e.route == "ivr-basic" else None)

    trailing = await replay(server.port, env, exchanges)
    out = await flow.wait()

    assert flow.error is None
    assert trailing == b""  # closed cleanly: no FAILURE line, AGISTATUS stays SUCCESS
    assert out["env"].network_script == "ivr-basic"
    assert out["env"].callerid == callerid
    assert out["callerid"] == callerid
    assert out["full"] == "hello world"
    assert out["unset"] is None
    assert out["status"] == 6
    assert out["beep"] == StreamResult(digit=None, endpos=3404, played=True)
    assert out["missing"] == StreamResult(digit=None, endpos=0, played=False)
    assert out["digit"] == "1"
    assert out["data"] == data
    assert out["say"] is None
    assert out["record"] == record
    assert out["exec_ok"] == 0
    assert out["exec_missing"] == -2
    assert out["bogus"].code == 510
    assert out["usage"].code == 520
    assert out["usage"].usage == (
        "Stream the given <replaceable>file</replaceable>, and receive DTMF data.\n"
        "Returns the digits received from the channel at the other end."
    )
    assert out["hung_up_before"] is False
    assert out["callerid_after_hangup"] == callerid
    assert out["hung_up_after"] is True


async def test_hangup_during_wait_then_stream_gets_511_as_agi_hangup(golden_dir, start_server, recorder):
    env, exchanges = load_transcript(golden_dir / "agi" / "ivr-hangup.agi.txt")

    async def flow(session: AgiSession) -> dict[str, Any]:
        out: dict[str, Any] = {}
        await session.answer()
        with pytest.raises(AgiHangup):
            await session.wait_for_digit(10000)
        out["hung_up_after_wait"] = session.hung_up  # the HANGUP line has not arrived yet
        with pytest.raises(AgiHangup) as refused:
            await session.stream_file("beep")
        out["refused"] = str(refused.value)
        out["hung_up"] = session.hung_up
        await session.hangup()
        return out

    handler = recorder(flow)
    server = await start_server(lambda e: handler)
    trailing = await replay(server.port, env, exchanges)
    out = await handler.wait()

    assert handler.error is None
    assert trailing == b""
    assert out["hung_up_after_wait"] is False
    assert "dead channel" in out["refused"]
    assert out["hung_up"] is True


async def test_ivr_to_hold_sets_queue_variables_with_golden_quoting(golden_dir, start_server, recorder):
    env, exchanges = load_transcript(golden_dir / "agi" / "ivr-to-hold.agi.txt")

    async def flow(session: AgiSession) -> str:
        await session.answer()
        await session.set_variable("SB_CALL_ID", "golden-0001")
        await session.set_variable("SB_SKILL", "billing")
        return session.env.route

    handler = recorder(flow)
    server = await start_server(lambda e: handler if e.route == "ivr-to-hold" else None)
    trailing = await replay(server.port, env, exchanges)

    assert await handler.wait() == "ivr-to-hold"
    assert handler.error is None
    assert trailing == b""
