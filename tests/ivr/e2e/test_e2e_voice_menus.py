"""Callers who speak: espeak-ng voices at telephone quality through RECORD FILE on the emulator, recognised by
the embedded PocketSphinx engine in the real controller's worker processes; and engines that fail, after
which the caller gets the keypad alternative at once."""

from __future__ import annotations

import pytest

from ivr.speech.faults import FaultSpec
from sim.scripts import ScriptedCaller
from tests.ivr.e2e.conftest import IN_HOURS, errors_logged, in_flight, prompt_file

NY = "+12125550100"
VOICES = [("en-us", 140), ("en-gb", 170), ("en-us+f3", 155)]

pytestmark = pytest.mark.slow  # the speech engine's worker processes take a few seconds to start


@pytest.fixture
async def voice_site(site, clips):
    h = await site(IN_HOURS, speech="pocketsphinx", speech_settings={"workers": 2})
    await h.warm_speech(clips.say("hello"))
    return h


@pytest.mark.parametrize(("voice", "speed"), VOICES, ids=[f"{v}-{s}" for v, s in VOICES])
async def test_saying_billing_reaches_the_billing_queue(voice_site, clips, voice, speed):
    h = voice_site
    r = await h.call(ScriptedCaller(number=NY, audio=[clips.say("billing", voice, speed)]))
    menu = next(s for s in r.steps if s.node == "main-menu")
    assert (menu.input, menu.recognised, menu.result) == ("speech", "billing", "choice:billing"), menu
    assert menu.confidence is not None and menu.confidence >= 0.5
    assert r.row.queue == "billing" and r.on_hold
    record = next(c for c in r.commands if c.startswith("RECORD FILE"))
    assert record.startswith("RECORD FILE /var/spool/asterisk/tmp/") and " wav " in record and "s=2" in record
    assert list(h.settings.ivr.spool_dir.iterdir()) == []  # the caller's recording is deleted after use


@pytest.mark.parametrize(("voice", "speed"), VOICES[:2], ids=[f"{v}-{s}" for v, s in VOICES[:2]])
async def test_saying_agent_reaches_an_agent(voice_site, clips, voice, speed):
    r = await voice_site.call(ScriptedCaller(number=NY, audio=[clips.say("agent", voice, speed)]))
    assert r.nodes[-1] == "main:agent" and r.row.skill == "general"
    assert next(s for s in r.steps if s.node == "main-menu").recognised == "agent"


async def test_restart_my_router_by_voice_and_yes_resolves_the_call(voice_site, clips, caplog):
    h = voice_site
    audio = [clips.say("technical support"), clips.say("restart my router"), clips.say("yes")]
    r = await h.call(ScriptedCaller(number=NY, audio=audio))
    heard = [(s.node, s.recognised, s.result) for s in r.steps if s.input == "speech"]
    path = [(s.node, s.input, s.recognised, s.result) for s in r.steps]
    assert heard[:2] == [
        ("main-menu", "technical support", "choice:technical"),
        ("tech-menu", "restart my router", "choice:1"),
    ], path
    node, recognised, result = heard[2]
    assert (node, result) == ("restart-script#1", "choice:yes")
    assert recognised in ("yes", "yeah", "yes it works")  # one of the script's "yes" phrases
    assert r.outcome == "resolved" and r.row.resolved_by == "router-restart"
    assert (await h.ctl.ivr_store.deflection("router-restart")).resolved == 1
    assert errors_logged(caplog) == []


async def test_keys_still_work_while_the_menu_listens_for_speech(voice_site):
    r = await voice_site.call(ScriptedCaller(number=NY, dtmf=[(3.0, "2")]))  # pressed during RECORD FILE
    menu = next(s for s in r.steps if s.node == "main-menu")
    assert (menu.input, menu.result) == ("dtmf:2", "choice:billing")


@pytest.mark.parametrize("mode", ["raise", "sleep"])
async def test_broken_engine_gives_the_keypad_alternative_within_a_second(site, clips, monkeypatch, mode):
    # the engine raises, or hangs far past its deadline: the caller must hear the keypad menu at once
    monkeypatch.setattr(
        "ivr.speech.service.engine_spec", lambda settings: FaultSpec(mode=mode, seconds=30.0)
    )
    h = await site(IN_HOURS, speech="pocketsphinx", speech_settings={"workers": 1, "pool": "thread"})
    ch = await h.place(ScriptedCaller(number=NY, audio=[clips.say("billing")]))
    keypad = prompt_file(h, "main", "main-menu-keys")
    await h.driver.until(lambda: (in_flight(h, ch) or "").startswith(f"STREAM FILE {keypad}"), 60, "keypad")
    h.press(ch, "2")
    r = await h.finish(ch)
    assert r.row.queue == "billing"
    menu = next(s for s in r.steps if s.node == "main-menu")
    assert menu.input == "dtmf:2" and "keypad used" in menu.result
    agi = r.agi[0]
    i = next(n for n, c in enumerate(agi.commands) if c.startswith("RECORD FILE"))
    assert agi.commands[i + 1].startswith(f"STREAM FILE {keypad}")
    assert agi.turn_seconds[i + 1] < 1.0  # real seconds from the end of the recording to the keypad menu
    assert agi.sent_at[i + 1] - agi.replied_at[i] < 1.0  # and no emulated time either
    # the rest of the call does not try speech again
    assert sum(c.startswith("RECORD FILE") for c in agi.commands) == 1


async def test_silent_caller_in_a_voice_menu_is_asked_again_then_reaches_an_agent(voice_site):
    r = await voice_site.call(ScriptedCaller(number=NY))  # says nothing, presses nothing
    menu = [s for s in r.steps if s.node == "main-menu"]
    assert [s.result for s in menu] == ["timeout", "timeout", "timeout"]
    assert r.nodes[-1] == "main:agent" and r.on_hold


async def test_caller_who_never_stops_talking_is_cut_off_and_still_routed(voice_site, clips):
    rant = clips.say("my internet has been down since last week and nobody calls me back " * 4, speed=170)
    r = await voice_site.call(ScriptedCaller(number=NY, audio=[rant, rant, rant]))
    records = [c for c in r.commands if c.startswith("RECORD FILE")]
    assert records and all(" 6000 " in c for c in records)  # each recording stops at listen_ms
    assert r.outcome == "queued" and r.on_hold
