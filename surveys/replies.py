"""Reading a survey reply: rating (digits, words, "4/5", stars), comment, opt-out and opt-in keywords.

The rules favour the caller: a rating must lead the message (that is what the SMS asks for), so
"called 3 times" is a comment, not a 3. Anything that is not a rating is kept as a comment.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from surveys.model import ReplyKind
from surveys.templates import SurveyTemplate, TemplateBook
from surveys.text import clean, fold, strip_punctuation

MAX_REPLY_CHARS = 10_000
# A stop word leading a message this short still opts out ("STOP please", "stop now").
_STOP_FIRST_WORD_MAX_WORDS = 2
_NUMBER = re.compile(r"(\d{1,2})(?!\d|[.,]\d)(?:\s*/\s*(\d{1,2})(?!\d))?")
_STARS = re.compile(r"(?:[\u2b50\u2605]\ufe0f?\s*){1,10}")
_SEPARATORS = " -\u2013\u2014:,.;!|/)]}>"


@dataclass(frozen=True)
class ParsedReply:
    """What a reply says."""

    kind: ReplyKind
    rating: int | None = None
    comment: str | None = None
    keyword: str | None = None


def parse_reply(text: str, template: SurveyTemplate, book: TemplateBook) -> ParsedReply:
    """Classify one inbound text; opt-out words of every language count, ratings use ``template``."""
    cleaned = clean(text[:MAX_REPLY_CHARS])
    if not cleaned:
        return ParsedReply(ReplyKind.EMPTY)
    words = cleaned.split(" ")
    whole = fold(strip_punctuation(cleaned))
    first = fold(strip_punctuation(words[0]))
    for candidate in (whole, whole.replace(" ", "")):
        if candidate in book.stop_words:
            return ParsedReply(ReplyKind.OPT_OUT, keyword=candidate)
        if candidate in book.start_words:
            return ParsedReply(ReplyKind.OPT_IN, keyword=candidate)
    if first in book.stop_words and len(words) <= _STOP_FIRST_WORD_MAX_WORDS:
        return ParsedReply(ReplyKind.OPT_OUT, keyword=first)
    found = _leading_rating(cleaned, template)
    if found is None:
        return ParsedReply(ReplyKind.COMMENT, comment=cleaned)
    rating, rest = found
    return ParsedReply(ReplyKind.RATING, rating=rating, comment=_tidy(rest))


def _leading_rating(text: str, template: SurveyTemplate) -> tuple[int, str] | None:
    stars = _STARS.match(text)
    if stars:
        count = sum(1 for ch in stars.group(0) if ch in "\u2b50\u2605")
        return (count, text[stars.end() :]) if count <= 5 else None
    number = _NUMBER.match(text)
    if number:
        return _digits(int(number.group(1)), number.group(2), text[number.end() :], template)
    return _word_number(text, template)


def _digits(
    value: int, denominator: str | None, rest: str, template: SurveyTemplate
) -> tuple[int, str] | None:
    if denominator is None:
        glued, after = _next_word(rest)
        if rest[:1].isalpha():
            # "5stars", "5점" are ratings; "5min", "5분" are not.
            if glued in template.not_rating_after:
                return None
            if glued in template.rating_suffixes:
                rest = after
        else:
            denom_found = _out_of(rest, template)
            if denom_found is not None:
                denominator, rest = denom_found
            else:
                word, after = _next_word(rest)
                if word in template.not_rating_after:
                    return None
                if word in template.rating_suffixes:
                    rest = after
    rating = _scale(value, int(denominator) if denominator else 5)
    return None if rating is None else (rating, rest)


def _word_number(text: str, template: SurveyTemplate) -> tuple[int, str] | None:
    raw_first, _, remainder = text.partition(" ")
    word = fold(strip_punctuation(raw_first))
    value = template.number_words.get(word)
    if value is None:
        return None
    if not remainder:
        return value, ""
    if strip_punctuation(raw_first) != raw_first:  # "Five! great", "four, thanks"
        return value, remainder
    denom_found = _out_of(" " + remainder, template)
    if denom_found is not None:
        rating = _scale(value, int(denom_found[0]))
        return None if rating is None else (rating, denom_found[1])
    next_word, after = _next_word(" " + remainder)
    if next_word in template.rating_suffixes:
        return value, after
    # "one of the best...", "two agents...": a number word running into a sentence is not a rating.
    return None


def _out_of(rest: str, template: SurveyTemplate) -> tuple[str, str] | None:
    """' out of 5 ...' / ' sur 10' -> ("5", remainder)."""
    tokens = rest.split()
    folded = [fold(t) for t in tokens]
    for phrase in template.out_of:
        parts = phrase.split()
        n = len(parts)
        if folded[:n] == parts and len(tokens) > n:
            target = tokens[n]
            digits = strip_punctuation(target)
            if digits.isdecimal() and len(digits) <= 2:
                return digits, " ".join(tokens[n + 1 :])
            number = template.number_words.get(fold(digits))
            if number is not None:
                return str(number), " ".join(tokens[n + 1 :])
    return None


def _next_word(rest: str) -> tuple[str, str]:
    """The next word folded and without punctuation, and what follows it."""
    stripped = rest.lstrip()
    word, _, after = stripped.partition(" ")
    return fold(strip_punctuation(word)), after


def _scale(value: int, denominator: int) -> int | None:
    if denominator == 5 and 1 <= value <= 5:
        return value
    if denominator == 10 and 1 <= value <= 10:
        return max(1, int(value / 2 + 0.5))
    return None


def _tidy(rest: str) -> str | None:
    comment = rest.strip().lstrip(_SEPARATORS).strip()
    return comment or None
