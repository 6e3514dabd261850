"""AmiClient against a scripted AMI server on 127.0.0.1 replaying golden Asterisk bytes.

Time that the client measures (timeouts, backoff, keepalive) runs on a ManualClock; socket I/O is real,
so tests wait for it with ``wait_until`` (real time, a few milliseconds).
"""

from __future__ import annotations

import asyncio
import logging
import socket

import pytest

from ami.client import AmiClient
from ami.connection import AmiConnection
from ami.errors import AmiActionError, AmiAuthError, AmiConnectionError, AmiTimeout
from ami.events import CoreShowChannel, FullyBooted, OriginateResponse, ResyncEvent, Shutdown

SECRET = "golden-secret"


@pytest.fixture
async def clients():
    made: list[AmiClient] = []

    def make(port: int, clock, **kwargs) -> AmiClient:
        options = {"keepalive_interval": None, "reconnect_jitter": 0.0, **kwargs}
        client = AmiClient(
            host="127.0.0.1", port=port, username="switchboard", secret=SECRET, clock=clock, **options
        )
        made.append(client)
        return client

    yield make
    for client in made:
        await client.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def drain(sub, count: int, limit: float = 5.0) -> list:
    out = []
    async with asyncio.timeout(limit):
        while len(out) < count:
            out.append(await anext(sub))
    return out


async def started_ready(client, wait_until) -> None:
    await client.start()
    await asyncio.wait_for(client.wait_ready(timeout=60), 5)
    assert client.ready


# -- login, ready, resync ------------------------------------------------------------------------


async def test_login_resyncs_channels_before_becoming_ready(
    ami_server, golden, transcript, clients, clock, wait_until
):
    acd = transcript("acd-connect")
    server = await ami_server(golden(acd))
    client = clients(server.port, clock)
    sub = client.subscribe()
    resyncs: list[list] = []
    ready_during_callback: list[bool] = []

    async def on_resync(channels):
        ready_during_callback.append(client.ready)
        resyncs.append(channels)

    client.on_resync(on_resync)
    await client.start()
    await asyncio.wait_for(client.wait_ready(timeout=60), 5)

    assert client.ready and client.state == "ready"
    assert ready_during_callback == [False]
    assert server.names() == ["Login", "CoreShowChannels"]
    login = server.actions[0].fields
    assert login["Username"] == "switchboard" and login["Secret"] == SECRET
    assert [[c.channel for c in r] for r in resyncs] == [
        ["Local/hold-caller@sb-caller-00000003;1", "Local/hold-caller@sb-caller-00000003;2"]
    ]
    booted, marker = await drain(sub, 2)
    assert isinstance(booted, FullyBooted) and booted.uptime == 134
    assert isinstance(marker, ResyncEvent) and marker.reason == "fully_booted" and marker.dropped == 0
    assert [c.uniqueid for c in marker.channels] == ["1795396042.6", "1795396042.7"]
    # List items answer the action; they are not also pushed as live events.
    assert sub.qsize() == 0


