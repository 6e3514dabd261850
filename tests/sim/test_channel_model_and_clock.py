"""Channel names and ids, the standard field block, Local pairs, and time that only the clock moves."""

from __future__ import annotations

import random

from sim.channels import Channel, ChannelNamer, ChannelState, Party
from sim.scripts import ScriptedCaller

PLAN = """
[long]
exten => s,1,Answer()
 same => n,Wait(30)
 same => n,Hangup()
[hold]
exten => s,1,Answer()
 same => n,MusicOnHold(default)
[far]
exten => s,1,Answer()
 same => n,Wait(600)
"""


def test_names_and_unique_ids_follow_asterisk_counters() -> None:
    namer = ChannelNamer(local_start=0x3EA)
    assert namer.local_pair("hold-caller", "sb-caller") == (
        "Local/hold-caller@sb-caller-000003ea;1", "Local/hold-caller@sb-caller-000003ea;2")
    assert namer.local_pair("x", "y")[0] == "Local/x@y-000003eb;1"
    assert [namer.pjsip("101"), namer.pjsip("carrier")] == ["PJSIP/101-00000000", "PJSIP/carrier-00000001"]
    assert [namer.uniqueid(1795397363.9), namer.uniqueid(1795397364.2)] == ["1795397363.1", "1795397364.2"]


def test_standard_fields_are_in_asterisk_order_with_unknown_parties() -> None:
    ch = Channel(name="PJSIP/101-00000000", tech="PJSIP", uniqueid="1.5", linkedid="1.4",
                 state=ChannelState.RINGING, context="sb-agents", exten="101", priority=1, created_at=0.0,
                 device="PJSIP/101", caller=Party("101", None))
    assert ch.std_fields("Dest") == [
        ("DestChannel", "PJSIP/101-00000000"), ("DestChannelState", "5"), ("DestChannelStateDesc", "Ringing"),
        ("DestCallerIDNum", "101"), ("DestCallerIDName", "<unknown>"), ("DestConnectedLineNum", "<unknown>"),
        ("DestConnectedLineName", "<unknown>"), ("DestLanguage", "en"), ("DestAccountCode", ""),
        ("DestContext", "sb-agents"), ("DestExten", "101"), ("DestPriority", "1"), ("DestUniqueid", "1.5"),
        ("DestLinkedid", "1.4"),
    ]


async def test_a_thirty_second_call_ends_with_one_clock_step_and_no_real_wait(make_emulator, clock) -> None:
    emulator = await make_emulator(PLAN)
    recorder = emulator.record_events()
    channel = await emulator.place_call(ScriptedCaller(), context="long", exten="s")
    await clock.advance(29.9)
    assert emulator.channel(channel) is not None
    await clock.advance(0.2)
    assert emulator.channel(channel) is None
    newchannel, hangup = recorder.named("Newchannel")[0], recorder.named("Hangup")[0]
    assert round(hangup.timestamp - newchannel.timestamp, 2) == 30.02  # 30 s plus the 20 ms answer settle


async def test_local_pair_shares_linkedid_and_hangs_up_together(make_emulator, clock) -> None:
    emulator = await make_emulator(PLAN)
    recorder = emulator.record_events()
    one, two = emulator.pbx.new_local_pair("s", "far")
    emulator.pbx.start_pbx(two)
    await clock.advance(1.0)
    assert (one.linkedid, two.linkedid) == (one.uniqueid, one.uniqueid)
    assert one.state == ChannelState.UP  # ;2 answered, so ;1 is up
    assert emulator.hangup(one.name, cause=21)
    await clock.advance(0.1)
    assert [(e.get("Channel"), e.get("Cause")) for e in recorder.named("Hangup")] == [
        (one.name, "21"), (two.name, "21")]
    devices = [e.get("State") for e in recorder.named("DeviceStateChange")]
    assert devices == ["INUSE", "INUSE", "NOT_INUSE", "NOT_INUSE"]


async def test_hundreds_of_concurrent_calls_each_start_and_end_once(make_emulator, clock) -> None:
    emulator = await make_emulator(PLAN)
    recorder = emulator.record_events()
    rng = random.Random(7)
    callers = [ScriptedCaller(number=f"+1555{i:04d}", hangup_after=rng.uniform(5, 120)) for i in range(400)]
    names = [await emulator.place_call(caller, context="hold", exten="s") for caller in callers]
    await clock.advance(60.0)
    assert 0 < len(emulator.channels()) < 400
    await clock.advance(61.0)
    assert emulator.channels() == []
    assert len(set(names)) == 400
    assert sorted(e.get("Channel") for e in recorder.named("Hangup")) == sorted(names)
    assert len(recorder.named("MusicOnHoldStart")) == len(recorder.named("MusicOnHoldStop")) == 400


async def test_emulator_runs_on_a_scaled_clock_for_demos(tmp_path) -> None:
    import asyncio

    from sim.emulator import AsteriskEmulator
    from switchboard.clock import ScaledClock

    plan = tmp_path / "extensions.conf"
    plan.write_text(PLAN)
    emulator = AsteriskEmulator(ScaledClock(speed=100.0), dialplan_path=plan)
    await emulator.start()
    hung_up = asyncio.Event()
    emulator.pbx.bus.subscribe(lambda event: event.name == "Hangup" and hung_up.set())
    try:
        channel = await emulator.place_call(ScriptedCaller(), context="long", exten="s")
        await asyncio.wait_for(hung_up.wait(), timeout=10)  # 30 emulated seconds at 100x
        assert emulator.channel(channel) is None
    finally:
        await emulator.stop()
