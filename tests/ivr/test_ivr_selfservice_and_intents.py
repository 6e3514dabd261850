"""Self-service scripts (steps, 'did that fix it?', deflection, repeat callers) and phrase matching."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from ivr.runtime import MemorySelfServiceStore, Outcome, SelfService
from ivr.runtime.digits import luhn_ok, mask
from ivr.runtime.intents import PhraseMatcher, normalise, safe_text
from switchboard.clock import ManualClock

SCRIPT = """\
start: fix
defaults: {retries: 1}
prompts:
  s1: "Restart the router."
  s2: "Check the cable."
  s3: "Reset to factory settings."
  ok: "Did that fix it? Say yes or no, or press 1 or 2."
  bye: "Great."
nodes:
  fix:
    kind: script
    steps: [{prompt: s1, check: ok}, {prompt: s2, check: ok}, {prompt: s3, check: ok}]
    resolved: bye
    unresolved: agent
    repeat: vip
    repeat_priority_bump: 7
  bye: {kind: hangup, prompt: bye}
  agent: {kind: queue, queue: support}
  vip: {kind: set, values: {skill: senior}, next: agent}
"""


def runner_for(kit, store, clock, **kw):
    return kit.runner(clock, selfservice=SelfService(store, repeat_window=timedelta(hours=48)), **kw)


async def test_steps_run_in_order_until_the_caller_says_it_worked(kit, tmp_path):
    flows = kit.flows(tmp_path / "f", main=SCRIPT)
    store = MemorySelfServiceStore()
    clock = ManualClock(datetime(2026, 4, 1, 10, 0, tzinfo=UTC))
    runner = runner_for(kit, store, clock, speech=kit.speech())
    ch = kit.channel(kit.Speak("no it is still broken"), kit.Speak("yes it works now"))
    path = await runner.run(ch, flows, "main")
    assert path.outcome == Outcome.RESOLVED and path.resolved_by == "fix"
    checks = [(s.node, s.result) for s in path.steps if s.kind == "script-check"]
    assert checks == [("fix#1", "choice:no"), ("fix#2", "choice:yes")]
    d = await store.deflection("fix")
    assert (d.started, d.resolved, d.rate) == (1, 1, 1.0)


async def test_no_answer_to_the_check_moves_on_and_the_end_is_unresolved(kit, tmp_path):
    flows = kit.flows(tmp_path / "f", main=SCRIPT)
    store = MemorySelfServiceStore()
    clock = ManualClock(datetime(2026, 4, 1, 10, 0, tzinfo=UTC))
    ch = kit.channel(*[kit.Silence()] * 6)
    path = await runner_for(kit, store, clock).run(ch, flows, "main")
    assert path.outcome == Outcome.QUEUED and kit.queue.requests[0].skill != "senior"
    assert [s.node for s in path.steps if s.kind == "script-step"] == ["fix#1", "fix#2", "fix#3"]
    assert (await store.deflection("fix")).rate == 0.0


async def test_repeat_caller_within_the_window_skips_the_script_with_a_bump_and_not_after_it(kit, tmp_path):
    flows = kit.flows(tmp_path / "f", main=SCRIPT)
    store = MemorySelfServiceStore()
    clock = ManualClock(datetime(2026, 4, 1, 10, 0, tzinfo=UTC))
    runner = runner_for(kit, store, clock)
    first = await runner.run(kit.channel(kit.Press("1"), callerid="+15550003333"), flows, "main")
    assert first.outcome == Outcome.RESOLVED
    await clock.advance(47 * 3600)
    second = await runner.run(kit.channel(callerid="+15550003333"), flows, "main")
    assert second.outcome == Outcome.QUEUED
    req = kit.queue.requests[-1]
    assert (req.priority, req.skill) == (7, "senior")
    assert second.steps[0].input == "repeat-caller" and second.steps[0].result == "skipped:+7:vip"
    await clock.advance(2 * 3600)  # 49 h after the fix
    third = await runner.run(kit.channel(kit.Press("1"), callerid="+15550003333"), flows, "main")
    assert third.outcome == Outcome.RESOLVED


async def test_a_failing_self_service_store_never_hurts_the_call(kit, tmp_path):
    flows = kit.flows(tmp_path / "f", main=SCRIPT)

    class Down(MemorySelfServiceStore):
        async def last_resolved(self, script, caller):
            raise ConnectionError("database down")

        async def script_started(self, *a):
            raise ConnectionError("database down")

        async def script_resolved(self, *a):
            raise ConnectionError("database down")

    path = await runner_for(kit, Down(), ManualClock()).run(kit.channel(kit.Press("1")), flows, "main")
    assert path.outcome == Outcome.RESOLVED


# ---- phrase matching ---------------------------------------------------------------------------------------
def test_normalise_handles_odd_unicode():
    assert normalise("  ＲＥＳＴＡＲＴ\u200b my  Röuter!!\x00 ") == "restart my router"
    assert normalise("don't") == "dont"
    assert normalise("\ud800\udfff") == ""
    assert safe_text("a\x00b\nc\u202ed") == "a b c d"


def test_alternates_and_longer_word_forms_match():
    matcher = PhraseMatcher(
        [("tech", ["restart", "reboot", "reset"]), ("agent", ["speak to an agent", "agent"])]
    )
    assert matcher.match("please REBOOT it").choice == "tech"
    assert matcher.match("restarting").choice == "tech"
    assert matcher.match("could I speak to an agent").phrase == "speak to an agent"
    assert matcher.match("agent reset") is None  # two different choices: ambiguous
    assert matcher.match("") is None and matcher.match("bonjour") is None
    assert matcher.grammar == ["restart", "reboot", "reset", "speak to an agent", "agent"]


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_matching_any_transcript_never_fails(text):
    matcher = PhraseMatcher([("a", ["billing", "bill"]), ("b", ["technical support"])])
    result = matcher.match(text)
    assert result is None or result.choice in ("a", "b")
    out = normalise(text)
    assert out == " ".join(out.split()) and len(out) <= 500
    out.encode("utf-8")


def test_luhn_and_masking():
    assert luhn_ok("4111111111111111") and luhn_ok("79927398713")
    assert not luhn_ok("4111111111111112") and not luhn_ok("7") and not luhn_ok("12a4")
    assert mask("4111111111111111") == "xxxxxxxxxxxx1111" and mask("1234") == "xxxx"
