"""Every node kind of the flow language, end to end through the emulator: play, ask (falling back to keys),
collect (with `*` noise, a terminator and a Luhn check), condition, set, menu, goto, subflow and return,
transfer (a real Dial to an emulated softphone), callback, queue and hangup."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from sim.scripts import ScriptedAgent, ScriptedCaller
from tests.ivr.e2e.conftest import IN_HOURS, errors_logged

KINDS = """
start: greet
language: en
defaults: {timeout_ms: 4000, retries: 1, invalid_prompt: invalid, timeout_prompt: no-input, queue: support}
prompts:
  greet: "Welcome to the test line."
  why: "Tell us why you are calling."
  account: "Enter your account number, then press hash."
  menu: "Press 1 for a transfer, 2 for a call back, 3 for the help line, 4 for billing, 5 to leave."
  hold: "Please hold."
  cb-done: "We will call you back."
  cb-failed: "We cannot call you back."
  bye: "Goodbye."
  invalid: "Sorry, that is not valid."
  no-input: "Sorry, I did not hear you."
nodes:
  greet: {kind: play, prompt: greet, next: why}
  why: {kind: ask, prompt: why, intents: [{name: billing, say: billing, next: billing}], fallback: account}
  account:
    kind: collect
    prompt: account
    into: account
    min_digits: 6
    max_digits: 12
    terminator: "#"
    validate: {luhn: true}
    next: gold-check
    on_fail: menu
  gold-check: {kind: condition, if: {var: account, matches: "79.*"}, then: gold, else: menu}
  gold: {kind: set, values: {priority: "+30", tier: gold}, next: menu}
  menu:
    kind: menu
    prompt: menu
    options:
      - {dtmf: 1, next: transfer, label: transfer}
      - {dtmf: 2, next: callback, label: callback}
      - {dtmf: 3, next: help, label: help}
      - {dtmf: 4, next: billing, label: billing}
      - {dtmf: 5, next: leave, label: leave}
    on_fail: billing
  transfer: {kind: transfer, to: PJSIP/101, timeout_s: 10, on_fail: billing}
  callback: {kind: callback, prompt: cb-done, on_fail: cb-failed}
  cb-failed: {kind: play, prompt: cb-failed, next: menu}
  help: {kind: subflow, flow: kinds-help, next: menu}
  billing: {kind: queue, queue: billing, skill: billing, prompt: hold}
  leave: {kind: goto, target: bye}
  bye: {kind: hangup, prompt: bye}
"""
HELP = """
start: helped
prompts: {helped: "That was the help line."}
nodes:
  helped: {kind: play, prompt: helped, next: back}
  back: {kind: return}
"""
LUHN_OK = "79927398713"


@pytest.fixture
async def kinds_site(site, tmp_path: Path):
    flows = tmp_path / "kinds-flows"
    flows.mkdir()
    (flows / "kinds.yaml").write_text(textwrap.dedent(KINDS))
    (flows / "kinds-help.yaml").write_text(textwrap.dedent(HELP))
    h = await site(IN_HOURS, flows_dir=flows)
    assert h.ctl.flows.problems == [] and set(h.ctl.flows.names) == {"kinds", "kinds-help"}
    h.emulator.set_global("SB_FLOW", "kinds")
    return h


async def test_a_tour_of_every_node_kind_ends_in_an_answered_transfer(kinds_site, caplog):
    h = kinds_site
    h.emulator.add_agent(ScriptedAgent("101", answer_after=1.0, talk_for=5.0))
    # greet 0.02-1.02; account prompt from 1.02: "*" at 1.5 (noise), the digits, "#" (keys 0.35 s apart, to
    # 6.05); menu 6.05-7.05: 3 = help line at 6.5 (plays 6.5-7.5); menu 7.5-8.5: 1 = transfer at 8.0
    r = await h.call(ScriptedCaller(number="+12125550100", dtmf=[(1.5, f"*7992*{LUHN_OK[4:]}#"), (6.5, "3"),
                                                                  (8.0, "1")]))
    assert r.outcome == "transferred" and "PJSIP/101" in r.row.outcome_detail
    kinds = [s.kind for s in r.steps]
    for kind in ("play", "ask", "collect", "condition", "set", "menu", "subflow", "return", "transfer"):
        assert kind in kinds, kind
    collect = next(s for s in r.steps if s.kind == "collect")
    assert collect.input == "xxxxxxx8713" and collect.result == "ok"  # a Luhn number is masked in records
    assert next(s for s in r.steps if s.kind == "ask").result == "fallback:free-speech-unavailable"
    assert next(s for s in r.steps if s.kind == "condition").result == "true:gold"
    assert r.row.priority == 30
    assert "EXEC Dial \"PJSIP/101,10\"" in r.commands
    assert "DialBegin" in r.event_names() and "BridgeEnter" in r.event_names()
    assert errors_logged(caplog) == []


async def test_wrong_checksum_then_silence_falls_through_to_the_menu_and_goto_ends_the_call(kinds_site):
    h = kinds_site
    # account: "12345678#" fails Luhn (invalid 4.6-5.6, account again 5.6-6.6), then nothing (4 s) -> menu
    # 10.6-11.6: 5 = leave at 11.0 -> goto bye -> hangup
    r = await h.call(ScriptedCaller(number="+12125550100", dtmf=[(1.5, "12345678#"), (11.0, "5")]))
    collect = [s.result for s in r.steps if s.kind == "collect"]
    assert collect == ["invalid:luhn", "timeout"]
    assert [s.kind for s in r.steps][-3:] == ["menu", "goto", "hangup"]
    assert r.outcome == "ended" and r.channel.destroyed


async def test_unanswered_transfer_goes_to_its_on_fail_queue(kinds_site):
    h = kinds_site
    h.emulator.add_agent(ScriptedAgent("101", answer_after=None))  # rings until the Dial gives up
    # no account (timeout at 6.02 -> "no input" -> account again -> timeout at 15.02 -> menu 15.02-16.02)
    r = await h.call(ScriptedCaller(number="+12125550100", dtmf=[(15.5, "1")]))
    transfer = next(s for s in r.steps if s.kind == "transfer")
    assert transfer.result == "noanswer" and transfer.duration_ms >= 10_000
    assert r.outcome == "queued" and r.row.queue == "billing" and r.on_hold


async def test_callback_without_a_usable_number_plays_its_failure_and_returns_to_the_menu(kinds_site):
    h = kinds_site
    # menu at 15.02-16.02 (as above): 2 = callback at 15.5; "cannot call you back" 15.5-16.5; menu 16.5-17.5
    r = await h.call(ScriptedCaller(number="anonymous", dtmf=[(15.5, "2"), (17.0, "4")]))
    assert next(s for s in r.steps if s.kind == "callback").result == "failed"
    assert r.outcome == "queued" and r.row.queue == "billing"
