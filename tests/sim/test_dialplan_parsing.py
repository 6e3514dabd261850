"""extensions.conf parsing, pattern matching, substitution and $[...] expressions."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.dialplan import Dialplan, DialplanError
from sim.expressions import evaluate, is_true, split_args, substitute

SAMPLE = """
[general]
static = yes

[globals]
GREETING = hello world
SB_FLOW=main

[in]
exten => _X.,1,NoOp(number ${EXTEN})
 same => n(ask),Playback(beep)        ; a comment
 same => n,GotoIf($["${X}" = "1"]?ask:done)
 same => n(done),Hangup()
exten => 100,1,NoOp(literal wins)
exten => _[a-z].,1,NoOp(word)
exten => _a.,1,NoOp(starts with a)
exten => s,1,Set(Y=a\\;b)
include => more

[more]
exten => *9,1,NoOp(from include)
"""


def test_parser_reads_contexts_priorities_labels_and_globals() -> None:
    plan = Dialplan.parse(SAMPLE)
    assert set(plan.contexts) == {"in", "more"}
    assert plan.globals == {"GREETING": "hello world", "SB_FLOW": "main"}
    step = plan.find("in", "5551234", 3)
    assert step is not None and step.app == "GotoIf" and step.data == '$["${X}" = "1"]?ask:done'
    assert plan.label("in", "5551234", "ask") == 2
    assert plan.label("in", "5551234", "done") == 4
    assert plan.find("in", "5551234", 5) is None
    assert plan.find("in", "s", 1).data == "Y=a;b"  # type: ignore[union-attr]


def test_literal_extension_beats_pattern_and_specific_pattern_beats_general() -> None:
    plan = Dialplan.parse(SAMPLE)
    assert plan.find("in", "100", 1).data == "literal wins"  # type: ignore[union-attr]
    assert plan.find("in", "abc", 1).data == "starts with a"  # type: ignore[union-attr]
    assert plan.find("in", "ivr-basic", 1).data == "word"  # type: ignore[union-attr]
    assert plan.find("in", "*9", 1).data == "from include"  # type: ignore[union-attr]
    assert plan.extension("in", "Z") is None


def test_golden_and_shipped_dialplans_parse(golden_dir: Path) -> None:
    golden = Dialplan.load(golden_dir / "asterisk-config" / "extensions.conf")
    assert golden.find("sb-connect", "s", 2).app == "MixMonitor"  # type: ignore[union-attr]
    assert golden.find("sb-ivr", "ivr-basic", 2).app == "AGI"  # type: ignore[union-attr]
    assert golden.find("sb-agentq", "agent7", 1).app == "Wait"  # type: ignore[union-attr]
    shipped = Dialplan.load(Path(__file__).resolve().parents[2] / "asterisk-conf" / "extensions.conf")
    for context in ("sb-inbound", "sb-ivr-entry", "sb-hold", "sb-connect"):
        assert context in shipped.contexts
    assert shipped.label("sb-connect", "s", "rona") is not None


@pytest.mark.parametrize("text", [
    "[ctx]\nexten => 1\n",
    "[ctx]\nsame => n,NoOp()\n",
    "[ctx]\nexten => 1,x,NoOp()\n",
    "exten => 1,1,NoOp()\n",
    "[ctx]\nexten => _[ab,1,NoOp()\n",
])
def test_malformed_dialplan_is_rejected_with_its_line(text: str) -> None:
    with pytest.raises(DialplanError, match=r":\d+:"):
        Dialplan.parse(text, source="bad.conf")


@settings(max_examples=200)
@given(st.text(alphabet="0123456789", min_size=2, max_size=15))
def test_x_dot_pattern_matches_every_number_of_two_digits_or_more(number: str) -> None:
    plan = Dialplan.parse("[c]\nexten => _X.,1,NoOp()\n")
    assert plan.extension("c", number) is not None


@settings(max_examples=200)
@given(st.text(alphabet="abcxyz019-", min_size=1, max_size=12))
def test_lowercase_pattern_matches_only_words_starting_with_a_letter(word: str) -> None:
    plan = Dialplan.parse("[c]\nexten => _[a-z].,1,NoOp()\n")
    expected = len(word) >= 2 and word[0].isalpha()
    assert (plan.extension("c", word) is not None) == expected


def test_substitution_of_variables_functions_and_substrings() -> None:
    values = {"EXTEN": "ivr-basic", "NAME": "Golden", "CALLERID(num)": "+15551230001", "EMPTY": ""}

    def resolve(body: str) -> str | None:
        return values.get(body)

    assert substitute("IVR entry ${EXTEN}", resolve) == "IVR entry ivr-basic"
    assert substitute("${CALLERID(num)}", resolve) == "+15551230001"
    assert substitute("${EXTEN:4}|${EXTEN:0:3}|${EXTEN:-5}", resolve) == "basic|ivr|basic"
    assert substitute("[${MISSING}]", resolve) == "[]"
    assert substitute('$["${EXTEN}" = "ivr-to-hold"]', resolve) == "0"
    assert substitute('$["${NAME}" = "Golden"]', resolve) == "1"
    assert substitute("${NA${EMPTY}ME}", resolve) == "Golden"


@pytest.mark.parametrize(("expr", "result"), [
    ('"a" = "a"', "1"), ('"a" != "a"', "0"), ("2 < 10", "1"), ('"2" < "10"', "1"), ("abc < abd", "1"),
    ("1 + 2", "3"), ("7 / 2", "3"), ("3*4", "12"), ("10 % 4", "2"), ('"" = ""', "1"),
    ('"NOANSWER" = "NOANSWER" | "x" = "y"', "1"), ("0 & 1", "0"), ("!0", "1"), ("(1 + 2) * 3", "9"),
    ("1 ? yes :: no", "yes"), ("0 ? yes :: no", "no"), ("", ""),
])
def test_expressions_evaluate_like_asterisk(expr: str, result: str) -> None:
    assert evaluate(expr) == result


@pytest.mark.parametrize(("value", "truth"),
                         [("", False), ("0", False), ("1", True), ("no", True), (" 0 ", False)])
def test_conditions_follow_pbx_checkcondition(value: str, truth: bool) -> None:
    assert is_true(value) is truth


def test_arguments_split_on_commas_outside_quotes_and_brackets() -> None:
    assert split_args("Local/a@b,20") == ["Local/a@b", "20"]
    assert split_args('"a,b",c') == ["a,b", "c"]
    assert split_args("$[1,2],FUNC(x,y),z") == ["$[1,2]", "FUNC(x,y)", "z"]
    assert split_args(r"a\,b,c") == ["a,b", "c"]
    assert split_args("") == []


@settings(max_examples=200)
@given(st.lists(st.text(alphabet="abcXYZ019 /@.-", max_size=8), min_size=1, max_size=6))
def test_split_args_round_trips_plain_arguments(parts: list[str]) -> None:
    assert split_args(",".join(parts)) == ([] if parts == [""] else parts)
