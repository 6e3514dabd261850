"""The emulator's AMI port: login rules, actions and their errors, timestamps, restart."""

from __future__ import annotations

import asyncio

from sim.scripts import ScriptedAgent
from tests.golden.replay import drive
from tests.sim.emu_helpers import AmiWire, ami_login

HOLD = """
[hold]
exten => s,1,Answer()
 same => n,MusicOnHold(default)
[far]
exten => s,1,Answer()
 same => n,Wait(600)
"""


async def test_actions_before_login_are_refused_and_a_wrong_secret_costs_one_second(make_emulator,
                                                                                     clock) -> None:
    emulator = await make_emulator(HOLD)
    reader, writer = await asyncio.open_connection("127.0.0.1", emulator.ami_port)
    wire = AmiWire(reader, writer)
    ping = wire.send("Ping")
    await wire.wait_for(lambda: wire.response(ping))
    assert wire.response(ping).pairs == (("Response", "Error"), ("ActionID", ping),  # type: ignore[union-attr]
                                         ("Message", "Permission denied"))
    login = wire.send("Login", Username="switchboard", Secret="wrong")
    await drive(clock, 0.9)
    assert wire.response(login) is None
    await drive(clock, 1.1)
    await wire.wait_for(wire.closed.is_set)
    assert wire.response(login).get("Message") == "Authentication failed"  # type: ignore[union-attr]
    assert bytes(wire.buffer).startswith(b"Asterisk Call Manager/11.0.0\r\n")
    await wire.close()


async def test_originate_getvar_setvar_hangup_and_errors(make_emulator, clock) -> None:
    emulator = await make_emulator(HOLD, pjsip_config=None)
    wire = await ami_login(emulator)
    ok = wire.send("Originate", Channel="Local/s@far", Context="hold", Exten="s", Priority="1",
                   CallerID='"Shop" <1000>', Async="true", Variables="SB_CALL_ID=cb-1|SB_X=a=b")
    bad = wire.send("Originate", Channel="PJSIP/nobody", Context="hold", Exten="s", Priority="1",
                    Async="true")
    both = lambda: len(wire.events("OriginateResponse")) == 2 and wire.events("MusicOnHoldStart")  # noqa: E731
    await wire.wait_for(both, clock)
    responses = {m.get("ActionID"): m for m in wire.events("OriginateResponse")}
    assert [k for k, _ in responses[ok].pairs] == [
        "Event", "Privilege", "ActionID", "Response", "Channel", "Context", "Exten", "Reason", "Uniqueid",
        "CallerIDNum", "CallerIDName"]
    assert (responses[ok].get("Response"), responses[ok].get("Reason")) == ("Success", "4")
    failed = responses[bad]
    assert (failed.get("Response"), failed.get("Reason"), failed.get("Uniqueid")) == (
        "Failure", "0", "<unknown>")
    channel = responses[ok].get("Channel")
    assert channel is not None and channel.startswith("Local/s@far-") and channel.endswith(";1")

    ids = {
        "getvar": wire.send("Getvar", Channel=channel, Variable="SB_CALL_ID"),
        "getvar_fn": wire.send("Getvar", Channel=channel, Variable="CALLERID(name)"),
        "setvar_global": wire.send("Setvar", Variable="SB_MODE", Value="night"),
        "getvar_global": wire.send("Getvar", Variable="SB_MODE"),
        "getvar_missing": wire.send("Getvar", Channel="Local/x@y-00000099;1", Variable="A"),
        "redirect_missing": wire.send("Redirect", Channel="Nope/1", Context="hold", Exten="s", Priority="1"),
        "unknown": wire.send("Frobnicate"),
        "hangup_missing": wire.send("Hangup", Channel="PJSIP/nosuch-00000000"),
        "hangup": wire.send("Hangup", Channel=channel, Cause="16"),
    }
    await wire.wait_for(lambda: all(wire.response(i) for i in ids.values()), clock)
    got = {name: (wire.response(i).get("Response"), wire.response(i).get("Message") or  # type: ignore[union-attr]
                  wire.response(i).get("Value")) for name, i in ids.items()}  # type: ignore[union-attr]
    assert got == {
        "getvar": ("Success", "cb-1"),
        "getvar_fn": ("Success", "Shop"),
        "setvar_global": ("Success", "Variable Set"),
        "getvar_global": ("Success", "night"),
        "getvar_missing": ("Error", "No such channel"),
        "redirect_missing": ("Error", "Channel does not exist: Nope/1"),
        "unknown": ("Error", "Invalid/unknown command: Frobnicate. Use Action: ListCommands to show "
                             "available commands."),
        "hangup_missing": ("Error", "No such channel"),
        "hangup": ("Success", "Channel Hungup"),
    }
    await wire.wait_for(lambda: len(wire.events("Hangup")) == 2, clock)
    assert [(m.get("Channel")[-2:], m.get("Cause")) for m in wire.events("Hangup")] == [  # type: ignore[index]
        (";1", "16"), (";2", "16")]
    variables = [(m.get("Variable"), m.get("Value")) for m in wire.events("VarSet")
                 if (m.get("Variable") or "").startswith("SB_")]
    assert variables[:4] == [("SB_CALL_ID", "cb-1"), ("SB_X", "a=b"), ("SB_CALL_ID", "cb-1"), ("SB_X", "a=b")]
    await wire.close()