async def test_actions_and_helpers_return_golden_answers(
    ami_server, golden, transcript, clients, clock, wait_until
):
    basic, callback, acd = transcript("basic"), transcript("callback"), transcript("acd-connect")

    async def hangup(session, action):
        which = "h-missing" if "nosuch" in action.fields["Channel"] else "h-cb"
        await session.send(*callback.exchange(which).reply_for(action.fields["ActionID"]))

    async def redirect(session, action):
        which = "r2" if "no-such" in action.fields["Channel"] else "r1"
        await session.send(*acd.exchange(which).reply_for(action.fields["ActionID"]))

    server = await ami_server(golden(basic, acd, extra={"Hangup": hangup, "Redirect": redirect}))
    client = clients(server.port, clock)
    await started_ready(client, wait_until)

    assert (await client.action("Ping")).fields["Ping"] == "Pong"
    assert await client.getvar(None, "GLOBAL_SB") == "golden-global"  # reply split across two chunks
    await client.setvar(None, "SB_GLOBAL_TEST", "42")
    assert await client.getvar(None, "SB_GLOBAL_TEST") == "42"
    with pytest.raises(AmiActionError) as unknown:
        await client.action("NoSuchAction")
    assert unknown.value.message.startswith("Invalid/unknown command: NoSuchAction")
    with pytest.raises(AmiActionError) as no_endpoints:
        await client.action("PJSIPShowEndpoints")  # the reply with the "\n\r\n\r\n" terminator
    assert no_endpoints.value.message == "No endpoints found"

    ok = await client.redirect("Local/hold-caller@sb-caller-00000003;1", "sb-connect", "s")
    assert ok.message == "Redirect successful"
    with pytest.raises(AmiActionError, match="Channel does not exist"):
        await client.redirect("Local/no-such-channel;1", "sb-connect", "s")
    assert (await client.hangup("Local/hold-caller@sb-caller-000003ea;1")).message == "Channel Hungup"
    with pytest.raises(AmiActionError) as missing:
        await client.hangup("PJSIP/nosuch-00000000", cause=16)
    assert missing.value.message == "No such channel"
    assert server.actions[-1].fields["Cause"] == "16"

    redirect_sent = next(a for a in server.actions if a.fields["Action"] == "Redirect").fields
    assert redirect_sent["Context"] == "sb-connect" and redirect_sent["Priority"] == "1"


async def test_originate_returns_when_queued_and_its_outcome_arrives_as_an_event(
    ami_server, golden, transcript, clients, clock, wait_until
):
    server = await ami_server(golden(transcript("acd-connect")))
    client = clients(server.port, clock)
    await started_ready(client, wait_until)
    sub = client.subscribe(["OriginateResponse"])

    response = await client.originate(
        channel="Local/hold-caller@sb-caller",
        context="sb-ivr",
        exten="ivr-to-hold",
        caller_id='"Hold Caller" <+15551230002>',
        variables={"SB_ORIGIN": "test"},
        action_id="cb-1",
    )
    assert response.success and response.message == "Originate successfully queued"
    sent = server.actions[-1]
    assert sent.fields["Async"] == "true" and sent.fields["ActionID"] == "cb-1"
    assert sent.fields["Variable"] == "SB_ORIGIN=test"
    (outcome,) = await drain(sub, 1)
    assert isinstance(outcome, OriginateResponse) and outcome.action_id == "cb-1" and outcome.success


async def test_core_show_channels_returns_typed_channels(
    ami_server, golden, transcript, clients, clock, wait_until
):
    server = await ami_server(golden(transcript("acd-connect")))
    client = clients(server.port, clock)
    await started_ready(client, wait_until)
    channels = await client.core_show_channels()
    assert all(isinstance(c, CoreShowChannel) for c in channels)
    assert [c.application for c in channels] == ["MusicOnHold", "Wait"]


# -- errors at start -----------------------------------------------------------------------------


async def test_wrong_secret_raises_auth_error_naming_host_and_user_but_not_the_secret(
    ami_server, transcript, clients, clock, caplog
):
    errors = transcript("login-errors")
    refused = errors.exchange("l0")

    async def slow_refusal(session, action):
        assert refused.replied_at is not None
        await asyncio.sleep((refused.replied_at - 0.601) / 10)  # the golden 1 s delay, 10x faster
        await session.send(*refused.reply_for(action.fields["ActionID"]))

    server = await ami_server(slow_refusal)
    client = clients(server.port, clock)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(AmiAuthError) as caught:
        await client.start()
    message = str(caught.value)
    assert message == (
        f"AMI login to 127.0.0.1:{server.port} as user 'switchboard' refused: Authentication failed"
    )
    assert "\n" not in message and SECRET not in message
    assert SECRET not in caplog.text
    assert SECRET not in repr(client)


