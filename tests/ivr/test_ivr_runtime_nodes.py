"""Every node kind on a scripted in-memory caller: prompts, menus, digits, conditions, hand-offs."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from ivr.runtime import Outcome

MENU = """\
start: menu
defaults: {retries: 2, timeout_ms: 4000}
prompts:
  menu: "Press 1 for billing, 2 for support."
  keys: "Press 1 for billing, 2 for support (keys only)."
  oops: "Not a choice."
  quiet: "I heard nothing."
nodes:
  menu:
    kind: menu
    prompt: menu
    keypad_prompt: keys
    invalid_prompt: oops
    timeout_prompt: quiet
    options:
      - {dtmf: 1, say: billing / bill, next: billing, label: billing}
      - {dtmf: 2, say: support, next: support, set: {region: emea, priority: "+3"}}
    on_fail: failed
  billing: {kind: queue, queue: billing, skill: billing}
  support: {kind: queue, queue: support, skill: internet}
  failed: {kind: queue, queue: operators, reason: menu-gave-up}
"""


def prompt_file(flows, flow: str, key: str) -> str:
    from ivr.runtime.channel import rendered_name

    text = flows[flow].spec.prompts[key].say
    return f"/var/lib/switchboard/sounds/{rendered_name(text, 'en')}"


async def run(kit, clock, flows, *script, flow="main", **kw):
    runner = kit.runner(
        clock,
        **{
            k: v for k, v in kw.items() if k in ("speech", "selfservice", "callbacks", "observer", "recorder")
        },
    )
    channel = kit.channel(*script, **{k: v for k, v in kw.items() if k in ("callerid", "missing_files")})
    path = await runner.run(channel, flows, flow)
    return path, channel


# ---- play / menu ----------------------------------------------------------------------------------------
async def test_menu_key_press_routes_to_the_option(kit, clock, tmp_path):
    flows = kit.flows(tmp_path / "f", main=MENU)
    path, ch = await run(kit, clock, flows, kit.Press("1"))
    assert path.outcome == Outcome.QUEUED
    assert kit.queue.requests[0].queue == "billing" and kit.queue.requests[0].skill == "billing"
    menu_step = path.steps[0]
    assert (menu_step.node, menu_step.kind, menu_step.input, menu_step.result) == (
        "menu",
        "menu",
        "dtmf:1",
        "choice:billing",
    )
    # without speech the keys-only prompt is played, interruptible by the option keys
    assert ch.commands[1] == f"STREAM FILE {prompt_file(flows, 'main', 'keys')} 12"


async def test_menu_option_sets_variables(kit, clock, tmp_path):
    flows = kit.flows(tmp_path / "f", main=MENU)
    _path, ch = await run(kit, clock, flows, kit.Press("2"))
    req = kit.queue.requests[0]
    assert (req.region, req.priority, req.skill) == ("emea", 3, "internet")
    assert ch.variables["SB_REGION"] == "emea" and ch.variables["SB_PRIORITY"] == "3"


async def test_menu_invalid_key_plays_invalid_prompt_and_retries(kit, clock, tmp_path):
    flows = kit.flows(tmp_path / "f", main=MENU)
    path, ch = await run(kit, clock, flows, kit.Press("9"), kit.Press("2"))
    assert [s.result for s in path.steps[:2]] == ["invalid", "choice:2"]
    assert prompt_file(flows, "main", "oops") in ch.played()
    assert kit.queue.requests[0].queue == "support"


async def test_menu_timeout_plays_no_input_prompt_and_retries(kit, clock, tmp_path):
    flows = kit.flows(tmp_path / "f", main=MENU)
    path, ch = await run(kit, clock, flows, kit.Silence(), kit.Press("1"))
    assert [s.result for s in path.steps[:2]] == ["timeout", "choice:billing"]
    assert prompt_file(flows, "main", "quiet") in ch.played()
    assert "WAIT FOR DIGIT 4000" in ch.commands


async def test_menu_gives_up_after_the_retries_and_goes_to_on_fail(kit, clock, tmp_path):
    flows = kit.flows(tmp_path / "f", main=MENU)
    path, _ = await run(kit, clock, flows, kit.Silence(), kit.Press("7"), kit.Silence())
    assert [s.result for s in path.steps[:3]] == ["timeout", "invalid", "timeout"]
    assert kit.queue.requests[0].queue == "operators" and kit.queue.requests[0].reason == "menu-gave-up"


async def test_menu_without_on_fail_hands_the_caller_to_the_default_queue(kit, clock, tmp_path):
    flows = kit.flows(
        tmp_path / "f",
        main=MENU.replace("    on_fail: failed\n", "").replace(
            "  failed: {kind: queue, queue: operators, reason: menu-gave-up}\n", ""
        ),
    )
    path, _ = await run(kit, clock, flows, kit.Silence(), kit.Silence(), kit.Silence())
    assert path.outcome == Outcome.QUEUED
    assert kit.queue.requests[0].queue == "support" and kit.queue.requests[0].reason == "menu-failed:menu"


async def test_key_pressed_during_the_invalid_prompt_is_taken_as_the_answer(kit, clock, tmp_path):
    flows = kit.flows(tmp_path / "f", main=MENU)
    _path, _ = await run(kit, clock, flows, kit.Press("9"), kit.Press("1"))
    assert kit.queue.requests[0].queue == "billing"


async def test_play_node_plays_prompts_in_order(kit, clock, tmp_path):
    flows = kit.flows(
        tmp_path / "f",
        main="""\
        start: a
        prompts: {one: "One.", two: "Two."}
        nodes:
          a: {kind: play, prompt: [one, two], next: q}
          q: {kind: queue}
        """,
    )
    path, ch = await run(kit, clock, flows)
    assert ch.played() == [prompt_file(flows, "main", "one"), prompt_file(flows, "main", "two")]
    assert path.steps[0].kind == "play" and path.steps[0].result == "q"


async def test_missing_sound_file_falls_back_to_the_rendered_text_then_goes_on(kit, clock, tmp_path):
    flows = kit.flows(
        tmp_path / "f",
        main="""\
        start: a
        prompts:
          hello: {file: custom/hello, say: "Hello."}
          gone: {file: custom/gone}
        nodes:
          a: {kind: play, prompt: [hello, gone], next: q}
          q: {kind: queue}
        """,
    )
    path, ch = await run(kit, clock, flows, missing_files=["custom/hello", "custom/gone"])
    assert ch.played() == ["custom/hello", prompt_file(flows, "main", "hello"), "custom/gone"]
    assert path.outcome == Outcome.QUEUED


# ---- collect digits -------------------------------------------------------------------------------------
COLLECT = """\
start: card
defaults: {retries: 1}
prompts: {ask: "Card number, then hash.", bad: "That number is not valid."}
nodes:
  card:
    kind: collect
    prompt: ask
    into: card
    min_digits: 13
    max_digits: 19
    validate: {luhn: true}
    invalid_prompt: bad
    read_back: false
    next: done
    on_fail: failed
  done: {kind: queue, queue: payments}
  failed: {kind: queue, queue: operators}
