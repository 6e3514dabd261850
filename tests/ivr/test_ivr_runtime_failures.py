"""A caller is never dropped by a bug: internal errors apologise and hand the call to the default queue, and
the IVR record is always closed."""

from __future__ import annotations

import asyncio

import pytest

from ivr.fastagi.errors import AgiProtocolError
from ivr.flows.model import PromptDef
from ivr.runtime import Outcome, RenderedPrompts, texts
from ivr.runtime.channel import rendered_name

SIMPLE = """\
start: menu
apology: sorry
prompts:
  menu: "Press 1 for help."
  sorry: "Our apologies, connecting you to an agent."
nodes:
  menu:
    kind: menu
    prompt: menu
    options: [{dtmf: 1, next: help}]
  help: {kind: subflow, flow: helper, next: q}
  q: {kind: queue, queue: help-desk}
"""
HELPER = "start: r\nnodes:\n  r: {kind: return}\n"


class Recorder:
    def __init__(self, fail: bool = False, hang: bool = False) -> None:
        self.started: list[object] = []
        self.finished: list[object] = []
        self.fail = fail
        self.hang = hang

    async def call_started(self, start) -> None:
        if self.hang:
            await asyncio.sleep(3600)
        if self.fail:
            raise ConnectionError("database down")
        self.started.append(start)

    async def call_finished(self, path) -> None:
        if self.fail:
            raise ConnectionError("database down")
        self.finished.append(path)


def loaded(kit, tmp_path, **flows):
    return kit.flows(tmp_path / "f", **flows)


async def test_missing_sub_flow_at_run_time_apologises_and_uses_the_default_queue(kit, clock, tmp_path):
    flows = dict(loaded(kit, tmp_path, main=SIMPLE, helper=HELPER))
    del flows["helper"]  # e.g. the file was deleted and reloaded while the caller was in the menu
    recorder = Recorder()
    runner = kit.runner(clock, recorder=recorder)
    ch = kit.channel(kit.Press("1"))
    path = await runner.run(ch, flows, "main")
    assert path.outcome == Outcome.ERROR and "sub-flow 'helper' is not loaded" in path.detail
    sorry = f"/var/lib/switchboard/sounds/{rendered_name(flows['main'].spec.prompts['sorry'].say, 'en')}"
    assert ch.played()[-1] == sorry
    req = kit.queue.requests[0]
    assert (req.queue, req.reason) == ("support", "error-fallback")
    assert ch.variables["SB_QUEUE"] == "support"
    assert recorder.finished == [path]


async def test_broken_prompt_renderer_still_gets_the_caller_to_an_agent(kit, clock, tmp_path):
    flows = loaded(kit, tmp_path, main=SIMPLE, helper=HELPER)

    class Broken(RenderedPrompts):
        def files_for(self, prompt: PromptDef, language: str) -> list[str]:
            raise KeyError("voice not installed")

    runner = kit.runner(clock)
    runner.io.prompts = Broken("/x")
    path = await runner.run(kit.channel(), flows, "main")
    assert path.outcome == Outcome.ERROR
    assert [r.reason for r in kit.queue.requests] == ["error-fallback"]


async def test_acd_refusing_the_call_leads_to_the_apology_and_a_second_try(kit, clock, tmp_path):
    flows = loaded(kit, tmp_path, main=SIMPLE, helper=HELPER)
    kit.queue.fail = 1
    path = await kit.runner(clock).run(kit.channel(kit.Press("1")), flows, "main")
    assert path.outcome == Outcome.ERROR and "HandoffError" in path.detail
    assert [(r.queue, r.reason) for r in kit.queue.requests] == [("support", "error-fallback")]


async def test_acd_down_leaves_the_call_parked_for_the_hold_context(kit, clock, tmp_path):
    flows = loaded(kit, tmp_path, main=SIMPLE, helper=HELPER)
    kit.queue.fail = 5
    ch = kit.channel(kit.Press("1"))
    path = await kit.runner(clock).run(ch, flows, "main")
    assert path.outcome == Outcome.ERROR
    assert ch.variables["SB_QUEUE"] == "support" and not ch.hangup_sent