async def test_client_built_from_settings_never_shows_the_secret(ami_server, transcript, clock):
    from pydantic import SecretStr

    from switchboard.settings import AmiSettings

    refused = transcript("login-errors").exchange("l0")
    logins: list[dict] = []

    async def refuse(session, action):
        logins.append(dict(action.fields))
        await session.send(*refused.reply_for(action.fields["ActionID"]))

    server = await ami_server(refuse)
    settings = AmiSettings(port=server.port, username="sb", secret=SecretStr("s3cret"))
    client = AmiClient.from_settings(settings, clock)
    with pytest.raises(AmiAuthError) as caught:
        await client.start()
    assert logins[0]["Username"] == "sb" and logins[0]["Secret"] == "s3cret"
    assert "s3cret" not in str(caught.value) and "s3cret" not in repr(client)
    await client.close()


async def test_connection_refused_raises_one_line_connection_error(clients, clock):
    port = free_port()
    client = clients(port, clock)
    with pytest.raises(AmiConnectionError) as caught:
        await client.start()
    assert str(caught.value) == f"cannot connect to AMI at 127.0.0.1:{port}: Connection refused"


async def test_a_server_that_is_not_ami_is_rejected(ami_server, clients, clock):
    async def ignore(session, action):
        return None

    server = await ami_server(ignore, greeting=[b"SSH-2.0-OpenSSH_9.6\r\n"])
    client = clients(server.port, clock)
    with pytest.raises(AmiConnectionError, match="not an Asterisk Manager Interface"):
        await client.start()


async def test_no_login_reply_is_a_connection_error_after_the_action_timeout(
    ami_server, clients, clock, wait_until
):
    async def ignore(session, action):
        return None

    server = await ami_server(ignore)
    client = clients(server.port, clock, action_timeout=3.0)
    start = asyncio.create_task(client.start())
    await wait_until(lambda: server.names() == ["Login"])
    await clock.advance(3.0)
    with pytest.raises(AmiConnectionError, match="did not answer the login of user 'switchboard' within 3 s"):
        await asyncio.wait_for(start, 5)


async def test_action_before_login_is_refused_locally_and_by_asterisk(ami_server, transcript, clients, clock):
    errors = transcript("login-errors")

    async def replay(session, action):
        await session.send(*errors.exchange("p0").reply_for(action.fields["ActionID"]))

    server = await ami_server(replay)
    client = clients(server.port, clock)
    with pytest.raises(AmiConnectionError, match="not connected"):
        await client.action("Ping")
    assert server.actions == []

    # On the wire, Asterisk answers any action before Login with "Permission denied".
    conn = AmiConnection("127.0.0.1", server.port, clock=clock, on_event=lambda event: None)
    await conn.open(5.0)
    try:
        response = await conn.send("Ping", action_id="p0", timeout=5.0)
    finally:
        conn.close()
    assert not response.success and response.message == "Permission denied"


# -- actions: timeouts and refusals --------------------------------------------------------------


async def test_action_with_no_response_times_out_and_a_late_reply_is_ignored(
    ami_server, golden, transcript, clients, clock, wait_until, caplog
):
    held: list = []

    async def hold_ping(session, action):
        held.append((session, action.fields["ActionID"]))

    server = await ami_server(
        golden(transcript("basic"), transcript("acd-connect"), extra={"Ping": hold_ping})
    )
    client = clients(server.port, clock)
    await started_ready(client, wait_until)

    ping = asyncio.create_task(client.action("Ping", timeout=2.0))
    await wait_until(lambda: len(held) == 1)
    await clock.advance(1.9)
    assert not ping.done()
    await clock.advance(0.2)
    with pytest.raises(AmiTimeout) as caught:
        await ping
    assert "Ping" in str(caught.value) and "within 2 s" in str(caught.value) and "\n" not in str(caught.value)

    caplog.set_level(logging.INFO, logger="ami")
    session, action_id = held[0]
    await session.send(f"Response: Success\r\nActionID: {action_id}\r\nPing: Pong\r\n\r\n".encode())
    await wait_until(lambda: "late response dropped" in caplog.text)
    assert await client.getvar(None, "GLOBAL_SB") == "golden-global"  # still serving


