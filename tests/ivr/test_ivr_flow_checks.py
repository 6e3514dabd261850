"""`switchboard flows check`: every bad flow file is reported with its file, line and a plain reason."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ivr.flows import check_paths, format_problem, parse_flow_bytes
from ivr.flows.problems import FlowProblem
from ivr.flows.schema import SCHEMA_PATH, flow_json_schema, schema_text
from ivr.flows.yamlmarks import load_marked

REPO = Path(__file__).resolve().parents[2]

GOOD = """\
start: menu
prompts:
  hello: "Hello."
  bye: "Goodbye."
nodes:
  menu:
    kind: menu
    prompt: hello
    options:
      - {dtmf: 1, say: billing / bill, next: billing}
      - {dtmf: 2, next: bye}
  billing:
    kind: queue
    queue: billing
  bye:
    kind: hangup
    prompt: bye
"""


def write(tmp_path: Path, text: str, name: str = "flow.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems_of(tmp_path: Path, text: str, name: str = "flow.yaml", **kw: object) -> list[FlowProblem]:
    path = write(tmp_path, text, name)
    return check_paths([path], **kw)  # type: ignore[arg-type]


def only(problems: list[FlowProblem]) -> FlowProblem:
    assert len(problems) == 1, [format_problem(p) for p in problems]
    return problems[0]


def test_a_good_flow_has_no_problems(tmp_path):
    assert problems_of(tmp_path, GOOD) == []


def test_shipped_default_flows_pass_the_check():
    assert [format_problem(p) for p in check_paths([REPO / "flows"])] == []


def test_problem_is_formatted_as_file_line_reason():
    assert (
        format_problem(FlowProblem("flows/main.yaml", 12, "unknown node 'x'"))
        == "flows/main.yaml:12: unknown node 'x'"
    )
    assert (
        format_problem(FlowProblem("flows/big.yaml", None, "file is too large"))
        == "flows/big.yaml: file is too large"
    )


# ---- YAML and schema errors -------------------------------------------------------------------------------
def test_yaml_syntax_error_points_at_its_line(tmp_path):
    p = only(problems_of(tmp_path, "start: a\nnodes:\n  a: {kind: hangup\n  b: 1\n"))
    assert p.line == 4 and "YAML syntax error" in p.reason
    assert p.file.endswith("flow.yaml")


def test_unknown_key_is_reported_on_its_line(tmp_path):
    text = GOOD.replace("    queue: billing\n", "    queue: billing\n    qeueu: typo\n")
    p = only(problems_of(tmp_path, text))
    assert p.line == 15
    assert p.reason == "node 'billing': unknown key 'qeueu'"


def test_unknown_node_kind_is_reported(tmp_path):
    text = GOOD.replace("kind: queue", "kind: enqueue")
    p = only(problems_of(tmp_path, text))
    assert p.line == 13
    assert "unknown node kind 'enqueue'" in p.reason and "menu" in p.reason


def test_missing_required_key_is_reported(tmp_path):
    text = GOOD.replace("      - {dtmf: 2, next: bye}", "      - {dtmf: 2}")
    p = only(problems_of(tmp_path, text))
    assert p.line == 11 and p.reason == "node 'menu' options #2: missing required key 'next'"


def test_duplicate_key_is_reported_with_both_lines(tmp_path):
    text = GOOD.replace('  bye: "Goodbye."\n', '  bye: "Goodbye."\n  hello: "Hi again."\n')
    p = only(problems_of(tmp_path, text))
    assert p.line == 5 and p.reason == "duplicate key 'hello' (first at line 3)"


def test_several_schema_errors_are_all_reported(tmp_path):
    text = GOOD.replace("kind: queue", "kind: queue\n    colour: red").replace(
        "prompt: bye", "prompt: bye\n    size: 3"
    )
    problems = problems_of(tmp_path, text)
    assert [(p.line, p.reason) for p in problems] == [
        (14, "node 'billing': unknown key 'colour'"),
        (19, "node 'bye': unknown key 'size'"),
    ]


def test_bad_values_get_plain_reasons(tmp_path):
    text = GOOD.replace("    queue: billing\n", "    queue: billing\n    priority: 999\n")
    p = only(problems_of(tmp_path, text))
    assert p.line == 15 and "priority" in p.reason and "100" in p.reason


def test_bad_regex_in_collect_is_reported(tmp_path):
    text = """\
    start: acct
    prompts: {ask: "Your account number?"}
    nodes:
      acct:
        kind: collect
        prompt: ask
        into: account
        validate: {regex: "[0-9"}
        next: done
      done: {kind: hangup}
    """
    p = only(problems_of(tmp_path, text))
    assert p.line == 8 and "regex does not compile" in p.reason


def test_bad_business_hours_are_reported(tmp_path):
    text = """\
    start: c
    hours:
      office:
        timezone: Mars/Olympus
        weekly: {mon-fri: "09:00-17:00"}
      shop:
        timezone: Europe/Paris
        weekly: {funday: "25:00-26:00"}
    nodes:
      c: {kind: condition, if: {open: office}, then: d, else: d}
      d: {kind: hangup}
    """
    problems = problems_of(tmp_path, text)
    reasons = [(p.line, p.reason) for p in problems]
    assert (4, "hours.office.timezone: unknown time zone 'Mars/Olympus'") in reasons
    assert any(line == 6 and "unknown day 'funday'" in reason for line, reason in reasons)


def test_file_that_is_not_a_mapping_is_reported(tmp_path):
    p = only(problems_of(tmp_path, "- just\n- a list\n"))
    assert p.line == 1 and "must be a mapping" in p.reason


def test_empty_file_is_reported(tmp_path):
    p = only(problems_of(tmp_path, ""))
    assert p.reason == "the file is empty"


def test_huge_file_is_refused_without_parsing(tmp_path):
    path = tmp_path / "huge.yaml"
    path.write_text("start: a\n" + "# padding\n" * 40_000, encoding="utf-8")
    p = only(check_paths([path], max_bytes=64 * 1024))
    assert p.line is None and "too large" in p.reason


def test_non_utf8_file_is_reported_with_its_line(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes(GOOD.encode() + "  caf\xe9: 1\n".encode("latin-1"))
    p = only(check_paths([path]))
    assert p.line == 18 and p.reason == "the file is not UTF-8 text"


def test_alias_bomb_is_refused(tmp_path):
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        prev = f"*a{i - 1}"
        lines.append(f"a{i}: &a{i} [{', '.join([prev] * 10)}]")
    p = only(problems_of(tmp_path, "\n".join(lines) + "\n"))
    assert "too complex" in p.reason


def test_custom_yaml_tags_are_refused(tmp_path):
    p = only(problems_of(tmp_path, "start: !!python/object:os.system a\nnodes: {a: {kind: hangup}}\n"))
    assert p.line == 1 and "unsupported YAML tag" in p.reason


def test_flow_name_must_match_the_file_name(tmp_path):
    p = only(problems_of(tmp_path, "flow: other\n" + GOOD, name="main.yaml"))
    assert p.line == 1 and "does not match the file name 'main'" in p.reason


def test_yes_no_and_times_stay_words_in_flow_files():
    data, lines = load_marked("say: [yes, no, on]\nat: 9:00\ndtmf: 1\nflag: true\nnone: ~\n")
    assert data == {"say": ["yes", "no", "on"], "at": "9:00", "dtmf": 1, "flag": True, "none": None}
    assert lines.line_of(("say", 2)) == 1 and lines.line_of(("flag",)) == 4


# ---- graph errors ----------------------------------------------------------------------------------------
def test_unknown_start_node(tmp_path):
    p = only(problems_of(tmp_path, GOOD.replace("start: menu", "start: mneu")))
    assert p.line == 1 and p.reason == "start points to unknown node 'mneu'"


def test_menu_option_pointing_nowhere(tmp_path):
    problems = problems_of(tmp_path, GOOD.replace("next: billing}", "next: biling}"))
    reasons = {(p.line, p.reason) for p in problems}
    assert (10, "menu 'menu' option 1 points nowhere: there is no node 'biling'") in reasons
    assert (12, "node 'billing' is unreachable from start 'menu'") in reasons


def test_unknown_node_in_next(tmp_path):
    text = (
        GOOD.replace("      - {dtmf: 2, next: bye}", "      - {dtmf: 2, next: thanks}")
        + """\
  thanks:
    kind: play
    prompt: bye
    next: byebye
