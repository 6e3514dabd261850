"""Session semantics over real TCP: HANGUP at any time, timeouts on an injected clock, isolation, shutdown."""

from __future__ import annotations

import asyncio
import logging

import pytest

from ivr.fastagi import (
    AgiArgumentError,
    AgiCommandError,
    AgiHangup,
    AgiSession,
    AgiTimeout,
    Router,
)
from sim.agi_client import AgiConnectFailed, FastAgiClient


async def _open(port: int, script: str = "ivr/main") -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"agi_network_script: {script}\nagi_channel: PJSIP/a-1\n\n".encode())
    return reader, writer


async def _wait_until(predicate) -> None:
    async with asyncio.timeout(5):
        while not predicate():  # noqa: ASYNC110 - polling state owned by the code under test
            await asyncio.sleep(0.005)


async def test_hangup_while_idle_sets_hung_up_and_is_not_taken_as_a_reply(start_server, make_env, recorder):
    go_on = asyncio.Event()

    async def flow(session: AgiSession) -> tuple[bool, bool, str | None]:
        await session.answer()
        await go_on.wait()  # busy elsewhere (speech, Redis...) when the caller hangs up
        seen_while_idle = session.hung_up
        await session.noop()  # dead-channel commands still work
        value = await session.get_variable("CALLERID(num)")
        return seen_while_idle, session.hung_up, value

    async def responder(command: str) -> str:
        return "200 result=1 (+15551230001)\n" if command.startswith("GET") else "200 result=0\n"

    handler = recorder(flow)
    server = await start_server(lambda env: handler)
    client = FastAgiClient("127.0.0.1", server.port, make_env(), responder)
    run = asyncio.create_task(client.run())
    await _wait_until(lambda: client.commands == ["ANSWER"])
    await client.send_line("HANGUP")
    await _wait_until(lambda: handler.session is not None and handler.session.hung_up)
    go_on.set()
    await asyncio.wait_for(run, 5)

    assert await handler.wait() == (True, True, "+15551230001")
    assert client.commands == ["ANSWER", "NOOP", "GET VARIABLE CALLERID(num)"]


async def test_media_command_in_flight_at_hangup_raises_agi_hangup(start_server, make_env, recorder):
    async def responder(command: str) -> str:
        return "HANGUP\n200 result=-1\n" if command.startswith("GET DATA") else "200 result=0\n"

    handler = recorder(lambda session: session.get_data("enter-account", 5000, 6))
    server = await start_server(lambda env: handler)
    await asyncio.wait_for(FastAgiClient("127.0.0.1", server.port, make_env(), responder).run(), 5)
    await handler.done.wait()
    assert isinstance(handler.error, AgiHangup)
    assert handler.session is not None and handler.session.hung_up


async def test_header_timeout_on_injected_clock_fails_the_call(start_server, clock, caplog):
    server = await start_server(lambda env: None, clock=clock, header_timeout=5.0)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"agi_network: yes\n")  # ... and then nothing
    await asyncio.sleep(0.05)
    await clock.advance(4.9)
    assert not reader.at_eof()
    await clock.advance(0.2)
    assert await asyncio.wait_for(reader.read(), 5) == b"FAILURE\n"
    writer.close()
    assert "agi environment timed out" in caplog.text


async def test_command_timeout_discards_the_late_reply_and_keeps_the_session_usable(
    start_server, clock, recorder
):
    async def flow(session: AgiSession) -> tuple[str, str | None]:
        with pytest.raises(AgiTimeout):
            await session.get_variable("SLOW")
        return "timed out", await session.get_variable("FAST")

    handler = recorder(flow)
    server = await start_server(lambda env: handler, clock=clock, command_timeout=30.0)
    reader, writer = await _open(server.port)
    assert await reader.readline() == b"GET VARIABLE SLOW\n"
    await clock.advance(31)
    assert await asyncio.wait_for(reader.readline(), 5) == b"GET VARIABLE FAST\n"
    writer.write(b"200 result=1 (late)\n200 result=1 (fast)\n")  # the late reply arrives first
    assert await handler.wait() == ("timed out", "fast")
    writer.close()


async def test_cancelled_command_does_not_shift_replies(start_server, recorder):
    async def flow(session: AgiSession) -> str | None:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.05):
                await session.get_variable("SLOW")
        return await session.get_variable("NEXT")

    handler = recorder(flow)
    server = await start_server(lambda env: handler)
    reader, writer = await _open(server.port)
    assert await reader.readline() == b"GET VARIABLE SLOW\n"
    assert await asyncio.wait_for(reader.readline(), 5) == b"GET VARIABLE NEXT\n"
    writer.write(b"200 result=1 (slow)\n200 result=1 (next)\n")
    assert await handler.wait() == "next"
    writer.close()


