"""Matching what a caller said to a menu option or an intent.

Transcripts and phrases are normalised the same way (Unicode NFKC, case folded, accents, punctuation, control
and format characters removed, whitespace collapsed), so odd Unicode from an engine or a flow file cannot
make a phrase unmatchable or a log line unreadable. A phrase matches when its words appear in order in the
transcript (a word also matches its longer forms: "restart" matches "restarting"); the longest match wins;
a tie between two different choices is ambiguous and counts as no match.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T", bound=Hashable)
MAX_TRANSCRIPT_CHARS = 500


def normalise(text: str) -> str:
    """Lower-case words separated by single spaces, without accents, punctuation or invisible characters."""
    text = text[: MAX_TRANSCRIPT_CHARS * 2]
    text = text.encode("utf-8", "replace").decode("utf-8")  # lone surrogates become '?'
    text = unicodedata.normalize("NFKC", text).casefold()
    out: list[str] = []
    for ch in unicodedata.normalize("NFKD", text):
        cat = unicodedata.category(ch)
        if cat == "Mn":  # combining accent
            continue
        if cat[0] in "LN":
            out.append(ch)
        elif ch == "'":
            continue  # "don't" -> "dont"
        else:
            out.append(" ")  # punctuation, symbols, controls, format characters, odd spaces
    return " ".join("".join(out).split())[:MAX_TRANSCRIPT_CHARS]


def safe_text(text: str, limit: int = MAX_TRANSCRIPT_CHARS) -> str:
    """Text fit for a record or a log line: valid UTF-8, no control characters, capped."""
    text = text.encode("utf-8", "replace").decode("utf-8")
    cleaned = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in text)
    return " ".join(cleaned.split())[:limit]


def _word_matches(spoken: str, wanted: str) -> bool:
    return spoken == wanted or (len(wanted) >= 4 and spoken.startswith(wanted))


def _phrase_score(words: Sequence[str], phrase: Sequence[str]) -> int:
    """Number of words of ``phrase`` when all appear in order in ``words``, else 0."""
    if not phrase:
        return 0
    i = 0
    for word in words:
        if _word_matches(word, phrase[i]):
            i += 1
            if i == len(phrase):
                return len(phrase)
    return 0


@dataclass(frozen=True)
class Match(Generic[T]):
    """The choice a transcript selected, with the phrase that did it."""

    choice: T
    phrase: str


@functools.lru_cache(maxsize=1024)
def matcher_for(choices: tuple[tuple[T, tuple[str, ...]], ...]) -> PhraseMatcher[T]:
    """A matcher per distinct set of choices: menus ask the same question call after call, and building one
    normalises every phrase. (Matchers are never changed after construction, so sharing them is safe.)"""
    return PhraseMatcher(choices)


class PhraseMatcher(Generic[T]):
    """Maps transcripts to choices through their phrases (with alternates)."""

    def __init__(self, choices: Iterable[tuple[T, Iterable[str]]]) -> None:
        self._phrases: list[tuple[T, str, tuple[str, ...]]] = []
        self._exact: dict[str, T] = {}
        for choice, phrases in choices:
            for phrase in phrases:
                norm = normalise(phrase)
                if norm:
                    self._phrases.append((choice, norm, tuple(norm.split())))
                    self._exact.setdefault(norm, choice)

    @property
    def grammar(self) -> list[str]:
        """The normalised phrases, for grammar-constrained recognition (each once)."""
        return list(dict.fromkeys(p for _, p, _ in self._phrases))

    def match(self, transcript: str) -> Match[T] | None:
        """The best choice for ``transcript``; None when nothing (or two choices equally) matched."""
        text = normalise(transcript)
        if not text:
            return None
        if text in self._exact:
            return Match(self._exact[text], text)
        words = text.split()
        best_score = 0
        best: list[tuple[T, str]] = []
        for choice, norm, tokens in self._phrases:
            score = _phrase_score(words, tokens)
            if score == 0:
                continue
            if score > best_score:
                best_score, best = score, [(choice, norm)]
            elif score == best_score:
                best.append((choice, norm))
        if not best or len({choice for choice, _ in best}) > 1:
            return None
        return Match(best[0][0], best[0][1])
