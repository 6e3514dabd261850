"""Running channels through dialplan priorities: variables, functions, jumps, applications."""

from __future__ import annotations

from sim.scripts import ScriptedCaller
from tests.golden.replay import drive

PLAN = """
[globals]
COMPANY = Acme

[start]
exten => _X.,1,Set(SB_SEEN=${EXTEN}/${CALLERID(num)}/${COMPANY})
 same => n,Set(SB_UID=${UNIQUEID})
 same => n,Set(SB_DIGITS=${FILTER(0-9,${CALLERID(name)})})
 same => n,Set(SB_LEN=${LEN(${EXTEN})})
 same => n,GotoIf($["${EXTEN}" = "200"]?two,s,1)
 same => n,Goto(loop)
 same => n(loop),Set(COUNT=$[${COUNT} + 1])
 same => n,GotoIf($[${COUNT} < 3]?loop)
 same => n,Set(SB_COUNT=${COUNT})
 same => n,Hangup(17)

[two]
exten => s,1,Set(CALLERID(num)=999)
 same => n,Set(SB_CID=${CALLERID(num)})
 same => n,Set(GLOBAL(SB_G)=set-from-dialplan)
 same => n,NoSuchApp(x)
 same => n,Set(SB_NEVER=1)
"""


def _varsets(recorder, name: str) -> list[str]:
    return [e.get("Value") for e in recorder.named("VarSet") if e.get("Variable") == name]


async def test_channel_runs_priorities_with_substitution_and_loops(make_emulator, clock) -> None:
    emulator = await make_emulator(PLAN)
    recorder = emulator.record_events()
    caller = ScriptedCaller(number="+1555", name="A1B2")
    channel = await emulator.place_call(caller, context="start", exten="100")
    await drive(clock, 1.0)
    assert _varsets(recorder, "SB_SEEN") == ["100/+1555/Acme"]
    uid = _varsets(recorder, "SB_UID")[0]
    assert recorder.named("Newchannel")[0].get("Uniqueid") == uid
    assert _varsets(recorder, "SB_DIGITS") == ["12"]
    assert _varsets(recorder, "SB_LEN") == ["3"]
    assert _varsets(recorder, "COUNT") == ["1", "2", "3"]
    assert _varsets(recorder, "SB_COUNT") == ["3"]
    hangup = recorder.for_channel(channel, ["Hangup"])[0]
    assert (hangup.get("Cause"), hangup.get("Cause-txt"), hangup.get("Priority")) == ("17", "User busy", "10")


async def test_gotoif_jumps_to_another_context_and_unknown_application_ends_the_call(make_emulator,
                                                                                    clock) -> None:
    emulator = await make_emulator(PLAN)
    recorder = emulator.record_events()
    channel = await emulator.place_call(ScriptedCaller(number="+1555"), context="start", exten="200")
    await drive(clock, 1.0)
    assert _varsets(recorder, "SB_CID") == ["999"]
    assert emulator.pbx.globals["SB_G"] == "set-from-dialplan"
    globals_set = [e for e in recorder.named("VarSet") if e.get("Channel") == "none"]
    assert [(e.get("Variable"), e.get("Value")) for e in globals_set] == [("SB_G", "set-from-dialplan")]
    assert _varsets(recorder, "SB_NEVER") == []
    hangup = recorder.for_channel(channel, ["Hangup"])[0]
    assert (hangup.get("Context"), hangup.get("Priority")) == ("two", "4")
    assert emulator.channel(channel) is None


async def test_falling_off_the_end_of_an_extension_hangs_up_normally(make_emulator, clock) -> None:
    emulator = await make_emulator("[c]\nexten => s,1,Answer()\n same => n,Wait(2)\n")
    recorder = emulator.record_events()
    channel = await emulator.place_call(ScriptedCaller(), context="c", exten="s")
    await drive(clock, 1.0)
    assert emulator.channel(channel) is not None
    await drive(clock, 3.0)
    hangup = recorder.for_channel(channel, ["Hangup"])
    assert [h.get("Cause") for h in hangup] == ["16"]
    states = [e.get("ChannelStateDesc") for e in recorder.for_channel(channel, ["Newchannel", "Newstate"])]
    assert states == ["Ring", "Up"]
