"""Speech in menus: grammar from the flow's phrases, free speech with intents, and the keypad alternative
within 1 s whenever the engine is missing, slow or broken. Caller recordings never outlive recognition."""

from __future__ import annotations

import asyncio
import time

from ivr.runtime import Outcome, texts
from ivr.runtime.channel import rendered_name
from switchboard.clock import SystemClock

SOUNDS = "/var/lib/switchboard/sounds"

MENU = """\
start: menu
defaults: {retries: 1}
prompts:
  menu: "Say billing or press 1. Say restart or press 2."
  keys: "Press 1 for billing, 2 for a restart."
nodes:
  menu:
    kind: menu
    prompt: menu
    keypad_prompt: keys
    options:
      - {dtmf: 1, say: billing / bill / invoice, next: billing, label: billing}
      - {dtmf: 2, say: restart / reboot / reset, next: second, label: restart}
  second:
    kind: menu
    prompt: menu
    keypad_prompt: keys
    options:
      - {dtmf: 1, say: billing, next: billing}
      - {dtmf: 2, say: restart, next: support}
  billing: {kind: queue, queue: billing}
  support: {kind: queue, queue: support}
"""

ASK = """\
start: why
prompts:
  why: "Tell us why you are calling."
  menu: "Press 1 for billing, 2 for support."
nodes:
  why:
    kind: ask
    prompt: why
    intents:
      - {name: billing, say: bill / invoice / payment, next: billing}
      - {name: internet, say: router / internet is down / restart, next: support, set: {skill: internet}}
    fallback: menu
  menu:
    kind: menu
    prompt: menu
    options:
      - {dtmf: 1, say: billing, next: billing}
      - {dtmf: 2, say: support, next: support}
  billing: {kind: queue, queue: billing}
  support: {kind: queue, queue: support}
"""


def text_file(text: str) -> str:
    return f"{SOUNDS}/{rendered_name(text, 'en')}"


def prompt(flows, key: str) -> str:
    return text_file(flows["main"].spec.prompts[key].say)


def index_of(commands: list[str], prefix: str, start: int = 0) -> int:
    return next(i for i in range(start, len(commands)) if commands[i].startswith(prefix))


async def run(kit, clock, flows, speech, *script, **runner_kw):
    runner = kit.runner(clock, speech=speech, **runner_kw)
    channel = kit.channel(*script, clock=clock)
    path = await runner.run(channel, flows, "main")
    return path, channel


# ---- grammar menus ------------------------------------------------------------------------------------
async def test_menu_by_voice_uses_a_grammar_of_the_flow_phrases(kit, clock, tmp_path):
    flows = kit.flows(tmp_path / "f", main=MENU)
    speech = kit.speech()
    path, ch = await run(kit, clock, flows, speech, kit.Speak("billing please"))
    kind, wav, phrases, deadline = speech.calls[0]
    assert kind == "grammar" and deadline == 0.8
    assert set(phrases) == {"billing", "bill", "invoice", "restart", "reboot", "reset"}
    assert wav.parent == kit.spool_dir and wav.name == f"{ch.call_id}-1.wav"
    assert kit.queue.requests[0].queue == "billing"
    step = path.steps[0]
    assert (step.input, step.recognised, step.confidence, step.result) == (
        "speech",
        "billing",
        0.9,
        "choice:billing",
    )
    record = ch.commands[index_of(ch.commands, "RECORD FILE")]
    assert record == f"RECORD FILE /var/spool/asterisk/tmp/{ch.call_id}-1 wav #12 6000 0 s=2"


async def test_alternate_phrases_select_the_same_option(kit, clock, tmp_path):
    flows = kit.flows(tmp_path / "f", main=MENU)
    path, _ = await run(kit, clock, flows, kit.speech(), kit.Speak("reboot"), kit.Speak("restart"))
    assert [s.result for s in path.steps[:2]] == ["choice:restart", "choice:2"]
    assert kit.queue.requests[0].queue == "support"


async def test_key_press_while_listening_wins(kit, clock, tmp_path):
    flows = kit.flows(tmp_path / "f", main=MENU)
    speech = kit.speech()
    _path, _ch = await run(kit, clock, flows, speech, kit.Silence(), kit.Press("1"))
    # the prompt played fully (silence), then the caller pressed 1 while the IVR recorded
    assert kit.queue.requests[0].queue == "billing" and speech.calls == []