async def test_slow_handler_never_blocks_other_calls(start_server, make_env):
    release = asyncio.Event()

    async def slow(session: AgiSession) -> None:
        await session.answer()
        await release.wait()

    async def quick(session: AgiSession) -> None:
        for _ in range(20):
            await session.noop()

    async def reply(command: str) -> str:
        return "200 result=0\n"

    server = await start_server(Router({"slow": slow, "quick": quick}))
    slow_call = asyncio.create_task(FastAgiClient("127.0.0.1", server.port, make_env("slow/x"), reply).run())
    quick_calls = [FastAgiClient("127.0.0.1", server.port, make_env("quick/x"), reply) for _ in range(10)]
    await asyncio.wait_for(asyncio.gather(*(c.run() for c in quick_calls)), 5)
    assert all(len(c.commands) == 20 for c in quick_calls)
    assert not slow_call.done()
    release.set()
    await asyncio.wait_for(slow_call, 5)


async def test_100_trying_and_single_line_520_are_handled(start_server, recorder):
    async def flow(session: AgiSession) -> tuple[int, str]:
        status = await session.exec("Wait", "1")
        with pytest.raises(AgiCommandError) as refused:
            await session.send_command("SAY NUMBER")
        return status, refused.value.usage

    handler = recorder(flow)
    server = await start_server(lambda env: handler)
    reader, writer = await _open(server.port)
    assert await reader.readline() == b"EXEC Wait 1\n"
    writer.write(b"100 result=0 Trying...\n")
    await asyncio.sleep(0.01)
    writer.write(b"200 result=0\n")
    assert await reader.readline() == b"SAY NUMBER\n"
    writer.write(b"520 Invalid command syntax.  Proper usage not available.\n")
    assert await handler.wait() == (0, "")
    writer.close()


async def test_bad_arguments_are_refused_before_anything_is_written(start_server, recorder):
    async def flow(session: AgiSession) -> int:
        refused = 0
        for call in (
            lambda: session.set_variable("BAD NAME", "x"),
            lambda: session.set_variable("X\nEXEC System id", "x"),
            lambda: session.set_variable("SB_LONG", "x" * 3000),
            lambda: session.say_digits("12a"),
            lambda: session.exec("System;id"),
        ):
            with pytest.raises(AgiArgumentError):
                await call()
            refused += 1
        await session.noop()
        return refused

    handler = recorder(flow)
    server = await start_server(lambda env: handler)
    reader, writer = await _open(server.port)
    assert await asyncio.wait_for(reader.readline(), 5) == b"NOOP\n"  # the first and only line written
    writer.write(b"200 result=0\n")
    assert await handler.wait() == 5
    writer.close()


async def test_server_close_cancels_live_calls_and_fails_them_over(start_server, make_env, recorder, caplog):
    caplog.set_level(logging.INFO)
    handler = recorder(lambda session: asyncio.Event().wait())
    server = await start_server(lambda env: handler)
    reader, writer = await _open(server.port)
    await _wait_until(lambda: server.active_sessions == 1)
    await server.close()
    assert await asyncio.wait_for(reader.read(), 5) == b"FAILURE\n"
    assert isinstance(handler.error, asyncio.CancelledError)
    assert "agi session cancelled" in caplog.text
    writer.close()


async def test_router_maps_first_segment_and_exposes_the_rest(start_server, make_env, recorder):
    handler = recorder(lambda session: asyncio.sleep(0, (session.env.route, session.env.route_rest,
                                                          session.env.args)))
    router = Router()
    router.add("ivr", handler)
    with pytest.raises(ValueError):
        router.add("ivr", handler)
    server = await start_server(router)

    async def reply(command: str) -> str:
        return "200 result=0\n"

    env = make_env("ivr/billing/vip", arg_1="en", arg_2="vip")
    await asyncio.wait_for(FastAgiClient("127.0.0.1", server.port, env, reply).run(), 5)
    assert await handler.wait() == ("ivr", "billing/vip", ("en", "vip"))


async def test_client_reports_connect_failure(unused_tcp_port):
    async def reply(command: str) -> str:
        return "200 result=0\n"

    client = FastAgiClient("127.0.0.1", unused_tcp_port, {}, reply, connect_timeout=1.0)
    with pytest.raises(AgiConnectFailed):
        await client.run()
    with pytest.raises(RuntimeError):
        await client.send_line("HANGUP")


async def test_client_splits_an_overlong_line_like_asterisk():
    received: list[str] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while (await reader.readline()).strip():
            pass
        writer.write(b"SET VARIABLE X " + b"y" * 3000 + b"\n")
        for _ in range(2):
            received.append((await reader.readline()).decode())
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]

    async def reply(command: str) -> str:
        return "200 result=1\n"

    client = FastAgiClient("127.0.0.1", port, {"agi_network_script": "x"}, reply)
    async with server:
        await asyncio.wait_for(client.run(), 5)
    assert [len(c) for c in client.commands] == [2047, 3016 - 2047 - 1]
    assert received == ["200 result=1\n", "200 result=1\n"]
