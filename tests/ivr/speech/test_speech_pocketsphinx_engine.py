"""The embedded engine on real (espeak-ng, telephone-band) speech: menus work out of the box."""

from __future__ import annotations

import array
import math
import random
from pathlib import Path

import pytest

from ivr.speech.audio import read_wav
from ivr.speech.pocketsphinx_engine import PocketSphinxEngine

MAIN = [
    "technical support",
    "billing",
    "sales",
    "cancel my service",
    "speak to an agent",
    "agent",
    "operator",
]
RESTART = ["restart", "reboot", "reset", "agent", "operator"]
CONFIRM = ["yes", "no", "it worked", "still broken"]


SYNONYMS = ({"agent", "speak to an agent", "operator"}, {"restart", "reboot", "reset"})


def same_option(heard: str, said: str) -> bool:
    """Alternates of one menu option ("restart / reboot / reset") select the same thing."""
    return heard == said or any({heard, said} <= group for group in SYNONYMS)


@pytest.fixture(scope="module")
def engine() -> PocketSphinxEngine:
    engine = PocketSphinxEngine()
    engine.load()
    return engine


def hear(engine: PocketSphinxEngine, wav: Path, phrases: list[str]) -> tuple[str, float]:
    result = engine.recognize_grammar(read_wav(wav).data, phrases)
    assert result.engine == "pocketsphinx"
    assert 0.0 <= result.confidence <= 1.0
    return result.text, result.confidence


@pytest.mark.parametrize(
    ("said", "menu"),
    [
        ("technical support", MAIN), ("billing", MAIN), ("speak to an agent", MAIN), ("operator", MAIN),
        ("cancel my service", MAIN), ("restart", RESTART), ("reboot", RESTART), ("reset", RESTART),
        ("yes", CONFIRM), ("no", CONFIRM), ("it worked", CONFIRM), ("still broken", CONFIRM),
    ],
)  # fmt: skip
def test_menu_phrase_is_recognised_confidently(engine, clips, said: str, menu: list[str]) -> None:
    text, confidence = hear(engine, clips.say(said, "en-us", 140), menu)
    assert same_option(text, said)
    assert confidence >= 0.5


@pytest.mark.slow
def test_menu_phrases_across_voices_and_speeds(engine, clips) -> None:
    right = total = 0
    for menu in (MAIN, RESTART, CONFIRM):
        for said in menu:
            for voice in ("en-us", "en-gb", "en-gb-scotland"):
                for speed in (140, 175):
                    text, _ = hear(engine, clips.say(said, voice, speed), menu)
                    total += 1
                    right += same_option(text, said)
    assert right / total >= 0.9


def test_recording_made_by_asterisk_is_understood(engine, golden_dir: Path) -> None:
    # the caller said "restart please" into a real RECORD FILE
    text, confidence = hear(engine, golden_dir / "media" / "record-file-8k.wav", RESTART)
    assert text == "restart"
    assert confidence >= 0.5


def test_silence_leading_and_trailing_the_answer_does_not_matter(engine, clips) -> None:
    text, confidence = hear(engine, clips.say("technical support", pad=(1.0, 2.0)), MAIN)
    assert text == "technical support"
    assert confidence >= 0.5


def test_silent_recording_is_nothing_heard(engine, tmp_path: Path) -> None:
    result = engine.recognize_grammar(bytes(16000), MAIN)
    assert (result.text, result.confidence) == ("", 0.0)
    assert engine.recognize_grammar(b"", MAIN).text == ""


def test_line_noise_is_not_taken_for_a_choice(engine) -> None:
    rnd = random.Random(7)
    hiss = array.array("h", [int(rnd.gauss(0, 600)) for _ in range(16000)]).tobytes()
    hum = array.array(
        "h", [int(3000 * math.sin(2 * math.pi * 50 * i / 8000)) for i in range(16000)]
    ).tobytes()
    for audio in (hiss, hum):
        result = engine.recognize_grammar(audio, RESTART)
        assert result.text == "" or result.confidence < 0.5


OUTSIDE = ["the weather is nice today", "i have a question about my account", "what are your opening hours",
           "hello is anybody there", "i lost my password", "where is my parcel"]  # fmt: skip


@pytest.mark.slow
def test_speech_outside_the_menu_is_mostly_rejected(engine, clips) -> None:
    # PocketSphinx forces any speech onto the grammar; the confidence is what tells the flow to ask again
    rejected = 0
    for menu in (MAIN, RESTART):
        for said in OUTSIDE:
            text, confidence = hear(engine, clips.say(said), menu)
            rejected += text == "" or confidence < 0.5
    assert rejected >= len(OUTSIDE)  # at least half of the 2 x 6 tries


def test_words_missing_from_the_dictionary_get_a_pronunciation(engine, clips) -> None:
    menu = ["zorblat", "billing", "sales"]
    assert hear(engine, clips.say("zorblat"), menu)[0] == "zorblat"
    assert hear(engine, clips.say("billing"), menu)[0] == "billing"


def test_answer_wrapped_in_polite_words_still_counts(engine, clips) -> None:
    text, confidence = hear(engine, clips.say("billing please"), MAIN)
    assert text == "billing" and confidence >= 0.5


def test_odd_unicode_phrases_neither_crash_nor_hide_the_real_ones(engine, clips) -> None:
    menu = ["Ｂｉｌｌｉｎｇ", "🙂", "", "   ", "\u202e", "r\u00e9sum\u00e9 \u0000", "Sales!", "x" * 500]
    text, _ = hear(engine, clips.say("billing"), menu)
    assert text == "Ｂｉｌｌｉｎｇ"  # the phrase exactly as the flow wrote it
    assert engine.recognize_grammar(read_wav(clips.say("sales")).data, ["🙂", ""]).text == ""


def test_same_recording_gives_the_same_answer(engine, clips) -> None:
    pcm = read_wav(clips.say("reboot", "en-gb", 175)).data
    answers = {
        (r.text, round(r.confidence, 6)) for r in (engine.recognize_grammar(pcm, RESTART) for _ in range(3))
    }
    assert len(answers) == 1


def test_free_recognition_returns_text_with_a_confidence(engine, clips) -> None:
    result = engine.recognize_free(read_wav(clips.say("i need help with my bill")).data)
    assert isinstance(result.text, str) and result.text
    assert 0.0 <= result.confidence <= 1.0
