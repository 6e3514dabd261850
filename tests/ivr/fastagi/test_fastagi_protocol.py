"""Quoting, command encoding and reply parsing, without sockets; hypothesis fuzz of the parsers."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ivr.fastagi.errors import AgiArgumentError, AgiProtocolError
from ivr.fastagi.protocol import (
    MAX_COMMAND_BYTES,
    AgiReply,
    ReplyAssembler,
    check_variable_name,
    clean,
    encode_command,
    parse_agi_args,
    parse_reply_line,
    parse_reply_line_slow,
    token_arg,
    value_arg,
)


@pytest.mark.parametrize(
    ("words", "wire"),
    [
        (("STREAM", "FILE", token_arg("beep"), value_arg("")), b'STREAM FILE beep ""\n'),
        (("GET", "DATA", token_arg("beep"), "6000", "4"), b"GET DATA beep 6000 4\n"),
        (("SAY", "DIGITS", "123", value_arg("")), b'SAY DIGITS 123 ""\n'),
        (
            ("RECORD", "FILE", token_arg("/var/spool/asterisk/tmp/sb-golden-rec"), token_arg("wav"),
             value_arg("#"), "4000", "0", "s=2"),
            b'RECORD FILE /var/spool/asterisk/tmp/sb-golden-rec wav "#" 4000 0 s=2\n',
        ),
        (("EXEC", "Playback", value_arg("beep")), b"EXEC Playback beep\n"),
        (("VERBOSE", value_arg("switchboard capture"), "1"), b'VERBOSE "switchboard capture" 1\n'),
        (("SET", "VARIABLE", "SB_TEST", value_arg("hello world")), b'SET VARIABLE SB_TEST "hello world"\n'),
        (
            ("SET", "VARIABLE", "SB_CALL_ID", value_arg("golden-0001")),
            b'SET VARIABLE SB_CALL_ID "golden-0001"\n',
        ),
        (("SET", "VARIABLE", "SB_SKILL", value_arg("billing")), b"SET VARIABLE SB_SKILL billing\n"),
        (("GET", "FULL", "VARIABLE", token_arg("${SB_TEST}")), b"GET FULL VARIABLE ${SB_TEST}\n"),
        (("GET", "VARIABLE", token_arg("CALLERID(num)")), b"GET VARIABLE CALLERID(num)\n"),
    ],
)
def test_commands_are_encoded_like_the_golden_transcripts(words, wire):
    assert encode_command(*words) == wire


@pytest.mark.parametrize(
    ("value", "wire_arg", "asterisk_sees"),
    [
        ('say "hi"', r'"say \"hi\""', 'say "hi"'),
        ("back\\slash", r'"back\\slash"', "back\\slash"),
        ("line\nSET VARIABLE X 1", '"line SET VARIABLE X 1"', "line SET VARIABLE X 1"),
        ("cr\rlf\r\n", '"cr lf  "', "cr lf  "),
        ("a;b$c{d}", '"a;b$c{d}"', "a;b$c{d}"),
        ("${SHELL(id)}", '"${SHELL(id)}"', "${SHELL(id)}"),
        ("nul\x00tab\t", '"nul tab "', "nul tab "),
        ('ends in \\', r'"ends in \\"', "ends in \\"),
        ("ünïcode", '"ünïcode"', "ünïcode"),
    ],
)
def test_hostile_values_stay_inside_one_quoted_argument(value, wire_arg, asterisk_sees):
    line = encode_command("SET", "VARIABLE", "SB_X", value_arg(value))
    assert line == f"SET VARIABLE SB_X {wire_arg}\n".encode()
    assert line.count(b"\n") == 1 and b"\r" not in line and b"\x00" not in line
    assert parse_agi_args(line[:-1].decode()) == ["SET", "VARIABLE", "SB_X", asterisk_sees]


@settings(max_examples=300)
@given(st.text())
def test_any_value_round_trips_through_res_agi_parse_args_as_one_argument(value):
    line = encode_command("SET", "VARIABLE", "SB_X", value_arg(value), "tail")
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert parse_agi_args(line[:-1].decode()) == ["SET", "VARIABLE", "SB_X", clean(value), "tail"]


@settings(max_examples=200)
@given(st.text(min_size=1))
def test_any_token_round_trips_through_res_agi_parse_args(token):
    line = encode_command("STREAM", "FILE", token_arg(token), '""')
    assert line.count(b"\n") == 1
    assert parse_agi_args(line[:-1].decode()) == ["STREAM", "FILE", clean(token), ""]


def test_parse_agi_args_matches_res_agi_on_escapes_and_quotes():
    assert parse_agi_args('A "b c" d') == ["A", "b c", "d"]
    assert parse_agi_args('A ""') == ["A", ""]
    assert parse_agi_args(r"A b\ c") == ["A", "b c"]
    assert parse_agi_args('A ab"c d"e') == ["A", "abc de"]
    assert parse_agi_args("A  \t b") == ["A", "b"]
    assert parse_agi_args(r'A "x\"y"') == ["A", 'x"y']


def test_a_command_longer_than_asterisks_buffer_is_refused():
    fits = encode_command("SET", "VARIABLE", "V", "x" * (MAX_COMMAND_BYTES - len("SET VARIABLE V \n")))
    assert len(fits) == MAX_COMMAND_BYTES
    with pytest.raises(AgiArgumentError, match="exceeds"):
        encode_command("SET", "VARIABLE", "V", "x" * MAX_COMMAND_BYTES)


@pytest.mark.parametrize(
    "name", ["SB_TEST", "CALLERID(num)", "__SB_INHERIT", "CDR(userfield)", "PJSIP_HEADER(read,X-Id)"]
)
def test_valid_variable_names_pass(name):
    assert check_variable_name(name) == name


@pytest.mark.parametrize("name", ["", "A B", "X\nY", "1ABC", "${X}", 'A"', "A(B", "SET VARIABLE"])
def test_invalid_variable_names_are_refused(name):
    with pytest.raises(AgiArgumentError):
        check_variable_name(name)


@pytest.mark.parametrize(
    ("line", "fields"),
    [
        ("200 result=0", (200, "0", None, None)),
        ("200 result=1 (+15551230001)", (200, "1", "+15551230001", None)),
        ("200 result=0 endpos=3404", (200, "0", None, 3404)),
        ("200 result=-1 endpos=0", (200, "-1", None, 0)),
        ("200 result= (timeout)", (200, "", "timeout", None)),
        ("200 result=0 (timeout) endpos=9541", (200, "0", "timeout", 9541)),
        ("200 result=35 (dtmf) endpos=1200", (200, "35", "dtmf", 1200)),
        ("200 result=1 (a (b) c)", (200, "1", "a (b) c", None)),
        ("200 result=1 (unterminated", (200, "1", "unterminated", None)),
        ("510 Invalid or unknown command", (510, "", None, None)),
    ],
)
def test_reply_lines_parse_into_typed_fields(line, fields):
    code, result, data, endpos = fields
    assert parse_reply_line(line) == AgiReply(code, result, data, endpos, line)


@pytest.mark.parametrize(
    "line", ["", "HANGUP", "20 result=0", "200", "200 nothing", "abc 200", "2000 result=1", "２００ result=1"]
)
def test_malformed_reply_lines_raise_protocol_error(line):
    with pytest.raises(AgiProtocolError):
        parse_reply_line(line)


def test_assembler_joins_the_multi_line_520_block_and_skips_100_trying():
    assembler = ReplyAssembler()
    assert assembler.feed("100 result=0 Trying...") is None
    assert assembler.feed("520-Invalid command syntax.  Proper usage follows:") is None
    assert assembler.in_block
    assert assembler.feed("Usage line one") is None
    assert assembler.feed("HANGUP") is None  # inside the block every line is usage text
    reply = assembler.feed("520 End of proper usage.")
    assert reply is not None and reply.code == 520
    assert reply.usage == "Usage line one\nHANGUP"
    assert not assembler.in_block
    single = assembler.feed("520 Invalid command syntax.  Proper usage not available.")
    assert single is not None and single.code == 520 and single.usage == ""


def test_assembler_refuses_an_endless_usage_block():
    assembler = ReplyAssembler()
    assembler.feed("520-Invalid command syntax.  Proper usage follows:")
    with pytest.raises(AgiProtocolError):
        for _ in range(10_000):
            assembler.feed("x" * 100)


@settings(max_examples=300)
@given(st.text())
def test_reply_parser_fuzz_returns_a_reply_or_protocol_error(line):
    try:
        reply = parse_reply_line(line)
    except AgiProtocolError:
        return
    assert 0 <= reply.code <= 999
    reply.result_int()


@settings(max_examples=200)
@given(st.lists(st.one_of(st.text(max_size=40), st.sampled_from(
    ["520-Invalid", "520 End of proper usage.", "200 result=1 (x)", "100 result=0 Trying...", "HANGUP"]
)), max_size=30))
def test_reply_assembler_fuzz_never_raises_anything_but_protocol_error(lines):
    assembler = ReplyAssembler()
    for line in lines:
        try:
            reply = assembler.feed(line)
        except AgiProtocolError:
            continue
        assert reply is None or isinstance(reply, AgiReply)


@settings(max_examples=300)
@given(
    st.text(alphabet="-0123456789 ()endpos=xt", max_size=30),
    st.sampled_from(["200 result=", "200 result=1 (", "200 result=0 endpos="]),
)
def test_fast_reply_path_agrees_with_the_general_parser(tail, head):
    line = head + tail
    try:
        slow = parse_reply_line_slow(line)
    except AgiProtocolError:
        slow = None
    try:
        fast = parse_reply_line(line)
    except AgiProtocolError:
        fast = None
    assert fast == slow
