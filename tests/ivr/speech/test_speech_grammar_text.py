"""Grammar phrases come from flow files: any Unicode must give a usable grammar or none, never a crash."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ivr.speech.engine import clamp01, grammar_table, grammar_words, phrase_for


def test_phrases_are_normalised_the_same_way_everywhere() -> None:
    assert grammar_words("Speak to an Agent!") == ("speak", "to", "an", "agent")
    assert grammar_words("ｂｉｌｌｉｎｇ") == ("billing",)  # full-width letters
    assert grammar_words("re\u200bstart") == ("re", "start")  # zero-width space splits, never hides
    assert grammar_words("\u202ereset\u202c") == ("reset",)  # bidi controls dropped
    assert grammar_words("don’t") == ("don't",)
    assert grammar_words("CAFÉ") == ("café",)
    assert grammar_words("🙂 ... ---") == ()
    assert grammar_words("기술 지원") == ("기술", "지원")


def test_grammar_maps_back_to_the_phrase_as_the_flow_wrote_it() -> None:
    table = grammar_table(["Technical Support", "technical  support", "Billing", "", "   ", "🙂"])
    assert table == {("technical", "support"): "Technical Support", ("billing",): "Billing"}
    assert phrase_for(("technical", "support"), table) == ("Technical Support", 1.0)


def test_engine_output_covering_two_phrases_is_no_match() -> None:
    table = grammar_table(["yes", "no"])
    assert phrase_for(("yes", "no"), table) == ("", 0.0)
    assert phrase_for((), table) == ("", 0.0)


def test_engine_output_with_a_dropped_word_still_finds_its_phrase() -> None:
    table = grammar_table(["speak to an agent", "billing"])
    phrase, quality = phrase_for(("speak", "to", "agent"), table)
    assert phrase == "speak to an agent" and 0 < quality < 1


def test_confidences_are_clamped() -> None:
    assert clamp01(float("nan")) == 0.0
    assert clamp01(-3) == 0.0
    assert clamp01(7) == 1.0
    assert clamp01(0.25) == 0.25


@settings(max_examples=200)
@given(st.lists(st.text(max_size=40), max_size=12), st.lists(st.text(max_size=12), max_size=6))
def test_any_phrases_and_any_engine_output_map_to_a_phrase_or_nothing(phrases, heard) -> None:
    table = grammar_table(phrases)
    for words in table:
        assert words and all(w and not any(c.isspace() for c in w) for w in words)
    phrase, quality = phrase_for(tuple(heard), table)
    assert phrase == "" or phrase in phrases
    assert 0.0 <= quality <= 1.0