async def test_events_carry_timestamps_only_when_configured(make_emulator, clock) -> None:
    plain = await make_emulator(HOLD)
    stamped = await make_emulator(HOLD, timestamp_events=True)
    wires = [await ami_login(plain), await ami_login(stamped)]
    await drive(clock, 5.0)
    for emulator in (plain, stamped):
        emulator.set_global("SB_T", "1")
    await wires[0].wait_for(lambda: wires[0].events("VarSet") and wires[1].events("VarSet"))
    plain_event, stamped_event = wires[0].events("VarSet")[0], wires[1].events("VarSet")[0]
    assert [k for k, _ in plain_event.pairs][:3] == ["Event", "Privilege", "Channel"]
    assert [k for k, _ in stamped_event.pairs][:3] == ["Event", "Privilege", "Timestamp"]
    assert float(stamped_event.get("Timestamp") or 0) == clock.now().timestamp()
    booted = wires[1].events("FullyBooted")[0]
    assert booted.get("Timestamp") is None and booted.get("Uptime") == "0"
    for wire in wires:
        await wire.close()


async def test_garbage_and_events_off_keep_the_session_usable(make_emulator, clock) -> None:
    emulator = await make_emulator(HOLD)
    reader, writer = await asyncio.open_connection("127.0.0.1", emulator.ami_port)
    wire = AmiWire(reader, writer)
    writer.write(b"this is not a header\r\n\xff\xfe: \x00\r\n\r\n" + b"X" * 100_000 + b"\r\n\r\n")
    login = wire.send("Login", Username="switchboard", Secret="secret", Events="off")
    await wire.wait_for(lambda: wire.response(login))
    emulator.set_global("SB_QUIET", "1")
    ping = wire.send("Ping")
    await wire.wait_for(lambda: wire.response(ping))
    # The block without an Action gets an error; the over-long line is dropped; the session goes on.
    assert [m.get("Message") for m in wire.messages if m.is_response][:2] == ["Missing action in request",
                                                                            "Authentication accepted"]
    assert wire.events("VarSet") == []
    logoff = wire.send("Logoff")
    await wire.wait_for(wire.closed.is_set)
    assert wire.response(logoff).pairs[0] == ("Response", "Goodbye")  # type: ignore[union-attr]
    await wire.close()


async def test_restart_says_shutdown_closes_and_comes_back_with_a_new_uptime(make_emulator, clock) -> None:
    emulator = await make_emulator(HOLD)
    emulator.add_agent(ScriptedAgent("101"))
    wire = await ami_login(emulator)
    wire.send("Originate", Channel="Local/s@far", Context="hold", Exten="s", Async="true")
    await wire.wait_for(lambda: wire.events("MusicOnHoldStart"), clock)
    await clock.advance(100.0)  # Asterisk has been up for a while: FullyBooted must start again from 0
    port = emulator.ami_port
    restart = asyncio.ensure_future(emulator.restart(downtime=3.0))
    await wire.wait_for(wire.closed.is_set)
    assert wire.events("Shutdown")[0].pairs[1:] == (("Privilege", "system,all"), ("Shutdown", "Cleanly"),
                                                    ("Restart", "True"))
    assert [m.name for m in wire.messages][-1] == "Shutdown"  # nothing after it: the socket closed
    await drive(clock, clock.monotonic() + 3.5)
    await restart
    assert emulator.ami_port == port
    again = await ami_login(emulator)
    assert again.events("FullyBooted")[0].get("Uptime") == "0"
    assert emulator.channels() == []
    listing = again.send("DeviceStateList")
    await again.wait_for(lambda: [m for m in again.messages if m.name == "DeviceStateListComplete"])
    states = [m.get("State") for m in again.messages
              if m.get("ActionID") == listing and m.name == "DeviceStateChange"]
    assert states == ["NOT_INUSE"]  # registrations survive a restart
    await wire.close()
    await again.close()


async def test_a_client_that_stops_reading_is_dropped_and_others_keep_their_events(
        make_emulator, clock, monkeypatch) -> None:
    import socket

    import sim.ami_server

    monkeypatch.setattr(sim.ami_server, "WRITE_TIMEOUT", 0.2)
    emulator = await make_emulator(HOLD)
    healthy = await ami_login(emulator)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", emulator.ami_port))
    sock.sendall(b"Action: Login\r\nUsername: switchboard\r\nSecret: secret\r\n\r\n")
    await asyncio.sleep(0.05)  # the stalled client never reads again
    for i in range(3000):
        emulator.set_global("SB_FLOOD", "x" * 1000 + str(i))
        if i % 100 == 0:
            await asyncio.sleep(0.01)
    await healthy.wait_for(lambda: len(healthy.events("VarSet")) == 3000)
    await asyncio.sleep(0.5)
    assert emulator.ami_clients == 1  # only the healthy client is left
    sock.close()
    await healthy.close()


async def test_synchronous_originate_of_an_application_answers_after_the_call_is_up(make_emulator,
                                                                                     clock) -> None:
    emulator = await make_emulator(HOLD)
    wire = await ami_login(emulator)
    sync = wire.send("Originate", Channel="Local/s@far", Application="Wait", Data="2", Async="false")
    await wire.wait_for(lambda: wire.response(sync), clock)
    assert wire.response(sync).get("Message") == "Originate successfully queued"  # type: ignore[union-attr]
    await wire.wait_for(lambda: len(wire.events("Hangup")) == 2, clock)
    first = wire.events("Hangup")[0]
    assert (first.get("Channel")[-2:], first.get("Cause")) == (";1", "16")  # type: ignore[index]
    failed = wire.send("Originate", Channel="PJSIP/ghost", Application="Wait", Data="1")
    await wire.wait_for(lambda: wire.response(failed), clock)
    assert wire.response(failed).get("Message") == "Originate failed"  # type: ignore[union-attr]
    await wire.close()