async def test_low_confidence_gets_one_reprompt_then_counts(kit, clock, tmp_path):
    flows = kit.flows(tmp_path / "f", main=MENU)
    path, ch = await run(
        kit, clock, flows, kit.speech(), kit.Speak("billing", 0.3), kit.Speak("billing", 0.8)
    )
    assert [s.result for s in path.steps[:2]] == ["unsure", "choice:billing"]
    assert text_file(texts.REPROMPT) in ch.played()
    # the reprompt replaces the menu prompt for the second try
    assert ch.played().count(prompt(flows, "menu")) == 1


async def test_unsure_twice_counts_as_invalid_and_uses_a_retry(kit, clock, tmp_path):
    flows = kit.flows(tmp_path / "f", main=MENU)
    path, _ = await run(
        kit,
        clock,
        flows,
        kit.speech(),
        kit.Speak("billing", 0.2),
        kit.Speak("billing", 0.2),
        kit.Speak("bill", 0.9),
    )
    assert [s.result for s in path.steps[:3]] == ["unsure", "unsure", "choice:billing"]


async def test_words_outside_the_grammar_are_invalid_input(kit, clock, tmp_path):
    flows = kit.flows(tmp_path / "f", main=MENU)
    path, ch = await run(kit, clock, flows, kit.speech(), kit.Speak("pizza"), kit.Speak("invoice"))
    assert [s.result for s in path.steps[:2]] == ["invalid", "choice:billing"]
    assert text_file(texts.INVALID) in ch.played()


async def test_odd_unicode_in_a_transcript_is_normalised(kit, clock, tmp_path):
    flows = kit.flows(tmp_path / "f", main=ASK)
    speech = kit.speech()
    path, _ = await run(kit, clock, flows, speech, kit.Speak("ＢＩＬＬ\u200b\x00 — s'il vous plaît 🙂\ud800"))
    assert kit.queue.requests[0].queue == "billing"
    recognised = path.steps[0].recognised
    assert "\x00" not in recognised and "\u200b" not in recognised and "\ud800" not in recognised


# ---- the keypad alternative -----------------------------------------------------------------------------
async def test_engine_that_crashes_gives_the_keypad_at_once_and_speech_stays_off(kit, clock, tmp_path):
    flows = kit.flows(tmp_path / "f", main=MENU)
    speech = kit.speech(mode="raise")
    path, ch = await run(kit, clock, flows, speech, kit.Speak("billing"), kit.Press("2"), kit.Press("1"))
    assert path.steps[0].result == "choice:restart (speech error, keypad used)"
    rec = index_of(ch.commands, "RECORD FILE")
    assert ch.commands[rec + 1] == f"STREAM FILE {prompt(flows, 'keys')} 12"
    assert ch.times[rec + 1] - ch.times[rec] == 0
    # the next menu does not try speech again on this call
    assert sum(c.startswith("RECORD FILE") for c in ch.commands) == 1
    assert kit.queue.requests[0].queue == "billing"
    assert list(kit.spool_dir.iterdir()) == []


async def test_engine_past_its_deadline_gives_the_keypad_within_one_second(kit, clock, tmp_path):
    flows = kit.flows(tmp_path / "f", main=MENU)
    speech = kit.speech(mode="sleep", sleeper=clock.sleep)
    runner = kit.runner(clock, speech=speech)
    ch = kit.channel(kit.Speak("billing"), kit.Press("1"), clock=clock)
    task = asyncio.create_task(runner.run(ch, flows, "main"))
    for _ in range(200):
        if task.done():
            break
        await clock.advance(0.05)
    path = task.result()
    rec = index_of(ch.commands, "RECORD FILE")
    keypad = index_of(ch.commands, "STREAM FILE", rec)
    assert ch.commands[keypad] == f"STREAM FILE {prompt(flows, 'keys')} 12"
    assert 0.8 <= ch.times[keypad] - ch.times[rec] <= 1.0
    assert path.steps[0].result == "choice:billing (speech timeout, keypad used)"
    assert kit.queue.requests[0].queue == "billing"


async def test_engine_that_hangs_in_real_time_never_holds_the_caller_a_second(kit, tmp_path):
    flows = kit.flows(tmp_path / "f", main=MENU)
    clock = SystemClock()
    speech = kit.speech(mode="sleep")  # asyncio.sleep(30): a stuck engine
    runner = kit.runner(clock, speech=speech, speech_deadline=0.3)
    ch = kit.channel(kit.Speak("billing"), kit.Press("1"), clock=clock)
    started = time.monotonic()
    path = await runner.run(ch, flows, "main")
    assert time.monotonic() - started < 1.0
    rec = index_of(ch.commands, "RECORD FILE")
    assert ch.times[rec + 1] - ch.times[rec] < 1.0
    assert path.outcome == Outcome.QUEUED


