"""Reading replies: ratings in digits, words and fractions; comments; STOP/START; hostile text."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from surveys.model import ReplyKind
from surveys.replies import MAX_REPLY_CHARS, parse_reply
from surveys.templates import TemplateBook, load_templates

BOOK: TemplateBook = load_templates(None, "en")

R, C, OUT, IN, E = ReplyKind.RATING, ReplyKind.COMMENT, ReplyKind.OPT_OUT, ReplyKind.OPT_IN, ReplyKind.EMPTY


@pytest.mark.parametrize(
    ("lang", "text", "kind", "rating", "comment"),
    [
        ("en", "5", R, 5, None),
        ("en", "five", R, 5, None),
        ("en", "Five!", R, 5, None),
        ("en", "5 great service", R, 5, "great service"),
        ("en", "4/5", R, 4, None),
        ("en", "4 / 5 ok", R, 4, "ok"),
        ("en", "4 out of 5, good", R, 4, "good"),
        ("en", "Four out of five", R, 4, None),
        ("en", "8/10", R, 4, None),
        ("en", "5stars", R, 5, None),
        ("en", "3 - slow but fine", R, 3, "slow but fine"),
        ("en", "\u2b50\u2b50\u2b50\u2b50 nice", R, 4, "nice"),
        ("en", "\uff15", R, 5, None),  # fullwidth 5
        ("en", "\u0664", R, 4, None),  # Arabic-Indic 4
        ("en", "one of the best calls ever", C, None, "one of the best calls ever"),
        ("en", "5 minutes on hold, bad", C, None, "5 minutes on hold, bad"),
        ("en", "called 3 times", C, None, "called 3 times"),
        ("en", "0", C, None, "0"),
        ("en", "6", C, None, "6"),
        ("en", "10", C, None, "10"),
        ("en", "4.5", C, None, "4.5"),
        ("en", "123", C, None, "123"),
        ("fr", "cinq", R, 5, None),
        ("fr", "4 sur 5 très bien", R, 4, "très bien"),
        ("de", "fünf", R, 5, None),
        ("de", "FUENF", R, 5, None),
        ("es", "cuatro de cinco", R, 4, None),
        ("ko", "5점 만족", R, 5, "만족"),
        ("ko", "5분 기다림", C, None, "5분 기다림"),
        ("ko", "다섯", R, 5, None),
    ],
)
def test_reply_ratings_and_comments(
    lang: str, text: str, kind: ReplyKind, rating: int | None, comment: str | None
) -> None:
    parsed = parse_reply(text, BOOK.get(lang), BOOK)
    assert (parsed.kind, parsed.rating, parsed.comment) == (kind, rating, comment)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("STOP", OUT),
        ("stop!!!", OUT),
        ("Stop please", OUT),
        ("UNSUBSCRIBE", OUT),
        ("arrêt", OUT),  # French, even when the survey was English
        ("Abmelden", OUT),
        ("BAJA", OUT),
        ("수신 거부", OUT),
        ("Stop making me wait on hold forever", C),  # a complaint, not an opt-out
        ("START", IN),
        ("start.", IN),
        ("Start was good but the end was bad", C),
    ],
)
def test_opt_out_and_opt_in_words_in_any_language(text: str, kind: ReplyKind) -> None:
    assert parse_reply(text, BOOK.get("en"), BOOK).kind is kind


def test_whitespace_only_reply_is_empty() -> None:
    for text in ("", "   ", "\n\t\r ", "\u200b", "\ufeff \u00a0"):
        assert parse_reply(text, BOOK.get("en"), BOOK).kind is E


def test_emoji_and_mixed_scripts_are_kept_as_comments() -> None:
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    text = f"\U0001f600\U0001f44d \u0645\u0645\u062a\u0627\u0632 très bien 最高 {family}"
    parsed = parse_reply(text, BOOK.get("en"), BOOK)
    assert parsed.kind is C
    assert parsed.comment == text  # joiners inside the family emoji survive
    rated = parse_reply("5 " + text, BOOK.get("en"), BOOK)
    assert (rated.rating, rated.comment) == (5, text)


def test_a_thousand_character_reply_keeps_its_rating_and_comment() -> None:
    body = ("great service " * 80)[:996]
    parsed = parse_reply("4 " + body + " end", BOOK.get("en"), BOOK)
    assert parsed.rating == 4
    assert parsed.comment is not None and len(parsed.comment) == len(body.strip()) + 4


def test_bidi_override_characters_are_dropped_from_comments() -> None:
    parsed = parse_reply("2 bad\u202eevil", BOOK.get("en"), BOOK)
    assert parsed.comment == "badevil"


@given(st.text(max_size=300))
@settings(max_examples=200, deadline=None)
def test_any_text_parses_to_a_valid_outcome(text: str) -> None:
    parsed = parse_reply(text, BOOK.get("en"), BOOK)
    assert parsed.rating is None or 1 <= parsed.rating <= 5
    assert (parsed.kind is R) == (parsed.rating is not None)
    if parsed.comment is not None:
        assert parsed.comment.strip() and len(parsed.comment) <= MAX_REPLY_CHARS
