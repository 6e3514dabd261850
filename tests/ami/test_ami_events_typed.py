"""Every consumed event in the golden transcripts parses into its typed class with the right values."""

from __future__ import annotations

import dataclasses

import pytest

from ami.consumed import CONSUMED_EVENTS
from ami.events import (
    EVENT_TYPES,
    AmiEvent,
    AmiResponse,
    BridgeCreate,
    BridgeEnter,
    ContactStatus,
    CoreShowChannel,
    CoreShowChannelsComplete,
    DeviceStateChange,
    DeviceStateListComplete,
    DialBegin,
    DialEnd,
    DialState,
    FullyBooted,
    Hangup,
    MixMonitorStart,
    MixMonitorStop,
    MusicOnHoldStart,
    Newchannel,
    OriginateResponse,
    PeerStatus,
    Shutdown,
    Status,
    StatusComplete,
    VarSet,
    parse_event,
)
from ami.protocol import parse_stream


def golden_events(transcript, name: str) -> list[AmiEvent]:
    messages = parse_stream(transcript.server_chunks)
    return [parse_event(m, 1.5) for m in messages if m.is_event]


def test_every_consumed_name_has_a_typed_class():
    assert set(EVENT_TYPES) == CONSUMED_EVENTS
    for name, cls in EVENT_TYPES.items():
        assert cls.__name__ == name


def test_every_consumed_event_in_the_golden_files_parses_to_its_class(all_transcripts):
    seen: set[str] = set()
    for transcript in all_transcripts:
        for message in parse_stream(transcript.server_chunks):
            if not message.is_event:
                continue
            event = parse_event(message, 2.0)
            assert event.name == message.fields["Event"]
            assert event.received_at == 2.0
            assert dict(event.fields) == message.fields
            if event.name in CONSUMED_EVENTS:
                assert type(event) is EVENT_TYPES[event.name]
                seen.add(event.name)
                # Every typed attribute that comes from a header present in the event is filled in.
                for f in dataclasses.fields(event):
                    header = f.metadata.get("header")
                    if header and header in message.fields and message.fields[header]:
                        assert getattr(event, f.name) not in ("", None), (event.name, f.name)
            else:
                assert type(event) is AmiEvent
    # MixMonitorStop never happens in the captures (the call hangs up with MixMonitor running).
    assert seen == CONSUMED_EVENTS - {"MixMonitorStop"}


def test_channel_events_carry_typed_snapshots(transcript):
    events = golden_events(transcript("acd-connect"), "acd-connect")
    first = next(e for e in events if isinstance(e, Newchannel))
    assert first.channel == "Local/hold-caller@sb-caller-00000003;1"
    assert first.channel_state == 0 and first.channel_state_desc == "Down"
    assert first.uniqueid == first.linkedid == "1795396042.6"
    assert first.priority == 1
    assert first.caller_id_num == "<unknown>"
    assert first.account_code == ""

    hangup = next(e for e in events if isinstance(e, Hangup))
    assert hangup.cause == 16 and hangup.cause_txt == "Normal Clearing"

    moh = next(e for e in events if isinstance(e, MusicOnHoldStart))
    assert moh.music_class == "default" and moh.context == "sb-hold"

    mixmon = next(e for e in events if isinstance(e, MixMonitorStart))
    assert mixmon.channel == "Local/hold-caller@sb-caller-00000003;1" and mixmon.context == "sb-connect"

    varsets = [e for e in events if isinstance(e, VarSet) and e.consumed]
    assert [(v.variable, v.value) for v in varsets][:2] == [
        ("SB_CALL_ID", "golden-0001"),
        ("SB_SKILL", "billing"),
    ]
    assert not next(e for e in events if isinstance(e, VarSet) and e.variable == "AGISTATUS").consumed

    bridge = next(e for e in events if isinstance(e, BridgeCreate))
    assert bridge.bridge_type == "basic" and bridge.bridge_num_channels == 0
    enter = next(e for e in events if isinstance(e, BridgeEnter))
    assert enter.bridge_uniqueid == bridge.bridge_uniqueid
    assert enter.channel.startswith("Local/agent-answer@sb-agent") and enter.bridge_num_channels == 1

    originate = next(e for e in events if isinstance(e, OriginateResponse))
    assert originate.action_id == "o2" and originate.success and originate.reason == 4
    assert originate.uniqueid == "1795396042.6"