async def test_values_with_cr_or_lf_never_reach_the_socket(
    ami_server, golden, transcript, clients, clock, wait_until
):
    server = await ami_server(golden(transcript("basic"), transcript("acd-connect")))
    client = clients(server.port, clock)
    await started_ready(client, wait_until)
    sent_before = len(server.actions)
    with pytest.raises(ValueError):
        await client.redirect("PJSIP/1\r\nAction: Originate", "sb-connect", "s")
    with pytest.raises(ValueError):
        await client.setvar("PJSIP/1", "SB_NOTE", "line1\nline2")
    with pytest.raises(ValueError):
        await client.originate(channel="Local/x@y", context="c", exten="s", variables={"SB_A": "1,SB_B=2"})
    await client.action("Ping")
    assert server.names()[sent_before:] == ["Ping"]


# -- Asterisk restart, dropped sockets, garbage ---------------------------------------------------


async def test_asterisk_restart_reconnects_with_backoff_relogs_in_and_resyncs_before_ready(
    ami_server, golden, transcript, clients, clock, wait_until, caplog
):
    restart, basic, acd = transcript("asterisk-restart"), transcript("basic"), transcript("acd-connect")
    login_before, shutdown_chunk = restart.exchange("l1").replies
    assert shutdown_chunk.startswith(b"Event: Shutdown")
    logins = [[login_before], basic.exchange("l1").replies]  # Uptime 379, then a fresh Asterisk: 14

    async def login(session, action):
        old = b"ActionID: l1\r\n"
        new = f"ActionID: {action.fields['ActionID']}\r\n".encode()
        await session.send(*(chunk.replace(old, new) for chunk in logins.pop(0)))

    server = await ami_server(
        golden(extra={"Login": login, "CoreShowChannels": _reply(acd.exchange("csc2"))})
    )
    client = clients(server.port, clock, reconnect_initial=0.5, reconnect_max=30.0)
    sub = client.subscribe(["FullyBooted", "Shutdown"])
    ready_in_resync: list[bool] = []

    async def on_resync(channels):
        ready_in_resync.append(client.ready)

    client.on_resync(on_resync)
    caplog.set_level(logging.INFO, logger="ami")
    await started_ready(client, wait_until)

    # "core restart gracefully": Event: Shutdown, then the socket closes; Asterisk is down for a while.
    await server.stop_listening()
    await server.sessions[0].send(shutdown_chunk)
    await wait_until(lambda: not client.ready)
    await server.sessions[0].close()
    await wait_until(lambda: client.state == "connecting")
    assert "asterisk shutting down" in caplog.text and "restart=True" in caplog.text

    await clock.advance(0.5)  # 1st attempt: refused
    await wait_until(lambda: "attempt=2 delay" in caplog.text)
    await clock.advance(1.0)  # 2nd attempt: refused
    await wait_until(lambda: "attempt=3 delay" in caplog.text)
    await server.start()  # Asterisk is back on the same port
    assert not client.ready
    await clock.advance(2.0)
    await asyncio.wait_for(client.wait_ready(timeout=60), 5)

    assert server.names() == ["Login", "CoreShowChannels", "Login", "CoreShowChannels"]
    assert ready_in_resync == [False, False]  # callbacks always run before the client is ready
    delays = [r.args[2] for r in caplog.records if r.msg.startswith("ami reconnect scheduled")]
    assert delays == [0.5, 1.0, 2.0]
    events = await drain(sub, 5)
    assert [e.name for e in events] == [
        "FullyBooted",
        "SwitchboardResync",
        "Shutdown",
        "FullyBooted",
        "SwitchboardResync",
    ]
    assert isinstance(events[0], FullyBooted) and events[0].uptime == 379
    assert isinstance(events[2], Shutdown) and events[2].restart
    assert isinstance(events[3], FullyBooted) and events[3].uptime == 14
    assert isinstance(events[4], ResyncEvent) and len(events[4].channels) == 2


