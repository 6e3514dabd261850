"""Pronunciations added to grammars: espeak-ng phonemes mapped to the model's phones, accent variants."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ivr.speech.pronounce import Pronouncer, espeak_pronunciations, parse_espeak, variants


def test_espeak_mnemonics_map_to_arpabet() -> None:
    assert parse_espeak("r I2 s 'E t") == ("R", "IH", "S", "EH", "T")
    assert parse_espeak("w 'aI f aI") == ("W", "AY", "F", "AY")
    assert parse_espeak("t w 'E n t i  f 'o@") == ("T", "W", "EH", "N", "T", "IY", "F", "AO", "R")


def test_british_schwa_is_not_an_r_coloured_vowel() -> None:
    assert parse_espeak("'V D 3") == ("AH", "DH", "ER")
    assert parse_espeak("'V D 3", non_rhotic=True) == ("AH", "DH", "AH")
    assert parse_espeak("'0 p 3 r ,eI t 3 r-", non_rhotic=True) == ("AA", "P", "AH", "R", "EY", "T", "AH")


def test_unknown_phoneme_gives_no_pronunciation_rather_than_a_wrong_one() -> None:
    assert parse_espeak("k 'Q x") is None
    assert parse_espeak("") is None


def test_unstressed_prefixes_get_reduced_variants() -> None:
    assert variants(("R", "IY", "S", "EH", "T")) == [("R", "IH", "S", "EH", "T"), ("R", "AH", "S", "EH", "T")]
    assert variants(("R", "IY", "D")) == []  # "read": the IY is the stressed vowel
    assert variants(("B", "IH", "L", "IH", "NG")) == []


def test_words_are_looked_up_in_one_espeak_run_per_voice() -> None:
    found = espeak_pronunciations(["router", "wifi", "24", "", "a.b"], "en-us")
    assert found["wifi"] == ("W", "AY", "F", "AY")
    assert found["24"][:2] == ("T", "W")  # numbers are spoken
    assert "" not in found and "a.b" not in found


def test_pronouncer_adds_accents_and_never_repeats_the_dictionary() -> None:
    pronouncer = Pronouncer(("en-us", "en-gb"))
    extra = pronouncer.extra("other", "AH DH ER")
    assert ("AH", "DH", "ER") not in extra
    assert ("AH", "DH", "AH") in extra  # the British one
    assert pronouncer.extra("zorblat", None)  # a made-up word still gets one


@settings(max_examples=200)
@given(st.text(max_size=60))
def test_any_espeak_output_parses_or_is_refused(text: str) -> None:
    phones = parse_espeak(text)
    assert phones is None or (phones and all(p.isupper() for p in phones))
