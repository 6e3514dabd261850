"""Fuzz the live connection: arbitrary bytes from 'Asterisk' never crash the protocol or hang a session."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ivr.fastagi import AgiError, AgiSession, FastAgiServer

_PIECES = st.one_of(
    st.binary(max_size=60),
    st.sampled_from([b"HANGUP\n", b"200 result=1 (x)\n", b"520-Invalid\n", b"520 End of proper usage.\n",
                     b"100 result=0 Trying...\n", b"511 dead\n", b"\n", b"\r\n", b"\xff\xfe\n"]),
)


async def _one_call(env: bytes, chunks: list[bytes]) -> list[object]:
    outcome: list[object] = []

    async def flow(session: AgiSession) -> None:
        try:
            outcome.append(await session.noop())
            outcome.append(await session.get_variable("X"))
        except AgiError as exc:
            outcome.append(exc)

    server = FastAgiServer(
        lambda e: flow, host="127.0.0.1", port=0, header_timeout=0.05, command_timeout=0.05
    )
    await server.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(env)
        for chunk in chunks:
            writer.write(chunk)
            await asyncio.sleep(0)
        with contextlib.suppress(ConnectionError):
            await asyncio.wait_for(reader.read(), 5)
        writer.close()
        async with asyncio.timeout(5):
            while server.active_sessions:  # noqa: ASYNC110 - waiting for the server's own bookkeeping
                await asyncio.sleep(0.01)
    finally:
        await server.close()
    return outcome


class _ErrorCatcher(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.booleans(), st.lists(_PIECES, max_size=8))
def test_arbitrary_replies_end_in_a_result_or_an_agi_error_never_a_crash(with_env, chunks):
    catcher = _ErrorCatcher()
    logging.getLogger().addHandler(catcher)
    try:
        env = b"agi_network_script: fuzz\n\n" if with_env else b""
        outcome = asyncio.run(_one_call(env, chunks))
    finally:
        logging.getLogger().removeHandler(catcher)
    assert not catcher.messages, catcher.messages  # no "protocol.data_received() call failed", no crashes
    assert all(item is None or isinstance(item, str | AgiError) for item in outcome)