def _reply(exchange):
    async def handle(session, action):
        await session.send(*exchange.reply_for(action.fields["ActionID"]))

    return handle


async def test_socket_dropping_mid_message_fails_the_pending_action_and_reconnects(
    ami_server, golden, transcript, clients, clock, wait_until, caplog
):
    basic, acd = transcript("basic"), transcript("acd-connect")

    async def half_then_drop(session, action):
        reply = f"Response: Success\r\nActionID: {action.fields['ActionID']}\r\nPing: Po".encode()
        await session.send(reply)
        await session.close()

    server = await ami_server(golden(basic, acd, extra={"Ping": half_then_drop}))
    client = clients(server.port, clock)
    caplog.set_level(logging.INFO, logger="ami")
    await started_ready(client, wait_until)

    with pytest.raises(AmiConnectionError, match="lost while waiting for Ping"):
        await asyncio.wait_for(client.action("Ping"), 5)
    assert "lost mid-message" in caplog.text and "unparsed_bytes=" in caplog.text
    assert not client.ready
    await wait_until(lambda: client.state == "connecting")
    await clock.advance(0.5)
    await asyncio.wait_for(client.wait_ready(timeout=60), 5)
    assert server.names() == ["Login", "CoreShowChannels", "Ping", "Login", "CoreShowChannels"]
    assert await client.getvar(None, "GLOBAL_SB") == "golden-global"


async def test_garbage_bytes_are_logged_and_the_client_keeps_serving(
    ami_server, golden, transcript, clients, clock, wait_until, caplog
):
    server = await ami_server(golden(transcript("basic"), transcript("acd-connect")))
    client = clients(server.port, clock)
    await started_ready(client, wait_until)
    sub = client.subscribe(["DeviceStateChange", "Newchannel"])
    caplog.set_level(logging.WARNING, logger="ami")

    await server.sessions[0].send(
        b"\x00\xff\xfe garbage\r\n\r\n",
        b"this is not AMI at all\r\nnor: is this\r\n\r\n",
        b"Event: DeviceStateChange\r\nDevice: PJSIP/101\r\nState: NOT_INUSE\r\n\r\n",
        b"Event: Newchannel\r\nChannel: PJSIP/trunk-1\r\nCallerIDName: Caf\xe9\r\nUniqueid: 7.1\r\n\r\n",
        gap=0.01,
    )
    device, channel = await drain(sub, 2)
    assert device.device == "PJSIP/101"
    assert channel.caller_id_name == "Caf\ufffd" and channel.uniqueid == "7.1"
    assert caplog.text.count("garbage message dropped") == 2
    assert "non-UTF-8 bytes replaced" in caplog.text
    assert (await client.action("Ping")).fields["Ping"] == "Pong"
    assert client.ready


async def test_reconnect_backoff_doubles_and_is_capped(
    ami_server, golden, transcript, clients, clock, wait_until, caplog
):
    server = await ami_server(golden(transcript("basic"), transcript("acd-connect")))
    client = clients(server.port, clock, reconnect_initial=0.5, reconnect_max=4.0)
    caplog.set_level(logging.INFO, logger="ami")
    await started_ready(client, wait_until)
    await server.stop_listening()
    await server.sessions[0].close()

    def delays() -> list[float]:
        return [r.args[2] for r in caplog.records if r.msg.startswith("ami reconnect scheduled")]

    await wait_until(lambda: len(delays()) == 1)
    for n in range(1, 8):
        await clock.advance(delays()[-1])
        await wait_until(lambda n=n: len(delays()) == n + 1)
    assert delays() == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0, 4.0]
    assert caplog.text.count("Connection refused") == 7

    await server.start()
    await clock.advance(4.0)
    await asyncio.wait_for(client.wait_ready(timeout=60), 5)
    # After a successful login the backoff starts again from the beginning.
    await server.sessions[-1].close()
    await wait_until(lambda: len(delays()) == 9)
    assert delays()[-1] == 0.5