def test_dial_events_with_and_without_a_calling_channel(transcript):
    events = golden_events(transcript("rona"), "rona")
    begins = [e for e in events if isinstance(e, DialBegin)]
    assert not begins[0].has_caller  # the Dial of the Originate itself
    agent_dial = next(e for e in begins if e.has_caller)
    assert agent_dial.channel == "Local/hold-caller@sb-caller-00000005;1"
    assert agent_dial.dest_channel == "Local/agent-noanswer@sb-agent-00000006;1"
    assert agent_dial.dial_string == "agent-noanswer@sb-agent"
    state = next(e for e in events if isinstance(e, DialState))
    assert state.dial_status == "RINGING" and state.dest_channel_state == 5
    noanswer = [e for e in events if isinstance(e, DialEnd) and e.dial_status == "NOANSWER"]
    assert len(noanswer) == 1 and noanswer[0].dest_uniqueid == "1795396066.12"


def test_softphone_events(transcript):
    events = golden_events(transcript("pjsip-agent"), "pjsip-agent")
    contact = [e for e in events if isinstance(e, ContactStatus)]
    assert [(c.aor, c.contact_status) for c in contact] == [("101", "NonQualified"), ("101", "Removed")]
    assert contact[0].uri == "sip:101@127.0.0.1:5070" and contact[0].roundtrip_usec == 0
    peers = [e for e in events if isinstance(e, PeerStatus)]
    assert [(p.peer, p.peer_status) for p in peers] == [
        ("PJSIP/101", "Reachable"),
        ("PJSIP/101", "Unreachable"),
    ]
    states = [e.state for e in events if isinstance(e, DeviceStateChange) and e.device == "PJSIP/101"]
    assert states[0] == "NOT_INUSE" and "RINGING" in states and states[-1] == "UNAVAILABLE"


def test_session_and_list_events(transcript):
    restart = golden_events(transcript("asterisk-restart"), "asterisk-restart")
    booted = restart[0]
    assert isinstance(booted, FullyBooted) and booted.uptime == 379 and booted.last_reload == 153
    shutdown = restart[1]
    assert isinstance(shutdown, Shutdown) and shutdown.restart and shutdown.shutdown == "Cleanly"

    acd = golden_events(transcript("acd-connect"), "acd-connect")
    listed = [e for e in acd if isinstance(e, CoreShowChannel)]
    assert [c.application for c in listed] == ["MusicOnHold", "Wait"]
    assert listed[0].duration_seconds == 3 and listed[0].bridge_id == "" and listed[0].action_id == "csc2"
    complete = next(e for e in acd if isinstance(e, CoreShowChannelsComplete))
    assert complete.list_items == 2 and complete.event_list == "Complete"

    callback = golden_events(transcript("callback"), "callback")
    status = next(e for e in callback if isinstance(e, Status))
    assert status.application == "MusicOnHold" and status.seconds == 3 and status.type == "Local"
    status_complete = next(e for e in callback if isinstance(e, StatusComplete))
    assert status_complete.items == 1 and status_complete.list_items == 1
    failed = [e for e in callback if isinstance(e, OriginateResponse) and not e.success]
    assert {e.channel for e in failed} == {"PJSIP/102", "PJSIP/nosuchendpoint"}
    assert all(e.timestamp and e.timestamp > 1.7e9 for e in failed)  # timestampevents = yes

    basic = golden_events(transcript("basic"), "basic")
    assert isinstance(next(e for e in basic if e.name == "DeviceStateListComplete"), DeviceStateListComplete)


def test_missing_or_bad_numbers_become_none_not_errors():
    event = parse_event({"Event": "Hangup", "Channel": "PJSIP/1", "Cause": "sixteen", "Priority": ""})
    assert isinstance(event, Hangup)
    assert event.cause is None and event.priority is None and event.channel_state is None
    assert event.uniqueid == ""


def test_mixmonitor_stop_is_typed_even_without_a_golden_sample():
    event = parse_event({"Event": "MixMonitorStop", "Channel": "PJSIP/101-00000001", "Uniqueid": "9.9"})
    assert isinstance(event, MixMonitorStop) and event.uniqueid == "9.9"


def test_unknown_events_stay_plain_and_keep_all_headers():
    event = parse_event({"Event": "Newexten", "Application": "AGI"})
    assert type(event) is AmiEvent and event.get("Application") == "AGI" and event.get("Nope") == ""


def test_events_are_read_only_so_one_subscriber_cannot_change_what_another_sees():
    event = parse_event({"Event": "Hangup", "Channel": "PJSIP/1"})
    with pytest.raises(TypeError):
        event.fields["Channel"] = "other"  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.channel = "other"  # type: ignore[misc]


def test_responses_report_success_and_message(transcript):
    messages = parse_stream(transcript("callback").server_chunks)
    missing = AmiResponse.from_message(next(m for m in messages if m.action_id == "h-missing"))
    assert not missing.success and missing.message == "No such channel" and missing.status == "Error"
    goodbye = AmiResponse.from_message(next(m for m in messages if m.action_id == "lo-cb"))
    assert goodbye.success and goodbye.status == "Goodbye"
