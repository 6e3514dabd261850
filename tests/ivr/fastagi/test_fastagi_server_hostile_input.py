"""Hostile or broken peers: each case gets a clear log line, and the server keeps serving other calls."""

from __future__ import annotations

import asyncio
import logging

from ivr.fastagi import AgiProtocolError, AgiSession
from ivr.fastagi.protocol import parse_agi_args
from sim.agi_client import FastAgiClient


async def _ok_reply(command: str) -> str:
    return "200 result=1\n" if command.startswith("SET") else "200 result=0\n"


async def _complete_one_call(port: int, env: dict[str, str]) -> FastAgiClient:
    client = FastAgiClient("127.0.0.1", port, env, _ok_reply)
    await asyncio.wait_for(client.run(), 5)
    return client


async def _noop_flow(session: AgiSession) -> None:
    await session.answer()
    await session.noop()


async def test_client_closing_mid_headers_is_logged_and_other_calls_complete(start_server, make_env, caplog):
    server = await start_server(lambda env: _noop_flow)
    _reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"agi_network: yes\nagi_network_script: ivr/ma")
    await writer.drain()
    other = asyncio.create_task(_complete_one_call(server.port, make_env()))
    await asyncio.sleep(0.01)
    writer.close()  # gone mid-headers, while the other call runs

    client = await asyncio.wait_for(other, 5)
    assert client.commands == ["ANSWER", "NOOP"]
    for _ in range(100):
        if "client closed during environment" in caplog.text:
            break
        await asyncio.sleep(0.01)
    assert "client closed during environment" in caplog.text
    assert (await _complete_one_call(server.port, make_env())).commands == ["ANSWER", "NOOP"]


async def test_one_mebibyte_header_line_is_refused_without_buffering_it(start_server, make_env, caplog):
    server = await start_server(lambda env: _noop_flow, max_header_bytes=65536)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"agi_network: yes\nagi_calleridname: ")
    try:
        for _ in range(256):  # 1 MiB in 4 KiB pieces, no newline
            writer.write(b"x" * 4096)
            await writer.drain()
    except ConnectionError:
        pass  # the server may have closed already: that is the point
    try:
        answer = await asyncio.wait_for(reader.read(), 5)
    except ConnectionResetError:
        answer = b"FAILURE\n"  # closing with unread bytes makes the kernel reset, which may eat the line
    writer.close()

    assert answer == b"FAILURE\n"  # AGISTATUS=FAILURE: the dialplan sends the caller to its fallback
    assert "client closed during environment" not in caplog.text
    records = [r for r in caplog.records if "line too long" in r.getMessage()]
    assert records and "call_id=" in records[0].getMessage()
    buffered = int(records[0].getMessage().rsplit("buffered=", 1)[1])
    assert buffered < 65536 + 256 * 1024  # refused at the limit, not after reading the whole megabyte
    assert (await _complete_one_call(server.port, make_env())).commands == ["ANSWER", "NOOP"]


async def test_environment_over_max_header_bytes_is_refused(start_server, caplog):
    server = await start_server(lambda env: _noop_flow, max_header_bytes=2048)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"".join(f"agi_arg_{i}: {'y' * 60}\n".encode() for i in range(1, 60)))
    answer = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    assert answer == b"FAILURE\n"
    assert "environment refused" in caplog.text and "exceeds 2048 bytes" in caplog.text


async def test_invalid_utf8_in_environment_is_replaced_and_logged(start_server, make_env, recorder, caplog):
    seen = recorder(lambda session: asyncio.sleep(0, session.env.calleridname))
    server = await start_server(lambda env: seen)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"agi_network_script: ivr/main\nagi_calleridname: \xff\xfeBob \xc3\n\n")
    assert await asyncio.wait_for(reader.read(), 5) == b""
    writer.close()
    assert await seen.wait() == "\ufffd\ufffdBob \ufffd"
    assert "invalid UTF-8 replaced by U+FFFD in 'agi_calleridname'" in caplog.text


