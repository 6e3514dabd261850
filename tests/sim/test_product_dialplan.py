"""The shipped asterisk-conf/extensions.conf run by the emulator: the ACD path end to end over AMI and AGI."""

from __future__ import annotations

import wave
from pathlib import Path

from sim.scripts import ScriptedAgent, ScriptedCaller
from tests.golden.replay import refused_port
from tests.sim.emu_helpers import AgiConn, ami_login, drive_until


async def queueing_ivr(conn: AgiConn) -> None:
    """What an IVR flow does for a caller that needs an agent."""
    assert (await conn.command("ANSWER")) == ["200 result=0"]
    await conn.command("SET VARIABLE SB_CALL_ID call-1")
    await conn.command("SET VARIABLE SB_SKILL billing")
    await conn.command("SET VARIABLE SB_QUEUE support")


async def resolving_ivr(conn: AgiConn) -> None:
    await conn.command('STREAM FILE beep ""')


def values(wire, variable: str) -> list[str]:
    return [m.get("Value") or "" for m in wire.events("VarSet") if m.get("Variable") == variable]


def names(wire, channel: str) -> list[str]:
    return [m.name for m in wire.messages if not m.is_response and m.get("Channel") == channel
            and m.name not in ("VarSet",)]


async def test_queued_caller_waits_on_hold_then_talks_to_the_agent_and_is_recorded(
        make_emulator, agi_server, clock, tmp_path: Path) -> None:
    server = await agi_server(queueing_ivr)
    emulator = await make_emulator(agi_port=server.port)
    emulator.add_agent(ScriptedAgent("101", answer_after=2.0, talk_for=30.0))
    wire = await ami_login(emulator)
    channel = await emulator.place_call(ScriptedCaller(number="+15550001"), exten="+15559990")
    await wire.wait_for(lambda: wire.events("MusicOnHoldStart"), clock)
    assert values(wire, "SB_DID") == ["+15559990"]
    assert server.connections[0].env["agi_arg_1"] == "+15559990"
    assert server.connections[0].env["agi_network_script"] == "ivr/main"

    set_id = wire.send("Setvar", Channel=channel, Variable="SB_AGENT_ENDPOINT", Value="PJSIP/101")
    redirect = wire.send("Redirect", Channel=channel, Context="sb-connect", Exten="s", Priority="1")
    await wire.wait_for(lambda: wire.response(redirect), clock)
    assert wire.response(set_id).get("Message") == "Variable Set"  # type: ignore[union-attr]
    await wire.wait_for(lambda: wire.events("BridgeEnter"), clock)
    answered_at = clock.monotonic()
    hung_up = lambda: any(m.get("Channel") == channel for m in wire.events("Hangup"))  # noqa: E731
    await wire.wait_for(hung_up, clock, limit=40)
    assert 29.5 < clock.monotonic() - answered_at < 31.0  # the agent talked for 30 emulated seconds

    assert names(wire, channel) == [
        "Newchannel", "Newstate", "MusicOnHoldStart", "MusicOnHoldStop", "MixMonitorStart", "DialBegin",
        "DialState", "DialEnd", "BridgeEnter", "BridgeLeave", "Hangup",
    ]
    dial_end = wire.events("DialEnd")[0]
    assert dial_end.get("DialStatus") == "ANSWER"
    assert dial_end.get("DestChannel", "").startswith("PJSIP/101-")  # type: ignore[union-attr]
    devices = [m.get("State") for m in wire.events("DeviceStateChange") if m.get("Device") == "PJSIP/101"]
    assert devices == ["RINGING", "INUSE", "NOT_INUSE"]
    recording = values(wire, "SB_RECORDING")[0]
    uniqueid = wire.events("Newchannel")[0].get("Uniqueid")
    assert recording.startswith(f"/var/spool/asterisk/monitor/switchboard/{uniqueid}-")
    with wave.open(str(tmp_path / "files" / recording.lstrip("/"))) as w:
        assert w.getframerate() == 8000
        assert abs(w.getnframes() - 30 * 8000) < 800  # only the bridged 30 s ("b" option)
    await wire.close()