async def test_a_server_that_drops_us_right_after_login_is_retried_ever_more_slowly(
    ami_server, transcript, clients, clock, wait_until, caplog
):
    login = transcript("acd-connect").exchange("l1")

    async def login_then_drop(session, action):
        await session.send(login.reply_for(action.fields["ActionID"])[0])
        await session.close()

    server = await ami_server(login_then_drop)
    client = clients(server.port, clock, reconnect_initial=0.5, reconnect_max=30.0)
    caplog.set_level(logging.INFO, logger="ami")
    await client.start()

    def delays() -> list[float]:
        return [r.args[2] for r in caplog.records if r.msg.startswith("ami reconnect scheduled")]

    await wait_until(lambda: len(delays()) == 1)
    for n in range(1, 4):
        await clock.advance(delays()[-1])
        await wait_until(lambda n=n: len(delays()) == n + 1)
    assert delays() == [0.5, 1.0, 2.0, 4.0]
    assert server.names() == ["Login"] * 4


async def test_keepalive_without_pong_drops_and_reopens_the_connection(
    ami_server, golden, transcript, clients, clock, wait_until
):
    async def no_pong(session, action):
        return None

    server = await ami_server(golden(transcript("basic"), transcript("acd-connect"), extra={"Ping": no_pong}))
    client = clients(server.port, clock, keepalive_interval=10.0, action_timeout=5.0)
    await started_ready(client, wait_until)
    await clock.advance(10.0)
    await wait_until(lambda: server.names()[-1] == "Ping")
    await clock.advance(5.0)
    await wait_until(lambda: client.state == "connecting")
    await clock.advance(0.5)
    await asyncio.wait_for(client.wait_ready(timeout=60), 5)
    assert server.names().count("Login") == 2


async def test_without_fully_booted_the_client_is_never_ready_and_says_why(
    ami_server, transcript, clients, clock, wait_until, caplog
):
    login = transcript("acd-connect").exchange("l1")

    async def login_without_fully_booted(session, action):
        await session.send(login.reply_for(action.fields["ActionID"])[0])  # the response, not FullyBooted

    server = await ami_server(login_without_fully_booted)
    client = clients(server.port, clock)
    caplog.set_level(logging.WARNING, logger="ami")
    await client.start()
    assert client.state == "logged_in"
    waiting = asyncio.create_task(client.wait_ready(timeout=30))
    await clock.advance(30)
    with pytest.raises(AmiTimeout, match="not ready within 30 s"):
        await waiting
    assert "no FullyBooted after 30s" in caplog.text and "read=system" in caplog.text
    assert server.names() == ["Login"]  # no resync before Asterisk says it is booted


# -- slow consumers ------------------------------------------------------------------------------