async def test_unknown_flow_apologises_and_queues(kit, clock, tmp_path):
    flows = loaded(kit, tmp_path, main=SIMPLE, helper=HELPER)
    ch = kit.channel()
    path = await kit.runner(clock).run(ch, flows, "no-such-flow")
    assert path.outcome == Outcome.ERROR and "no flow named 'no-such-flow'" in path.detail
    assert ch.commands[0] == "ANSWER"
    assert ch.played() == [f"/var/lib/switchboard/sounds/{rendered_name(texts.APOLOGY, 'en')}"]
    assert kit.queue.requests[0].reason == "error-fallback"


async def test_runaway_loop_is_stopped_and_the_caller_queued(kit, clock, tmp_path):
    flows = loaded(
        kit,
        tmp_path,
        main="""\
        start: count
        nodes:
          count: {kind: set, values: {priority: "+1"}, next: check}
          check: {kind: condition, if: {var: never, eq: "yes"}, then: out, else: count}
          out: {kind: queue}
        """,
    )
    path = await kit.runner(clock, max_steps=50).run(kit.channel(), flows, "main")
    assert path.outcome == Outcome.ERROR and "ran 50 nodes" in path.detail
    assert kit.queue.requests[0].reason == "error-fallback"


async def test_hang_up_during_the_apology_is_recorded(kit, clock, tmp_path):
    flows = dict(loaded(kit, tmp_path, main=SIMPLE, helper=HELPER))
    del flows["helper"]
    path = await kit.runner(clock).run(kit.channel(kit.Press("1"), kit.Hangup()), flows, "main")
    assert path.outcome == Outcome.ERROR and path.detail.endswith("caller hung up during the apology")
    assert kit.queue.requests == []


async def test_lost_connection_closes_the_record_without_an_exception(kit, clock, tmp_path):
    flows = loaded(kit, tmp_path, main=SIMPLE, helper=HELPER)
    ch = kit.channel(kit.Press("1"))

    async def broken(timeout_ms: int) -> str | None:
        raise AgiProtocolError("connection lost")

    ch.wait_for_digit = broken  # type: ignore[method-assign]
    ch.events.clear()
    path = await kit.runner(clock).run(ch, flows, "main")
    assert path.outcome == Outcome.ERROR and "connection to Asterisk lost" in path.detail


async def test_record_store_failures_never_reach_the_caller(kit, clock, tmp_path):
    flows = loaded(kit, tmp_path, main=SIMPLE, helper=HELPER)
    path = await kit.runner(clock, recorder=Recorder(fail=True)).run(
        kit.channel(kit.Press("1")), flows, "main"
    )
    assert path.outcome == Outcome.QUEUED


async def test_a_stuck_record_store_delays_the_call_only_briefly(kit, tmp_path):
    from switchboard.clock import SystemClock

    flows = loaded(kit, tmp_path, main=SIMPLE, helper=HELPER)
    runner = kit.runner(SystemClock(), recorder=Recorder(hang=True), record_timeout=0.05)
    path = await asyncio.wait_for(runner.run(kit.channel(kit.Press("1")), flows, "main"), 2)
    assert path.outcome == Outcome.QUEUED


async def test_cancelled_call_still_writes_its_record(kit, clock, tmp_path):
    flows = loaded(kit, tmp_path, main=SIMPLE, helper=HELPER)
    recorder = Recorder()
    ch = kit.channel()
    started = asyncio.Event()

    async def stuck(timeout_ms: int) -> str | None:
        started.set()
        await asyncio.sleep(3600)
        return None

    ch.wait_for_digit = stuck  # type: ignore[method-assign]
    task = asyncio.create_task(kit.runner(clock, recorder=recorder).run(ch, flows, "main"))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert recorder.finished[0].outcome == Outcome.ERROR
    assert recorder.finished[0].detail.startswith("cancelled at main:menu")


async def test_hostile_caller_id_is_capped_and_harmless(kit, clock, tmp_path):
    flows = loaded(kit, tmp_path, main=SIMPLE, helper=HELPER)
    evil_number = "+1555\x00;DROP TABLE calls" + "9" * 500
    evil_name = "Bob\u202e\x00" + "x" * 1000
    ch = kit.channel(kit.Press("1"), callerid=evil_number, calleridname=evil_name)
    path = await kit.runner(clock).run(ch, flows, "main")
    req = kit.queue.requests[0]
    assert len(req.caller_number) <= 64 and "\x00" not in req.caller_number
    assert len(req.caller_name) <= 128 and "\x00" not in req.caller_name
    assert path.region is None and path.outcome == Outcome.QUEUED
    assert all(
        set(v) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.+-")
        for v in ch.variables.values()
    )
