"""What a speech engine is: blocking recognition of 8 kHz PCM, its result, and the errors callers can act on.

Engines are plain blocking objects; ``SpeechService`` runs them in a bounded worker pool off the event loop.
Grammar phrases come from flow files and can hold any Unicode: ``grammar_words`` is the one normalisation
every engine applies, and ``phrase_for`` maps what an engine heard back to the caller's own phrase text.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

MAX_PHRASES = 500
MAX_PHRASE_CHARS = 200


@dataclass(frozen=True)
class Recognition:
    """What was heard: in grammar mode ``text`` is one of the phrases (or ""); ``seconds`` is decode time."""

    text: str
    confidence: float
    engine: str
    seconds: float


class SpeechError(Exception):
    """Recognition failed; the caller gets the keypad instead."""


class SpeechUnavailable(SpeechError):
    """No engine can take the work: it failed to load, is not configured, or every worker is busy or stuck."""


class SpeechTimeout(SpeechError):
    """The engine did not answer within the deadline."""


class BadAudio(SpeechError):
    """The recording is not a WAV file, is truncated, or has a format the engines cannot use."""


class Engine(Protocol):
    """A recogniser. Methods block; ``load`` does the heavy start-up and raises ``SpeechUnavailable``."""

    name: str

    def load(self) -> None: ...

    def recognize_grammar(self, pcm16_8k: bytes, phrases: Sequence[str]) -> Recognition: ...

    def recognize_free(self, pcm16_8k: bytes) -> Recognition: ...


class EngineSpec(Protocol):
    """A picklable recipe for an engine, so a worker process can build its own."""

    @property
    def kind(self) -> str: ...

    def build(self) -> Engine: ...


def grammar_words(phrase: str) -> tuple[str, ...]:
    """Words of a phrase as engines see them: NFKC, case-folded, letters/digits/apostrophes only."""
    text = unicodedata.normalize("NFKC", phrase[:MAX_PHRASE_CHARS]).casefold()
    out: list[str] = []
    for ch in text:
        cat = unicodedata.category(ch)
        if cat[0] in "LN" or cat == "Mn" or cat == "Mc":
            out.append(ch)
        elif ch in "'\u2019":
            out.append("'")
        else:
            out.append(" ")
    words = ("".join(out)).split()
    return tuple(w.strip("'") for w in words if w.strip("'"))


def grammar_table(phrases: Sequence[str]) -> dict[tuple[str, ...], str]:
    """Normalised word tuple -> the first phrase (as given) that produced it; empty phrases dropped."""
    table: dict[tuple[str, ...], str] = {}
    for phrase in list(phrases)[:MAX_PHRASES]:
        if not isinstance(phrase, str):
            continue
        words = grammar_words(phrase)
        if words:
            table.setdefault(words, phrase)
    return table


def phrase_for(heard_words: Sequence[str], table: dict[tuple[str, ...], str]) -> tuple[str, float]:
    """The phrase an engine's output names, with a match quality in 0..1 (1 = exactly one phrase).

    Engines whose grammar loops (Vosk) can return several phrases in a row, and words outside an engine's
    vocabulary are dropped from its grammar: the phrase covering most of the heard words wins, and a tie
    between phrases is no match.
    """
    words = tuple(heard_words)
    if not words:
        return "", 0.0
    if words in table:
        return table[words], 1.0
    best: list[tuple[str, ...]] = []
    best_score = 0.0
    heard = set(words)
    for key in table:
        common = len(heard & set(key))
        if common == 0:
            continue
        score = common / max(len(key), len(heard))
        if score > best_score + 1e-9:
            best, best_score = [key], score
        elif abs(score - best_score) <= 1e-9:
            best.append(key)
    if len({table[k] for k in best}) != 1:
        return "", 0.0
    return table[best[0]], best_score


def clamp01(value: float) -> float:
    """Confidence values always land in 0..1, NaN included."""
    if value != value:  # NaN
        return 0.0
    return 0.0 if value < 0 else 1.0 if value > 1 else float(value)