async def test_a_subscriber_that_never_reads_stalls_neither_others_nor_actions(
    ami_server, golden, transcript, clients, clock, wait_until
):
    acd = transcript("acd-connect")
    server = await ami_server(
        golden(transcript("basic"), acd, extra={"CoreShowChannels": _reply(acd.exchange("csc2"))})
    )
    client = clients(server.port, clock)
    reader = client.subscribe()
    overflow_resyncs: list[int] = []

    async def on_resync(channels):
        overflow_resyncs.append(len(channels))

    client.on_resync(on_resync)
    await started_ready(client, wait_until)
    assert [e.name for e in await drain(reader, 2)] == ["FullyBooted", "SwitchboardResync"]
    stuck = client.subscribe(maxsize=5)

    def burst(start: int, n: int) -> bytes:
        return b"".join(
            f"Event: DeviceStateChange\r\nDevice: PJSIP/{i}\r\nState: INUSE\r\n\r\n".encode()
            for i in range(start, start + n)
        )

    await server.sessions[0].send(burst(0, 200))
    got = await drain(reader, 200)
    assert [e.device for e in got] == [f"PJSIP/{i}" for i in range(200)]
    assert (await client.action("Ping")).fields["Ping"] == "Pong"

    # The stuck subscriber overflowed once: one extra CoreShowChannels, whose channels went to on_resync.
    await wait_until(lambda: stuck.qsize() == 6 and len(overflow_resyncs) == 2)
    assert server.names().count("CoreShowChannels") == 2
    assert stuck.overflowed is False  # the snapshot marker is in its queue now
    await server.sessions[0].send(burst(200, 200))
    assert [e.device for e in await drain(reader, 200)][-1] == "PJSIP/399"
    await asyncio.sleep(0.05)
    assert server.names().count("CoreShowChannels") == 2  # no resync storm while it stays stuck
    assert stuck.qsize() == 6 and stuck.overflowed
    assert overflow_resyncs == [2, 2]

    # When it finally reads: its history, then a marker saying how much fell into the gap.
    items = [stuck.get_nowait() for _ in range(6)]
    assert [e.device for e in items[:5]] == [f"PJSIP/{i}" for i in range(5)]
    marker = items[5]
    assert isinstance(marker, ResyncEvent) and marker.reason == "overflow"
    assert marker.dropped == 195 and len(marker.channels) == 2
    # Reading that marker asks for a fresh snapshot covering the second burst it also missed.
    await wait_until(lambda: server.names().count("CoreShowChannels") == 3)
    (second,) = await drain(stuck, 1)
    assert isinstance(second, ResyncEvent) and second.dropped == 200
    assert stuck.total_dropped == 395 and not stuck.overflowed


async def test_a_stuck_subscriber_with_an_unread_marker_costs_no_extra_resync(
    ami_server, golden, transcript, clients, clock, wait_until
):
    server = await ami_server(golden(transcript("basic"), transcript("acd-connect")))
    client = clients(server.port, clock)
    stuck = client.subscribe(maxsize=3)  # before start: gets FullyBooted and the first marker
    await started_ready(client, wait_until)
    await server.sessions[0].send(b"Event: DeviceStateChange\r\nDevice: PJSIP/1\r\nState: INUSE\r\n\r\n" * 50)
    await wait_until(lambda: stuck.overflowed)
    await client.action("Ping")
    assert server.names().count("CoreShowChannels") == 1
    assert [e.name for e in [stuck.get_nowait() for _ in range(3)]] == [
        "FullyBooted",
        "SwitchboardResync",
        "DeviceStateChange",
    ]
    # Its only marker has been read, so now it gets a fresh snapshot with the size of the gap.
    (marker,) = await drain(stuck, 1)
    assert isinstance(marker, ResyncEvent) and marker.reason == "overflow" and marker.dropped == 49


async def test_resync_callback_failure_is_logged_and_does_not_stop_readiness(
    ami_server, golden, transcript, clients, clock, wait_until, caplog
):
    server = await ami_server(golden(transcript("acd-connect")))
    client = clients(server.port, clock)

    async def broken(channels):
        raise RuntimeError("boom")

    client.on_resync(broken)
    await started_ready(client, wait_until)
    assert "on_resync callback failed" in caplog.text


async def test_close_logs_off_and_ends_subscriptions(
    ami_server, golden, transcript, clients, clock, wait_until
):
    server = await ami_server(golden(transcript("basic"), transcript("acd-connect")))
    client = clients(server.port, clock)
    sub = client.subscribe(["Hangup"])
    await started_ready(client, wait_until)
    await client.close()
    assert server.names()[-1] == "Logoff"
    assert client.state == "closed" and not client.ready
    # Only the resync marker (always delivered) was queued; then the iteration ends.
    assert [e.name async for e in sub] == ["SwitchboardResync"]
    with pytest.raises(AmiConnectionError):
        await client.action("Ping")