"""


async def test_collect_accepts_a_luhn_valid_number_and_masks_it_in_the_record(kit, clock, tmp_path):
    flows = kit.flows(tmp_path / "f", main=COLLECT)
    path, _ = await run(kit, clock, flows, kit.Press("4111111111111111#"))
    assert kit.queue.requests[0].queue == "payments"
    assert path.steps[0].input == "xxxxxxxxxxxx1111" and path.steps[0].result == "ok"
    # the card number itself never leaves the IVR
    assert "card" not in kit.queue.requests[0].variables
    assert "card" not in path.variables


async def test_collect_ignores_star_and_hash_noise(kit, clock, tmp_path):
    flows = kit.flows(tmp_path / "f", main=COLLECT.replace("validate: {luhn: true}", "sensitive: false"))
    path, _ = await run(kit, clock, flows, kit.Press("#41*11111111*111111#"))
    assert path.steps[0].input == "#41*11111111*111111"
    assert kit.queue.requests[0].variables["card"] == "4111111111111111"


async def test_collect_rejects_a_bad_checksum_then_gives_up(kit, clock, tmp_path):
    flows = kit.flows(tmp_path / "f", main=COLLECT)
    path, ch = await run(kit, clock, flows, kit.Press("4111111111111112#"), kit.Press("1234#"))
    assert [s.result for s in path.steps[:2]] == ["invalid:luhn", "invalid:too-short:4"]
    assert prompt_file(flows, "main", "bad") in ch.played()
    assert kit.queue.requests[0].queue == "operators"


async def test_collect_stops_at_max_digits_and_validates_a_regex(kit, clock, tmp_path):
    flows = kit.flows(
        tmp_path / "f",
        main="""\
        start: zip
        prompts: {ask: "Your five digit zip code."}
        nodes:
          zip:
            kind: collect
            prompt: ask
            into: zip
            min_digits: 5
            max_digits: 5
            validate: {regex: "9[0-9]{4}"}
            read_back: true
            next: done
          done: {kind: queue}
        """,
    )
    _path, ch = await run(kit, clock, flows, kit.Press("902107"))
    assert kit.queue.requests[0].variables["zip"] == "90210"
    assert "SAY DIGITS 90210" in ch.commands


async def test_collect_with_star_terminator(kit, clock, tmp_path):
    flows = kit.flows(
        tmp_path / "f",
        main="""\
        start: pin
        prompts: {ask: "PIN then star."}
        nodes:
          pin: {kind: collect, prompt: ask, into: pin, max_digits: 8, terminator: "*", next: done}
          done: {kind: queue}
        """,
    )
    await run(kit, clock, flows, kit.Press("12#34*"))
    assert kit.queue.requests[0].variables["pin"] == "1234"


async def test_collect_timeout_without_digits_retries_then_default_queue(kit, clock, tmp_path):
    flows = kit.flows(
        tmp_path / "f",
        main=COLLECT.replace("    on_fail: failed\n", "").replace(
            "  failed: {kind: queue, queue: operators}\n", ""
        ),
    )
    path, _ = await run(kit, clock, flows, kit.Silence(), kit.Silence())
    assert [s.result for s in path.steps[:2]] == ["timeout", "timeout"]
    assert kit.queue.requests[0].reason == "collect-failed:card"


# ---- condition / set / goto / sub-flow ----------------------------------------------------------------
async def test_condition_on_variables_and_set(kit, clock, tmp_path):
    flows = kit.flows(
        tmp_path / "f",
        main="""\
        start: s
        nodes:
          s: {kind: set, values: {tier: gold, spend: 1200, skill: sales, language: fr, priority: 5}, next: c}
          c:
            kind: condition
            if:
              all:
                - {var: tier, in: [gold, platinum]}
                - {var: spend, gt: 1000}
                - {not: {var: missing, set: true}}
            then: g
            else: q
          g: {kind: goto, target: bump}
          bump: {kind: set, values: {priority: "+10"}, next: q}
          q: {kind: queue}
        """,
    )
    path, _ = await run(kit, clock, flows)
    req = kit.queue.requests[0]
    assert (req.skill, req.language, req.priority, req.variables["tier"]) == ("sales", "fr", 15, "gold")
    assert [s.kind for s in path.steps] == ["set", "condition", "goto", "set", "queue"]
    assert path.steps[1].result == "true:g"


async def test_sub_flow_returns_to_the_caller_flow(kit, clock, tmp_path):
    flows = kit.flows(
        tmp_path / "f",
        main="""\
        start: sub
        nodes:
          sub: {kind: subflow, flow: helper, next: q}
          q: {kind: queue, queue: after-helper}
        """,
        helper="""\
        start: s
        nodes:
          s: {kind: set, values: {helped: true}, next: r}
          r: {kind: return}
        """,
    )
    path, _ = await run(kit, clock, flows)
    assert kit.queue.requests[0].queue == "after-helper"
    assert kit.queue.requests[0].variables["helped"] == "true"
    assert [(s.flow, s.node) for s in path.steps] == [
        ("main", "sub"),
        ("helper", "s"),
        ("helper", "r"),
        ("main", "q"),
    ]


async def test_return_in_a_top_level_flow_ends_the_call(kit, clock, tmp_path):
    flows = kit.flows(tmp_path / "f", main="start: r\nnodes:\n  r: {kind: return}\n")
    path, _ = await run(kit, clock, flows)
    assert path.outcome == Outcome.ENDED and kit.queue.requests == []


# ---- hand-offs --------------------------------------------------------------------------------------------
async def test_queue_sets_channel_variables_then_enqueues(kit, clock, tmp_path):
    flows = kit.flows(
        tmp_path / "f",
        main="""\
        start: q
        prompts: {hold: "Please hold."}
        nodes:
          q: {kind: queue, queue: billing, skill: billing, priority: 7, prompt: hold, reason: "menu:billing"}
        """,
    )
    path, ch = await run(kit, clock, flows, callerid="+442071234567")
    req = kit.queue.requests[0]
    assert (req.call_id, req.channel, req.uniqueid, req.caller_number) == (
        ch.call_id,
        "PJSIP/carrier-00000001",
        "1795395982.2",
        "+442071234567",
    )
    assert (req.queue, req.skill, req.priority, req.reason, req.vip) == (
        "billing",
        "billing",
        7,
        "menu:billing",
        False,
    )
    assert ch.variables == {
        "SB_CALL_ID": ch.call_id,
        "SB_QUEUE": "billing",
        "SB_SKILL": "billing",
        "SB_REGION": "",
        "SB_PRIORITY": "7",
    }
    sets = [i for i, c in enumerate(ch.commands) if c.startswith("SET VARIABLE")]
    assert sets and max(sets) == len(ch.commands) - 1  # nothing runs on the channel after the hand-off
    assert path.outcome == Outcome.QUEUED and path.queue == "billing"


async def test_transfer_answered(kit, clock, tmp_path):
    flows = kit.flows(
        tmp_path / "f",
        main="""\
        start: t
        nodes:
          t: {kind: transfer, to: PJSIP/200, timeout_s: 20, on_fail: q}
          q: {kind: queue}
        """,
    )
    path, ch = await run(kit, clock, flows, kit.DialOutcome("ANSWER"))
    assert "EXEC Dial PJSIP/200,20" in ch.commands
    assert path.outcome == Outcome.TRANSFERRED and kit.queue.requests == []


async def test_transfer_not_answered_goes_to_on_fail(kit, clock, tmp_path):
    flows = kit.flows(
        tmp_path / "f",
        main="""\
        start: t
        nodes:
          t: {kind: transfer, to: PJSIP/200, on_fail: q}
          q: {kind: queue, queue: fallback}
        """,
    )
    path, _ = await run(kit, clock, flows, kit.DialOutcome("NOANSWER"))
    assert path.outcome == Outcome.QUEUED and kit.queue.requests[0].queue == "fallback"
    assert path.steps[0].result == "noanswer"


async def test_transfer_answered_then_caller_hangs_up_is_still_a_transfer(kit, clock, tmp_path):
    flows = kit.flows(tmp_path / "f", main="start: t\nnodes:\n  t: {kind: transfer, to: PJSIP/200}\n")
    path, _ = await run(kit, clock, flows, kit.DialOutcome("ANSWER-THEN-HANGUP"))
    assert path.outcome == Outcome.TRANSFERRED


@pytest.mark.parametrize(
    ("number_var", "script", "expected"),
    [
        (None, (), "+15551230001"),
        ("cb", ("02071234567#",), "+442071234567"),
    ],
)
async def test_callback_request(kit, clock, tmp_path, number_var, script, expected):
    collect = (
        "  n: {kind: collect, prompt: ask, into: cb, min_digits: 10, max_digits: 15, next: cb}\n"
        if number_var
        else ""
    )
    flows = kit.flows(
        tmp_path / "f",
        main=f"""\