async def test_missing_engine_means_keypad_menus_without_recording(kit, clock, tmp_path):
    flows = kit.flows(tmp_path / "f", main=MENU)
    _path, ch = await run(kit, clock, flows, None, kit.Press("2"), kit.Press("1"))
    assert not any(c.startswith("RECORD FILE") for c in ch.commands)
    assert ch.played()[0] == prompt(flows, "keys")
    assert kit.queue.requests[0].queue == "billing"


async def test_unavailable_engine_gives_the_keypad(kit, clock, tmp_path):
    flows = kit.flows(tmp_path / "f", main=MENU)
    speech = kit.speech(mode="unavailable")
    path, _ = await run(kit, clock, flows, speech, kit.Speak("bill"), kit.Press("1"))
    assert path.steps[0].result == "choice:billing (speech unavailable, keypad used)"


async def test_recording_missing_on_the_controller_side_gives_the_keypad(kit, clock, tmp_path):
    flows = kit.flows(tmp_path / "f", main=MENU)
    speech = kit.speech()
    # the controller looks in another directory than the one Asterisk wrote to (bad spool mapping)
    path, _ch = await run(
        kit, clock, flows, speech, kit.Speak("bill"), kit.Press("1"), spool_dir=tmp_path / "elsewhere"
    )
    assert speech.calls == []
    assert path.steps[0].result == "choice:billing (speech missing-file, keypad used)"


async def test_non_wav_recording_gives_the_keypad_for_that_turn_only(kit, clock, tmp_path):
    flows = kit.flows(tmp_path / "f", main=MENU)
    garbage = b"this is not audio at all" * 10
    path, _ch = await run(
        kit, clock, flows, kit.speech(), kit.RawRecording(garbage), kit.Press("2"), kit.Speak("billing")
    )
    assert path.steps[0].result == "choice:restart (speech bad-audio, keypad used)"
    assert path.steps[1].result == "choice:1"  # speech still on for the next menu
    assert list(kit.spool_dir.iterdir()) == []


async def test_truncated_recording_counts_as_no_input(kit, clock, tmp_path):
    flows = kit.flows(tmp_path / "f", main=MENU)
    speech = kit.speech()
    path, _ = await run(
        kit, clock, flows, speech, kit.RawRecording(b"RIFF\x24\x00\x00\x00WAVE"), kit.Press("1")
    )
    assert path.steps[0].result == "timeout" and speech.calls == []
    assert kit.queue.requests[0].queue == "billing"


async def test_silent_recording_counts_as_no_input(kit, clock, tmp_path):
    flows = kit.flows(tmp_path / "f", main=MENU)
    speech = kit.speech()
    path, _ch = await run(kit, clock, flows, speech, kit.Silence(), kit.Silence())
    assert [s.result for s in path.steps[:2]] == ["timeout", "timeout"]
    assert speech.calls == []
    assert path.outcome == Outcome.QUEUED  # the menu gave up: default queue, not dropped


async def test_thirty_minute_recording_is_not_decoded(kit, clock, tmp_path):
    flows = kit.flows(tmp_path / "f", main=MENU)
    speech = kit.speech()
    huge = b"RIFF" + b"\x00" * (8000 * 2 * 60 * 30)
    path, _ = await run(kit, clock, flows, speech, kit.RawRecording(huge), kit.Press("1"))
    assert speech.calls == []
    assert path.steps[0].result == "choice:billing (speech too-long, keypad used)"
    assert list(kit.spool_dir.iterdir()) == []


async def test_caller_recordings_are_deleted_after_recognition(kit, clock, tmp_path):
    flows = kit.flows(tmp_path / "f", main=MENU)
    speech = kit.speech()
    _, ch = await run(kit, clock, flows, speech, kit.Speak("reset"), kit.Speak("bill"))
    assert len(ch.recordings) == 2 and speech.existed == [True, True]
    assert not any(p.exists() for p in ch.recordings)


