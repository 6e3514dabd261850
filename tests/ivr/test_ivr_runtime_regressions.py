"""Regression tests for runtime and registry bugs found by the end-to-end tests (tests/ivr/e2e)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from ivr.flows import FlowRegistry
from ivr.runtime import Outcome
from ivr.runtime.channel import rendered_name

V1 = """\
start: hello
prompts: {hi: "Version one."}
nodes:
  hello: {kind: play, prompt: hi, next: out}
  out: {kind: queue, queue: support}
"""


class CountingRegistry(FlowRegistry):
    """Counts the directory scans a watcher makes."""

    scans = 0

    def changed_on_disk(self) -> bool:
        self.scans += 1
        return super().changed_on_disk()


async def test_poll_interval_zero_never_polls_and_never_returns(tmp_path: Path, clock) -> None:
    # ivr.flows_poll_seconds=0 means "never": the watcher used to spin a worker thread in a tight loop
    (tmp_path / "main.yaml").write_text(V1)
    registry = CountingRegistry(tmp_path)
    registry.reload()
    task = asyncio.create_task(registry.watch(clock, interval=0))
    try:
        for _ in range(20):
            await clock.advance(1.0)
            await asyncio.sleep(0.005)
        assert registry.scans == 0
        assert not task.done()  # a returning job would be restarted by the supervisor, again and again
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


MENU = """\
start: intro
prompts: {hello: "Hello.", menu: "Press 1.", wrong: "Wrong key."}
defaults: {invalid_prompt: wrong}
nodes:
  intro: {kind: play, prompt: hello, next: m}
  m: {kind: menu, prompt: menu, options: [{dtmf: 1, next: q}]}
  q: {kind: queue, queue: support}
"""


async def test_hang_up_mid_menu_ends_the_path_with_the_node_the_caller_left(kit, clock, tmp_path) -> None:
    # the path used to stop at the last completed step: a report of where callers give up could not see it
    flows = kit.flows(tmp_path / "flows", main=MENU)
    channel = kit.channel(kit.Press("9"), kit.Hangup())  # a wrong key, then gone during "wrong key"
    path = await kit.runner(clock).run(channel, flows, "main")
    assert path.outcome == Outcome.ABANDONED
    assert [(s.node, s.kind, s.input, s.result) for s in path.steps] == [
        ("intro", "play", None, "m"),
        ("m", "menu", "dtmf:9", "invalid"),
        ("m", "menu", "hangup", "abandoned"),
    ]


VOICE_MENU = """\
start: menu
defaults: {retries: 1, invalid_prompt: wrong, timeout_prompt: nothing}
prompts: {menu: "Say billing or press 1.", wrong: "That is not a choice.", nothing: "I did not hear you."}
nodes:
  menu:
    kind: menu
    prompt: menu
    options: [{dtmf: 1, say: billing, next: billing, label: billing}]
  billing: {kind: queue, queue: billing}
"""


def wav_bytes(tmp_path: Path, *, silent: bool) -> bytes:
    from tests.ivr.conftest import write_wav

    path = tmp_path / ("quiet.wav" if silent else "voice.wav")
    write_wav(path, 1.0, silent=silent)
    return path.read_bytes()


async def test_a_recording_of_silence_is_no_input_not_an_unknown_answer(kit, clock, tmp_path) -> None:
    # RECORD FILE ends on silence and keeps about a second of it: that used to reach the engine, come back
    # as "nothing I know", and the caller who said nothing heard "that is not a choice"
    flows = kit.flows(tmp_path / "flows", main=VOICE_MENU)
    speech = kit.speech()
    channel = kit.channel(kit.RawRecording(wav_bytes(tmp_path, silent=True)), kit.Press("1"), clock=clock)
    path = await kit.runner(clock, speech=speech).run(channel, flows, "main")
    assert path.steps[0].result == "timeout" and speech.calls == []
    nothing = f"/var/lib/switchboard/sounds/{rendered_name('I did not hear you.', 'en')}"
    assert nothing in channel.played()
    assert kit.queue.requests[0].queue == "billing"


async def test_a_quiet_voice_still_goes_to_the_engine(kit, clock, tmp_path) -> None:
    flows = kit.flows(tmp_path / "flows", main=VOICE_MENU)
    speech = kit.speech()
    channel = kit.channel(kit.RawRecording(wav_bytes(tmp_path, silent=False)), kit.Press("1"), clock=clock)
    await kit.runner(clock, speech=speech).run(channel, flows, "main")
    assert len(speech.calls) == 1
