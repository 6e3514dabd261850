"""The AGI environment parser: golden environments, hostile input, and fuzz."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ivr.fastagi.environment import AgiEnvironment, EnvironmentParser, parse_environment, split_script
from ivr.fastagi.errors import AgiProtocolError


def _golden_env(golden_dir, name: str) -> bytes:
    data = b""
    for text in (golden_dir / "agi" / name).read_text().splitlines():
        if ">>>" in text:
            break
        literal = text.split("<<< ", 1)[1]
        data += bytes(literal, "ascii").decode("unicode_escape").encode("latin-1")
    return data


def test_golden_environment_parses_into_typed_fields(golden_dir):
    env = parse_environment(_golden_env(golden_dir, "sip-caller.agi.txt"))
    assert env.network_script == "ivr-basic"
    assert env.request == "agi://127.0.0.1:4573/ivr-basic"
    assert env.channel == "PJSIP/carrier-00000000"
    assert env.type == "PJSIP"
    assert env.uniqueid == "1795397069.0"
    assert env.callerid == "+15557770001"
    assert env.calleridname == "Hidden Caller"
    assert env.accountcode == ""
    assert env.priority == "2"
    assert env.args == ()
    assert env.raw["agi_dnid"] == "ivr-basic"
    assert env.route == "ivr-basic" and env.route_rest == ""


def test_arguments_come_from_agi_arg_n_in_order_up_to_the_first_gap():
    env = parse_environment(
        b"agi_network_script: ivr/main\nagi_arg_2: second\nagi_arg_1: first\nagi_arg_4: orphan\n\n"
    )
    assert env.args == ("first", "second")
    assert env.raw["agi_arg_4"] == "orphan"


@pytest.mark.parametrize(
    ("script", "route", "rest"),
    [
        ("ivr/main", "ivr", "main"),
        ("ivr-basic", "ivr-basic", ""),
        ("/ivr/billing/vip?x=1", "ivr", "billing/vip"),
        ("", "", ""),
        ("hold?pos=1", "hold", ""),
    ],
)
def test_route_is_the_first_path_segment(script, route, rest):
    assert split_script(script) == (route, rest)


def test_invalid_utf8_is_replaced_and_reported():
    parser = EnvironmentParser()
    assert not parser.feed_line(b"agi_calleridname: \xff\xfeBob")
    assert parser.feed_line(b"")
    assert parser.environment().calleridname == "\ufffd\ufffdBob"
    assert parser.warnings and "invalid UTF-8" in parser.warnings[0]


def test_duplicate_key_rejects_the_environment():
    # a caller ID name holding "\nagi_network_script: admin" must not be able to choose the route
    with pytest.raises(AgiProtocolError, match="twice"):
        parse_environment(b"agi_network_script: ivr/main\nagi_calleridname: x\nagi_network_script: admin\n\n")


def test_lines_that_are_not_agi_keys_are_skipped_with_a_warning():
    parser = EnvironmentParser()
    lines = (b"agi_network_script: ivr/main", b"no colon here", b"Other: x", b"agi_type: Local\r", b"")
    for raw in lines:
        parser.feed_line(raw)
    env = parser.environment()
    assert env.network_script == "ivr/main" and env.type == "Local"
    assert len(parser.warnings) == 2


def test_environment_over_the_byte_limit_is_refused():
    parser = EnvironmentParser(max_bytes=1024)
    with pytest.raises(AgiProtocolError, match="exceeds"):
        for i in range(100):
            parser.feed_line(f"agi_arg_{i + 1}: {'x' * 40}".encode())


def test_environment_without_blank_line_is_incomplete():
    with pytest.raises(AgiProtocolError):
        parse_environment(b"agi_network_script: ivr/main\n")


def test_empty_environment_gives_empty_fields():
    assert parse_environment(b"\n") == AgiEnvironment()


@settings(max_examples=300)
@given(st.binary(max_size=400))
def test_environment_parser_fuzz_only_ever_raises_protocol_error(data):
    try:
        env = parse_environment(data + b"\n\n", max_bytes=4096)
    except AgiProtocolError:
        return
    for value in (env.network_script, env.callerid, *env.args):
        assert "\n" not in value


@settings(max_examples=200)
@given(st.lists(st.tuples(st.from_regex(r"agi_[a-z_]{1,12}", fullmatch=True),
                          st.text(max_size=30).filter(lambda v: "\n" not in v)), max_size=12))
def test_environment_parser_keeps_every_well_formed_value_and_refuses_duplicates(pairs):
    data = b"".join(f"{k}: {v}".encode() + b"\n" for k, v in pairs) + b"\n"
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        with pytest.raises(AgiProtocolError):
            parse_environment(data)
        return
    env = parse_environment(data)
    for key, value in pairs:
        assert env.raw[key] == (value[:-1] if value.endswith("\r") else value)