async def test_ring_no_answer_sends_the_caller_back_to_hold(make_emulator, agi_server, clock,
                                                             tmp_path: Path) -> None:
    server = await agi_server(queueing_ivr)
    emulator = await make_emulator(agi_port=server.port)
    emulator.add_agent(ScriptedAgent("102", answer_after=None))
    wire = await ami_login(emulator)
    channel = await emulator.place_call(ScriptedCaller())
    await wire.wait_for(lambda: wire.events("MusicOnHoldStart"), clock)
    wire.send("Setvar", Channel=channel, Variable="SB_AGENT_ENDPOINT", Value="PJSIP/102")
    wire.send("Setvar", Channel=channel, Variable="SB_RING_TIMEOUT", Value="5")
    wire.send("Redirect", Channel=channel, Context="sb-connect", Exten="s", Priority="1")
    await wire.wait_for(lambda: len(wire.events("MusicOnHoldStart")) == 2, clock)
    assert [m.get("DialStatus") for m in wire.events("DialEnd")] == ["NOANSWER"]
    assert values(wire, "SB_RONA") == ["NOANSWER"]
    assert len(wire.events("MixMonitorStop")) == 1
    assert not list((tmp_path / "files").rglob("*.wav"))  # never bridged: no recording file
    agent_hangup = [m for m in wire.events("Hangup") if m.get("Channel", "").startswith("PJSIP/102-")]
    assert [(m.get("ChannelStateDesc"), m.get("Cause")) for m in agent_hangup] == [("Ringing", "0")]
    assert emulator.channel(channel) is not None  # still waiting for another agent
    await wire.close()


async def test_unregistered_or_missing_agent_returns_the_caller_to_hold(make_emulator, agi_server,
                                                                        clock) -> None:
    server = await agi_server(queueing_ivr)
    emulator = await make_emulator(agi_port=server.port)
    emulator.add_agent(ScriptedAgent("103", registered=False))
    wire = await ami_login(emulator)
    channel = await emulator.place_call(ScriptedCaller())
    await wire.wait_for(lambda: wire.events("MusicOnHoldStart"), clock)
    wire.send("Setvar", Channel=channel, Variable="SB_AGENT_ENDPOINT", Value="PJSIP/103")
    wire.send("Redirect", Channel=channel, Context="sb-connect", Exten="s", Priority="1")
    await wire.wait_for(lambda: len(wire.events("MusicOnHoldStart")) == 2, clock)
    wire.send("Setvar", Channel=channel, Variable="SB_AGENT_ENDPOINT", Value="")
    wire.send("Redirect", Channel=channel, Context="sb-connect", Exten="s", Priority="1")
    await wire.wait_for(lambda: len(wire.events("MusicOnHoldStart")) == 3, clock)
    assert values(wire, "SB_RONA") == ["CHANUNAVAIL", "NOAGENT"]
    assert wire.events("DialBegin") == []  # an unregistered phone is never rung
    await wire.close()


async def test_controller_down_still_queues_the_caller_on_hold(make_emulator, clock) -> None:
    with refused_port() as port:
        emulator = await make_emulator(agi_port=port)
        wire = await ami_login(emulator)
        await emulator.place_call(ScriptedCaller(), exten="5551000")
        await wire.wait_for(lambda: wire.events("MusicOnHoldStart"), clock, limit=3)
    assert values(wire, "AGISTATUS") == ["FAILURE"]
    await wire.close()


async def test_resolved_ivr_call_ends_without_hold_and_abandon_on_hold_is_reported(
        make_emulator, agi_server, clock) -> None:
    server = await agi_server(resolving_ivr)
    emulator = await make_emulator(agi_port=server.port)
    wire = await ami_login(emulator)
    resolved = await emulator.place_call(ScriptedCaller())
    await wire.wait_for(lambda: any(m.get("Channel") == resolved for m in wire.events("Hangup")), clock)
    assert wire.events("MusicOnHoldStart") == []

    server.script = queueing_ivr
    impatient = await emulator.place_call(ScriptedCaller(hangup_after=8.0))
    await wire.wait_for(lambda: any(m.get("Channel") == impatient for m in wire.events("Hangup")), clock)
    assert [m.name for m in wire.messages if m.get("Channel") == impatient and m.name in (
        "MusicOnHoldStart", "MusicOnHoldStop", "Hangup")] == ["MusicOnHoldStart", "MusicOnHoldStop", "Hangup"]
    hangup = next(m for m in wire.events("Hangup") if m.get("Channel") == impatient)
    assert (hangup.get("Context"), hangup.get("Cause")) == ("sb-hold", "16")
    await wire.close()


async def test_hostile_dialled_number_is_filtered_before_the_ivr_sees_it(make_emulator, agi_server,
                                                                         clock) -> None:
    server = await agi_server(resolving_ivr)
    emulator = await make_emulator(agi_port=server.port)
    recorder = emulator.record_events()
    await emulator.place_call(ScriptedCaller(), exten="+1555,1&PJSIP/evil")
    await drive_until(clock, lambda: recorder.named("Hangup"), limit=5)
    # Only digits and "+" of the caller-controlled number reach the IVR and the SB_DID variable.
    assert server.connections[0].env["agi_arg_1"] == "+15551"
    assert [e.get("Value") for e in recorder.named("VarSet") if e.get("Variable") == "SB_DID"] == ["+15551"]