async def test_recording_is_deleted_when_the_caller_hangs_up_during_recognition(kit, clock, tmp_path):
    flows = kit.flows(tmp_path / "f", main=MENU)

    class HangsUpWhileDecoding:
        name = "fake"
        free_speech_ok = True

        async def recognize_grammar(self, wav, phrases, *, deadline=None):
            ch.hang_up_now()
            raise RuntimeError("decoder lost")

        async def recognize_free(self, wav, *, deadline=None):
            raise AssertionError

    runner = kit.runner(clock, speech=HangsUpWhileDecoding())
    ch = kit.channel(kit.Speak("bill"))
    path = await runner.run(ch, flows, "main")
    assert path.outcome == Outcome.ABANDONED
    assert list(kit.spool_dir.iterdir()) == []


# ---- free speech ("tell us why you are calling") -------------------------------------------------------
async def test_free_speech_maps_a_sentence_to_an_intent(kit, clock, tmp_path):
    flows = kit.flows(tmp_path / "f", main=ASK)
    speech = kit.speech(free_ok=True)
    path, _ch = await run(kit, clock, flows, speech, kit.Speak("hi, my internet is down since this morning"))
    assert speech.calls[0][0] == "free"
    assert kit.queue.requests[0].queue == "support" and kit.queue.requests[0].skill == "internet"
    assert path.steps[0].result == "intent:internet"
    assert path.steps[0].recognised == "hi, my internet is down since this morning"


async def test_free_speech_is_not_offered_when_the_engine_cannot_do_it(kit, clock, tmp_path):
    flows = kit.flows(tmp_path / "f", main=ASK)
    speech = kit.speech(free_ok=False)
    path, ch = await run(kit, clock, flows, speech, kit.Speak("billing"))
    assert prompt(flows, "why") not in ch.played()
    assert path.steps[0].result == "fallback:free-speech-unavailable"
    assert speech.calls[0][0] == "grammar"  # the grammar menu still listens
    assert kit.queue.requests[0].queue == "billing"


async def test_unsure_free_speech_gets_one_reprompt_then_the_menu(kit, clock, tmp_path):
    flows = kit.flows(tmp_path / "f", main=ASK)
    path, ch = await run(
        kit, clock, flows, kit.speech(), kit.Speak("my bill", 0.2), kit.Speak("something odd"), kit.Press("2")
    )
    assert [s.result for s in path.steps[:3]] == ["unsure", "no-match", "choice:2"]
    assert text_file(texts.REPROMPT) in ch.played()
    assert kit.queue.requests[0].queue == "support"


async def test_two_intents_at_once_are_ambiguous_and_asked_again(kit, clock, tmp_path):
    flows = kit.flows(tmp_path / "f", main=ASK)
    path, _ = await run(
        kit, clock, flows, kit.speech(), kit.Speak("my bill and my router"), kit.Speak("invoice")
    )
    assert [s.result for s in path.steps[:2]] == ["no-match", "intent:billing"]


async def test_key_press_during_the_open_question_goes_to_the_menu(kit, clock, tmp_path):
    flows = kit.flows(tmp_path / "f", main=ASK)
    path, _ = await run(kit, clock, flows, kit.speech(), kit.Press("5"), kit.Press("1"))
    assert path.steps[0].result == "fallback:keys"
    assert kit.queue.requests[0].queue == "billing"


async def test_free_speech_failure_falls_back_to_the_keypad_menu(kit, clock, tmp_path):
    flows = kit.flows(tmp_path / "f", main=ASK)
    path, ch = await run(kit, clock, flows, kit.speech(mode="raise"), kit.Speak("billing"), kit.Press("1"))
    assert path.steps[0].result == "fallback:speech-error"
    assert sum(c.startswith("RECORD FILE") for c in ch.commands) == 1
    assert kit.queue.requests[0].queue == "billing"


async def test_record_file_refused_by_asterisk_gives_the_keypad(kit, clock, tmp_path):
    from ivr.fastagi.errors import AgiCommandError

    flows = kit.flows(tmp_path / "f", main=MENU)
    ch = kit.channel(clock=clock)

    async def refused(*args, **kwargs):
        ch.events.append(kit.Press("1"))  # the caller then uses the keypad
        raise AgiCommandError("RECORD FILE failed (writefile)", code=200)

    ch.record_file = refused  # type: ignore[method-assign]
    path = await kit.runner(clock, speech=kit.speech()).run(ch, flows, "main")
    assert path.steps[0].result == "choice:billing (speech record-failed, keypad used)"
    assert path.outcome == Outcome.QUEUED