"""
    )
    problems = problems_of(tmp_path, text)
    assert (21, "node 'thanks' next: unknown node 'byebye'") in [(p.line, p.reason) for p in problems]


def test_unreachable_node(tmp_path):
    text = GOOD + "  orphan:\n    kind: hangup\n"
    p = only(problems_of(tmp_path, text))
    assert p.line == 18 and p.reason == "node 'orphan' is unreachable from start 'menu'"


def test_missing_prompt(tmp_path):
    p = only(problems_of(tmp_path, GOOD.replace("prompt: bye", "prompt: farewell")))
    assert p.line == 17
    assert p.reason == "missing prompt 'farewell': not under prompts: and no recording by that name"


def test_recorded_file_counts_as_a_prompt_when_it_exists(tmp_path):
    sounds = tmp_path / "sounds"
    (sounds / "en").mkdir(parents=True)
    (sounds / "en" / "farewell.wav").write_bytes(b"RIFF")
    text = GOOD.replace("prompt: bye", "prompt: farewell")
    assert problems_of(tmp_path, text, recordings_dirs=[sounds]) == []


def test_prompt_with_only_a_missing_recording_is_missing(tmp_path):
    sounds = tmp_path / "sounds"
    sounds.mkdir()
    text = GOOD.replace('  bye: "Goodbye."', "  bye: {file: custom/goodbye}")
    p = only(problems_of(tmp_path, text, recordings_dirs=[sounds]))
    assert p.line == 4 and p.reason == "missing prompt 'bye': no recording 'custom/goodbye' and no say: text"


def test_loop_with_no_exit(tmp_path):
    text = """\
    start: a
    prompts: {p: "Hello."}
    nodes:
      a: {kind: play, prompt: p, next: b}
      b: {kind: goto, target: c}
      c: {kind: set, values: {x: 1}, next: a}
    """
    p = only(problems_of(tmp_path, text))
    assert p.line == 4
    assert (
        p.reason == "loop with no exit: a -> b -> c -> a never reaches a queue, transfer, callback or hang-up"
    )


def test_loop_through_a_menu_with_an_exit_is_fine(tmp_path):
    text = """\
    start: m
    prompts: {p: "Press 1 to hear this again, 2 for an agent."}
    nodes:
      m:
        kind: menu
        prompt: p
        options: [{dtmf: 1, next: again}, {dtmf: 2, next: agent}]
        on_fail: m
      again: {kind: goto, target: m}
      agent: {kind: queue}
    """
    assert problems_of(tmp_path, text) == []


def test_menu_whose_every_way_out_loops_back_is_a_loop_with_no_exit(tmp_path):
    text = """\
    start: m
    prompts: {p: "Press 1."}
    nodes:
      m:
        kind: menu
        prompt: p
        options: [{dtmf: 1, next: m}]
        on_fail: m
    """
    p = only(problems_of(tmp_path, text))
    assert p.reason.startswith("loop with no exit: m -> m")


def test_duplicate_menu_keys_and_phrases(tmp_path):
    text = GOOD.replace("{dtmf: 2, next: bye}", "{dtmf: 1, say: bill, next: bye}")
    reasons = [p.reason for p in problems_of(tmp_path, text)]
    assert "menu 'menu': key 1 is used by two options" in reasons
    assert "menu 'menu': phrase 'bill' is used by two options" in reasons


def test_unknown_hours_and_vip_list(tmp_path):
    text = """\
    start: c
    nodes:
      c: {kind: condition, if: {any: [{open: office}, {vip: gold}]}, then: d, else: d}
      d: {kind: hangup}
    """
    reasons = [p.reason for p in problems_of(tmp_path, text)]
    assert "node 'c': unknown business hours 'office' (define it under hours:)" in reasons
    assert "node 'c': unknown VIP list 'gold' (define it under vip_lists:)" in reasons


def test_bad_vip_number_is_reported(tmp_path):
    text = """\
    start: d
    vip_lists:
      gold: ["+15557770100", "call me maybe"]
    nodes:
      d: {kind: hangup}
    """
    p = only(problems_of(tmp_path, text))
    assert p.line == 3 and "'call me maybe' is not a phone number" in p.reason


def test_unknown_sub_flow_and_sub_flow_cycles(tmp_path):
    write(tmp_path, "start: s\nnodes:\n  s: {kind: subflow, flow: b}\n", "a.yaml")
    write(tmp_path, "start: s\nnodes:\n  s: {kind: subflow, flow: a}\n", "b.yaml")
    write(tmp_path, "start: s\nnodes:\n  s: {kind: subflow, flow: nowhere}\n", "c.yaml")
    problems = check_paths([tmp_path])
    text = [format_problem(p) for p in problems]
    assert f"{tmp_path / 'c.yaml'}:3: node 's': sub-flow 'nowhere' not found" in text
    assert f"{tmp_path / 'a.yaml'}:3: sub-flow cycle: 'a' calls 'b', which leads back to 'a'" in text
    assert f"{tmp_path / 'b.yaml'}:3: sub-flow cycle: 'b' calls 'a', which leads back to 'b'" in text


def test_check_paths_reports_missing_paths_and_empty_directories(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    problems = check_paths([tmp_path / "nope.yaml", empty])
    assert [(p.file, p.reason) for p in problems] == [
        (str(tmp_path / "nope.yaml"), "no such file or directory"),
        (str(empty), "no flow files (*.yaml) in this directory"),
    ]


# ---- the published schema ----------------------------------------------------------------------------------
def test_shipped_schema_equals_the_generated_one():
    assert SCHEMA_PATH.read_text(encoding="utf-8") == schema_text(), "run: python -m ivr.flows.schema"


def test_published_schema_accepts_the_default_flows_and_rejects_unknown_keys():
    schema = flow_json_schema()
    validator = jsonschema.Draft202012Validator(schema)
    for path in sorted((REPO / "flows").glob("*.yaml")):
        data, _ = load_marked(path.read_text(encoding="utf-8"))
        data = json.loads(json.dumps(data, default=str))
        errors = list(validator.iter_errors(data))
        assert errors == [], (path, [e.message for e in errors][:3])
    bad, _ = load_marked(GOOD + "  x: {kind: hangup, colour: red}\n")
    assert list(validator.iter_errors(bad))


# ---- property: no input crashes the loader ----------------------------------------------------------------
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=400) | st.text(max_size=400).map(str.encode))
def test_any_bytes_give_problems_or_a_flow_never_an_exception(data):
    parsed, problems = parse_flow_bytes(data, Path("fuzz.yaml"))
    assert (parsed is None) == bool(problems)
    for p in problems:
        assert p.reason and (p.line is None or p.line >= 1)


@pytest.mark.parametrize(
    "snippet",
    [
        "nodes: 3",
        "nodes: {a: 3}",
        "nodes: {a: {kind: 3}}",
        "start: [1]",
        "prompts: {p: {say: [1]}}",
        "nodes: {a: {kind: menu, options: {}}}",
    ],
)
def test_wrong_shapes_get_a_line_and_a_reason(snippet):
    parsed, problems = parse_flow_bytes(f"start: a\n{snippet}\n".encode(), Path("shape.yaml"))
    assert parsed is None and problems
    assert all(p.line is not None and p.reason for p in problems)
