"""PJSIP endpoints register and unregister like res_pjsip; scripted agents answer, talk, ignore or refuse."""

from __future__ import annotations

from pathlib import Path

from sim.pjsip import parse_pjsip_conf
from sim.scripts import ScriptedAgent, ScriptedCaller
from tests.golden.replay import drive

PLAN = """
[c]
exten => _X.,1,Answer()
 same => n,Dial(PJSIP/${EXTEN},5)
 same => n,Set(SB_STATUS=${DIALSTATUS})
 same => n,Hangup()
"""


def _fields(event, *keys: str) -> tuple[str | None, ...]:
    return tuple(event.get(k) for k in keys)


async def test_registration_and_unregistration_emit_peer_contact_and_device_state(make_emulator) -> None:
    emulator = await make_emulator(PLAN)
    recorder = emulator.record_events()
    emulator.add_agent(ScriptedAgent("101", contact="sip:101@10.0.0.5:5062"))
    emulator.unregister("101")
    got = [(e.name, *(v for _, v in e.fields)) for e in recorder.events]
    assert got == [
        ("DeviceStateChange", "PJSIP/101", "NOT_INUSE"),
        ("PeerStatus", "PJSIP", "PJSIP/101", "Reachable"),
        ("ContactStatus", "sip:101@10.0.0.5:5062", "NonQualified", "101", "101", "0"),
        ("PeerStatus", "PJSIP", "PJSIP/101", "Unreachable"),
        ("DeviceStateChange", "PJSIP/101", "UNAVAILABLE"),
        ("ContactStatus", "sip:101@10.0.0.5:5062", "Removed", "101", "101", "0"),
    ]
    call, system = "call,all", "system,all"
    assert [e.privilege for e in recorder.events] == [call, system, system, system, call, system]


async def test_answered_call_goes_ringing_inuse_and_back(make_emulator, clock) -> None:
    emulator = await make_emulator(PLAN)
    emulator.add_agent(ScriptedAgent("101", answer_after=1.0, talk_for=3.0))
    recorder = emulator.record_events()
    pat = ScriptedCaller(number="+15550101", name="Pat")
    caller = await emulator.place_call(pat, context="c", exten="101")
    await drive(clock, 10.0)
    devices = [e.get("State") for e in recorder.named("DeviceStateChange") if e.get("Device") == "PJSIP/101"]
    assert devices == ["RINGING", "INUSE", "NOT_INUSE"]
    begin = recorder.named("DialBegin")[0]
    assert _fields(begin, "Channel", "DestCallerIDNum", "DestCallerIDName", "DestConnectedLineNum",
                   "DestContext", "DestExten", "DialString") == (
        caller, "101", "Pat", "+15550101", "sb-agents", "101", "101")
    state = recorder.named("DialState")[0]
    assert _fields(state, "ConnectedLineNum", "DestChannelStateDesc", "DialStatus") == (
        "101", "Ringing", "RINGING")
    enters = recorder.named("BridgeEnter")
    assert [(e.get("Channel", "")[:10], e.get("BridgeNumChannels")) for e in enters] == [
        ("PJSIP/101-", "1"), (caller[:10], "2")]
    agent_leg = enters[0].get("Channel")
    hangups = [(e.get("Channel"), e.get("Cause")) for e in recorder.named("Hangup")]
    assert hangups == [(agent_leg, "16"), (caller, "16")]  # no "g": the caller leaves with the agent
    leaves = [(e.get("Channel"), e.get("BridgeNumChannels")) for e in recorder.named("BridgeLeave")]
    assert leaves == [(agent_leg, "1"), (caller, "0")]


async def test_unregistered_agent_is_unavailable_and_never_rung(make_emulator, clock) -> None:
    emulator = await make_emulator(PLAN)
    emulator.add_agent(ScriptedAgent("102", registered=False))
    recorder = emulator.record_events()
    caller = await emulator.place_call(ScriptedCaller(), context="c", exten="102")
    await drive(clock, 2.0)
    statuses = [e.get("Value") for e in recorder.named("VarSet") if e.get("Variable") == "SB_STATUS"]
    assert statuses == ["CHANUNAVAIL"]
    assert [e.get("Channel") for e in recorder.named("Newchannel")] == [caller]
    hangup = recorder.named("Hangup")[0]
    assert _fields(hangup, "Cause", "Cause-txt") == ("3", "No route to destination")


async def test_agent_who_never_answers_times_out_and_busy_agent_is_busy(make_emulator, clock) -> None:
    emulator = await make_emulator(PLAN)
    emulator.add_agent(ScriptedAgent("103", answer_after=None))
    emulator.add_agent(ScriptedAgent("104", busy=True))
    recorder = emulator.record_events()
    await emulator.place_call(ScriptedCaller(), context="c", exten="103")
    await emulator.place_call(ScriptedCaller(), context="c", exten="104")
    await drive(clock, 10.0)
    statuses = sorted(e.get("Value") for e in recorder.named("VarSet") if e.get("Variable") == "SB_STATUS")
    assert statuses == ["BUSY", "NOANSWER"]
    agent_hangups = {e.get("Channel", "")[:9]: (e.get("ChannelStateDesc"), e.get("Cause"))
                     for e in recorder.named("Hangup") if e.get("Channel", "").startswith("PJSIP/10")}
    assert agent_hangups == {"PJSIP/103": ("Ringing", "0"), "PJSIP/104": ("Down", "17")}


async def test_device_list_and_endpoint_list_over_ami(make_emulator, clock) -> None:
    from tests.sim.emu_helpers import ami_login

    emulator = await make_emulator(PLAN)
    emulator.add_agent(ScriptedAgent("201"))
    emulator.add_endpoint("202")
    wire = await ami_login(emulator)
    ds = wire.send("DeviceStateList")
    ep = wire.send("PJSIPShowEndpoints")
    await wire.wait_for(lambda: [m for m in wire.messages if m.name == "EndpointListComplete"])
    devices = [(m.get("Device"), m.get("State")) for m in wire.messages
               if m.get("ActionID") == ds and m.name == "DeviceStateChange"]
    assert devices == [("PJSIP/201", "NOT_INUSE"), ("PJSIP/202", "UNAVAILABLE")]
    listed = [(m.get("ObjectName"), m.get("DeviceState"), m.get("Contacts")) for m in wire.messages
              if m.get("ActionID") == ep and m.name == "EndpointList"]
    assert listed == [("201", "Not in use", "201/sip:201@127.0.0.1:5070,"), ("202", "Unavailable", "")]
    complete = next(m for m in wire.messages if m.name == "DeviceStateListComplete")
    assert complete.pairs == (("Event", "DeviceStateListComplete"), ("ActionID", ds),
                              ("EventList", "Complete"), ("ListItems", "2"))
    await wire.close()


def test_shipped_pjsip_conf_defines_the_example_agent_not_the_templates() -> None:
    conf = Path(__file__).resolve().parents[2] / "asterisk-conf" / "pjsip.conf"
    endpoints = parse_pjsip_conf(conf.read_text())
    assert [(e.name, e.context, e.aors, e.trunk) for e in endpoints] == [("101", "sb-agents", "101", False)]


def test_golden_pjsip_conf_has_two_agents_and_a_trunk(golden_dir: Path) -> None:
    endpoints = parse_pjsip_conf((golden_dir / "asterisk-config" / "pjsip.conf").read_text())
    assert [(e.name, e.context, e.trunk) for e in endpoints] == [
        ("101", "sb-agents-out", False), ("102", "sb-agents-out", False), ("carrier", "sb-ivr", True)]