start: {"n" if number_var else "cb"}
prompts: {{ask: "Your number.", thanks: "We will call you back."}}
nodes:
{collect}  cb: {{kind: callback, {"number_var: cb, " if number_var else ""}queue: callbacks, prompt: thanks}}
""",
    )
    channel_kw = {"callerid": "+15551230001"}
    runner = kit.runner(clock, default_country="GB" if number_var else "US")
    ch = kit.channel(*[kit.Press(s) for s in script], **channel_kw)
    path = await runner.run(ch, flows, "main")
    assert path.outcome == Outcome.CALLBACK
    assert [r.number for r in kit.callbacks.requests] == [expected]
    assert kit.callbacks.requests[0].queue == "callbacks"
    assert ch.hangup_sent


async def test_callback_without_a_usable_number_goes_to_on_fail(kit, clock, tmp_path):
    flows = kit.flows(
        tmp_path / "f",
        main="""\
        start: cb
        nodes:
          cb: {kind: callback, on_fail: q}
          q: {kind: queue, queue: instead}
        """,
    )
    _path, _ = await run(kit, clock, flows, callerid="anonymous")
    assert kit.callbacks.requests == [] and kit.queue.requests[0].queue == "instead"


async def test_callback_without_a_callback_service_goes_to_the_default_queue(kit, clock, tmp_path):
    flows = kit.flows(tmp_path / "f", main="start: cb\nnodes:\n  cb: {kind: callback}\n")
    path, _ = await run(kit, clock, flows, callbacks=None)
    assert path.outcome == Outcome.QUEUED and kit.queue.requests[0].reason == "callback-failed:cb"


async def test_hangup_node_plays_then_hangs_up(kit, clock, tmp_path):
    flows = kit.flows(
        tmp_path / "f",
        main="""\
        start: bye
        prompts: {bye: "Goodbye."}
        nodes:
          bye: {kind: hangup, prompt: bye}
        """,
    )
    path, ch = await run(kit, clock, flows)
    assert path.outcome == Outcome.ENDED
    assert ch.commands[-2:] == [f"STREAM FILE {prompt_file(flows, 'main', 'bye')} ", "HANGUP"]


async def test_ivr_path_records_timings_from_the_clock(kit, clock, tmp_path):
    flows = kit.flows(tmp_path / "f", main=MENU)
    runner = kit.runner(clock)
    ch = kit.channel(kit.Press("1"))
    original = ch.stream_file

    async def slow_prompt(filename, escape_digits=""):
        await clock.sleep(2.5)
        return await original(filename, escape_digits)

    ch.stream_file = slow_prompt  # type: ignore[method-assign]
    task = asyncio.create_task(runner.run(ch, flows, "main"))
    while not task.done():
        await clock.advance(0.5)
    path = task.result()
    assert path.steps[0].duration_ms == 2500
    assert path.start.started == datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    assert path.ended == datetime(2026, 1, 5, 9, 0, 2, 500000, tzinfo=UTC)
