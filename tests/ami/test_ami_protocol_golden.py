"""The AMI framing parser against every golden transcript, hostile input, and the action encoder."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ami.protocol import AmiMessage, AmiParser, encode_action, parse_stream

GOLDEN_NAMES = [
    "acd-connect",
    "asterisk-restart",
    "basic",
    "callback",
    "controller-down",
    "hold-abandon",
    "ivr-call",
    "ivr-hangup",
    "login-errors",
    "pjsip-agent",
    "rona",
]


def as_tuples(messages: list[AmiMessage]) -> list[tuple]:
    return [(tuple(m.fields.items()), m.duplicates, m.body, m.lossy) for m in messages]


def rechunk(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


def test_every_golden_transcript_parses_the_same_in_original_chunks_and_in_one_chunk(all_transcripts):
    assert sorted(t.path.name.split(".")[0] for t in all_transcripts) == GOLDEN_NAMES
    for transcript in all_transcripts:
        chunked = parse_stream(transcript.server_chunks)
        whole = parse_stream([transcript.server_bytes])
        bytewise = parse_stream([bytes([b]) for b in transcript.server_bytes[:4000]])
        assert as_tuples(chunked) == as_tuples(whole), transcript.path.name
        assert as_tuples(bytewise) == as_tuples(parse_stream([transcript.server_bytes[:4000]]))
        # Every message from a real Asterisk is either a response or an event, and nothing is lost:
        # the number of messages equals the number of "\r\n\r\n" terminators.
        assert len(whole) == transcript.server_bytes.count(b"\r\n\r\n"), transcript.path.name
        assert all(m.is_event or m.is_response for m in whole)


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cuts=st.lists(st.integers(min_value=0, max_value=60_000), max_size=80))
def test_golden_bytes_rechunked_at_random_give_the_same_messages(all_transcripts, cuts):
    for transcript in all_transcripts:
        data = transcript.server_bytes
        expected = as_tuples(parse_stream([data]))
        assert as_tuples(parse_stream(rechunk(data, cuts))) == expected, transcript.path.name


def test_banner_is_read_as_a_line_not_as_a_message(transcript):
    parser = AmiParser()
    assert parser.feed(b"Asterisk Call Man") == []
    assert parser.banner is None
    assert parser.feed(b"ager/11.0.0\r\nResponse: Success\r\nActionID: l1\r\n\r\n")[0].name == "Success"
    assert parser.banner == "Asterisk Call Manager/11.0.0"


def test_getvar_reply_split_across_chunks_keeps_its_value(transcript):
    basic = transcript("basic")
    messages = parse_stream(basic.server_chunks)
    getvar = next(m for m in messages if m.action_id == "gv0")
    assert getvar.fields == {
        "Response": "Success",
        "ActionID": "gv0",
        "Variable": "GLOBAL_SB",
        "Value": "golden-global",
    }
    # The split really is in the transcript: the response header and its Value arrive apart.
    assert any(chunk.endswith(b"ActionID: gv0\r\n") for chunk in basic.server_chunks)


def test_error_with_lf_before_the_terminator_is_one_message_with_a_clean_value(transcript):
    basic = transcript("basic")
    assert any(b"No endpoints found\n\r\n\r\n" in chunk for chunk in basic.server_chunks)
    messages = parse_stream(basic.server_chunks)
    error = next(m for m in messages if m.action_id == "pe1")
    assert error.fields == {"Response": "Error", "ActionID": "pe1", "Message": "No endpoints found"}
    assert error.is_response and not error.is_event


def test_terminator_split_between_chunks_still_ends_the_message(transcript):
    basic = transcript("basic")
    messages = parse_stream(basic.server_chunks)
    names = [m.name for m in messages]
    complete = names.index("DeviceStateListComplete")
    assert messages[complete].fields["ListItems"] == "0"
    assert names[complete + 1] == "Error"  # the PJSIPShowEndpoints reply right after the split "\r\n"


def test_golden_non_utf8_junk_is_in_an_action_not_in_a_reply(transcript):
    basic = transcript("basic")
    sent = b"".join(c.data for c in basic.chunks if c.direction == ">>>")
    assert b"\xff\xfe" in sent
    assert b"\xff" not in basic.server_bytes
    ping = next(m for m in parse_stream(basic.server_chunks) if m.action_id == "multi")
    assert ping.fields["Ping"] == "Pong" and not ping.lossy


def test_latin1_caller_name_and_binary_variable_value_keep_the_event():
    # Where non-UTF-8 really shows up in events: a SIP display name in Latin-1, a variable set from
    # caller input. The message is kept, the bad bytes become U+FFFD and the rest is intact.
    data = (
        b"Asterisk Call Manager/11.0.0\r\n"
        b"Event: Newchannel\r\nChannel: PJSIP/trunk-00000001\r\nCallerIDName: Caf\xe9 Ol\xe9\r\n"
        b"Uniqueid: 1.1\r\n\r\n"
        b"Event: VarSet\r\nChannel: PJSIP/trunk-00000001\r\nVariable: SB_NOTE\r\n"
        b"Value: \xff\xfe\x00ok\r\n\r\n"
    )
    parser = AmiParser()
    messages = [m for i in range(len(data)) for m in parser.feed(data[i : i + 1])]
    assert [m.name for m in messages] == ["Newchannel", "VarSet"]
    assert messages[0].fields["CallerIDName"] == "Caf\ufffd Ol\ufffd"
    assert messages[0].fields["Uniqueid"] == "1.1"
    assert messages[0].lossy
    assert messages[1].fields["Value"] == "\ufffd\ufffd\x00ok"
    assert [p.reason for p in parser.take_problems()] == ["non-UTF-8 bytes replaced"] * 2


def test_utf8_character_split_across_chunks_survives():
    name = "Zoë Ångström".encode()
    data = b"Event: Newchannel\r\nCallerIDName: " + name + b"\r\n\r\n"
    cut = data.index(b"\xc3") + 1  # in the middle of a two-byte character
    messages = parse_stream([data[:cut], data[cut:]], expect_banner=False)
    assert messages[0].fields["CallerIDName"] == "Zoë Ångström"
    assert not messages[0].lossy


def test_garbage_blocks_are_dropped_and_reported_and_parsing_goes_on():
    parser = AmiParser()
    data = (
        b"Asterisk Call Manager/11.0.0\r\n"
        b"\x00\x01garbage without colon\r\n\r\n"
        b"Foo: bar\r\n\r\n"
        b"\r\n\r\n\r\n"
        b"Response: Success\r\nActionID: p1\r\nPing: Pong\r\n\r\n"
    )
    messages = parser.feed(data)
    assert [m.action_id for m in messages] == ["p1"]
    assert [p.reason for p in parser.take_problems()] == ["garbage message dropped"] * 2


def test_lines_without_colon_inside_a_message_are_kept_as_body():
    messages = parse_stream(
        [b"Response: Follows\r\nActionID: c1\r\nsome output\r\n--END COMMAND--\r\n\r\n"], expect_banner=False
    )
    assert messages[0].body == ("some output", "--END COMMAND--")


def test_repeated_headers_keep_every_value():
    messages = parse_stream(
        [b"Event: Status\r\nChanVariable: A=1\r\nChanVariable: B=2\r\nChannel: x\r\n\r\n"],
        expect_banner=False,
    )
    assert messages[0].fields["ChanVariable"] == "A=1"
    assert messages[0].get_all("ChanVariable") == ["A=1", "B=2"]


def test_truncated_message_is_held_back_not_delivered():
    parser = AmiParser(expect_banner=False)
    assert parser.feed(b"Event: Hangup\r\nChannel: PJSIP/1\r\nUniqu") == []
    assert parser.pending_bytes > 0


def test_oversize_message_is_dropped_and_the_next_one_is_parsed():
    parser = AmiParser(expect_banner=False, max_message_bytes=1000)
    assert parser.feed(b"Event: Big\r\nData: " + b"x" * 2000) == []
    assert parser.pending_bytes == 0
    assert parser.feed(b"y" * 500 + b"\r\n\r\nEvent: Small\r\n\r\n")[0].name == "Small"
    assert "dropped" in parser.take_problems()[0].reason


def test_a_non_ami_greeting_is_reported():
    parser = AmiParser()
    parser.feed(b"HTTP/1.1 400 Bad Request\r\n\r\n")
    assert parser.banner == ""
    assert parser.take_problems()[0].reason == "no AMI banner"


@settings(max_examples=200, deadline=None)
@given(chunks=st.lists(st.binary(max_size=200), max_size=20))
def test_arbitrary_bytes_never_crash_the_parser(chunks):
    parser = AmiParser(max_message_bytes=2000)
    for chunk in chunks:
        for message in parser.feed(chunk):
            assert message.is_event or message.is_response
            assert all(isinstance(v, str) for v in message.fields.values())
    assert parser.pending_bytes <= 2000 + 200


header_name = st.text(
    alphabet=st.characters(min_codepoint=33, max_codepoint=126, exclude_characters=":"),
    min_size=1,
    max_size=12,
)
header_value = st.text(
    alphabet=st.characters(exclude_categories=("Cs",), exclude_characters="\r\n"), max_size=30
).filter(lambda v: not v.startswith(" "))


@settings(max_examples=100, deadline=None)
@given(
    events=st.lists(st.dictionaries(header_name, header_value, max_size=6), min_size=1, max_size=8),
    cuts=st.lists(st.integers(min_value=0, max_value=5000), max_size=30),
)
def test_any_well_formed_stream_round_trips_through_any_chunking(events, cuts):
    messages = []
    for i, extra in enumerate(events):
        fields = {"Event": f"E{i}", **{k: v for k, v in extra.items() if k != "Event"}}
        messages.append(fields)
    data = b"".join(
        b"".join(f"{k}: {v}\r\n".encode() for k, v in fields.items()) + b"\r\n" for fields in messages
    )
    parsed = parse_stream(rechunk(data, cuts), expect_banner=False)
    assert [m.fields for m in parsed] == messages


def test_encoder_writes_action_then_action_id_then_fields_and_variables():
    data = encode_action(
        "Originate",
        "o1",
        {"Channel": "Local/ivr-basic@sb-caller", "Async": "true"},
        {"SB_ORIGIN": "golden"},
    )
    assert data == (
        b"Action: Originate\r\nActionID: o1\r\nChannel: Local/ivr-basic@sb-caller\r\nAsync: true\r\n"
        b"Variable: SB_ORIGIN=golden\r\n\r\n"
    )


@pytest.mark.parametrize(
    ("fields", "variables"),
    [
        ({"Channel": "PJSIP/1\r\nAction: Originate"}, None),
        ({"Channel": "PJSIP/1\n"}, None),
        ({"Channel": "PJSIP/1\r"}, None),
        ({"Channel": "PJSIP/1\x00"}, None),
        ({"Bad\r\nKey": "x"}, None),
        ({"Bad: Key": "x"}, None),
        ({"ActionID": "forged"}, None),
        (None, {"SB_X": "a\r\nb"}),
        (None, {"SB_X": "a,SB_Y=b"}),
        (None, {"SB_X=1": "b"}),
        (None, {"SB_X": 'quoted"value'}),
    ],
)
def test_encoder_refuses_values_that_would_inject_headers_or_variables(fields, variables):
    with pytest.raises(ValueError):
        encode_action("Redirect", "r1", fields, variables)


def test_encoder_refuses_cr_lf_in_action_name_and_action_id():
    with pytest.raises(ValueError):
        encode_action("Ping\r\nAction: Originate", "p1")
    with pytest.raises(ValueError):
        encode_action("Ping", "p1\r\nX: y")


def test_encoder_refuses_non_text_values():
    with pytest.raises(TypeError):
        encode_action("Redirect", "r1", {"Priority": 1})  # type: ignore[dict-item]