async def test_caller_id_echoed_into_a_variable_is_exactly_one_line_on_the_wire(
    start_server, make_env, recorder
):
    hostile = '+1555"; EXEC System rm\r;$X{${SHELL(id)}}\\'

    async def flow(session: AgiSession) -> None:
        await session.set_variable("SB_CALLER", session.env.callerid)
        await session.set_variable("SB_TRANSCRIPT", "restart\nEXEC System reboot\r\nplease")
        await session.noop()

    handler = recorder(flow)
    server = await start_server(lambda env: handler)
    client = FastAgiClient("127.0.0.1", server.port, make_env(callerid=hostile), _ok_reply)
    await asyncio.wait_for(client.run(), 5)
    await handler.wait()

    assert handler.error is None
    assert len(client.commands) == 3 and client.commands[2] == "NOOP"
    assert parse_agi_args(client.commands[0]) == ["SET", "VARIABLE", "SB_CALLER", hostile.replace("\r", " ")]
    assert parse_agi_args(client.commands[1]) == [
        "SET", "VARIABLE", "SB_TRANSCRIPT", "restart EXEC System reboot  please"
    ]


async def test_duplicate_environment_key_is_refused_with_failure(start_server, make_env, caplog):
    server = await start_server(lambda env: _noop_flow)
    name = "Mallory\nagi_network_script: admin"  # what a newline in a caller name would inject
    client = FastAgiClient("127.0.0.1", server.port, make_env(calleridname=name), _ok_reply)
    await asyncio.wait_for(client.run(), 5)
    assert client.failed and client.commands == []
    assert "sent twice" in caplog.text


async def test_handler_that_raises_is_logged_with_traceback_and_call_fails_over(
    start_server, make_env, recorder, caplog
):
    async def broken(session: AgiSession) -> None:
        await session.answer()
        raise RuntimeError("flow bug")

    server = await start_server(lambda env: broken if env.route == "broken" else _noop_flow)
    with caplog.at_level(logging.INFO):
        failing = FastAgiClient("127.0.0.1", server.port, make_env("broken/x"), _ok_reply)
        healthy = FastAgiClient("127.0.0.1", server.port, make_env("ivr/main"), _ok_reply)
        await asyncio.wait_for(asyncio.gather(failing.run(), healthy.run()), 5)

    assert failing.failed and failing.commands == ["ANSWER"]
    assert not healthy.failed and healthy.commands == ["ANSWER", "NOOP"]
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "agi handler failed call_id=" in errors[0].getMessage() and errors[0].exc_info is not None
    assert "flow bug" in caplog.text


async def test_client_disappearing_mid_command_aborts_only_that_session(
    start_server, make_env, recorder, caplog
):
    async def flow(session: AgiSession) -> None:
        await session.stream_file("long-prompt")

    handler = recorder(flow)
    server = await start_server(lambda env: handler if env.route == "vanish" else _noop_flow)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"agi_network_script: vanish\n\n")
    assert await reader.readline() == b'STREAM FILE long-prompt ""\n'
    writer.transport.abort()  # gone without a reply

    await asyncio.wait_for(handler.done.wait(), 5)
    assert isinstance(handler.error, AgiProtocolError)
    assert "agi session aborted" in caplog.text
    assert (await _complete_one_call(server.port, make_env())).commands == ["ANSWER", "NOOP"]


async def test_unknown_route_ends_the_agi_with_failure(start_server, make_env, caplog):
    server = await start_server(lambda env: None)
    client = FastAgiClient("127.0.0.1", server.port, make_env("nowhere/x"), _ok_reply)
    await asyncio.wait_for(client.run(), 5)
    assert client.failed and client.commands == []
    assert "agi no route" in caplog.text and "'nowhere/x'" in caplog.text


async def test_garbage_reply_fails_the_command_and_closes_the_call(start_server, recorder, caplog):
    handler = recorder(lambda session: session.noop())
    server = await start_server(lambda env: handler)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"agi_network_script: x\n\n")
    assert await reader.readline() == b"NOOP\n"
    writer.write(b"this is not AGI\n")
    assert await asyncio.wait_for(reader.read(), 5) == b"FAILURE\n"
    writer.close()
    await asyncio.wait_for(handler.done.wait(), 5)
    assert isinstance(handler.error, AgiProtocolError)
    assert "agi bad reply" in caplog.text
