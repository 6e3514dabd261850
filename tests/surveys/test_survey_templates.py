"""Templates per language: built-ins, overrides from a directory, fallbacks and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from surveys.gateways.gsm import is_gsm7
from surveys.templates import TemplateError, load_templates


def test_builtin_templates_fit_one_sms_each() -> None:
    book = load_templates(None, "en")
    assert {"en", "fr", "de", "es", "ko"} <= set(book.languages)
    for language in book.languages:
        text = book.get(language).render("Switchboard")
        assert "{" not in text
        assert len(text) <= (160 if is_gsm7(text) else 70), language


def test_language_tags_fall_back_to_primary_subtag_then_default() -> None:
    book = load_templates(None, "en")
    assert book.get("fr-CA").language == "fr"
    assert book.get("FR_fr").language == "fr"
    assert book.get("xx").language == "en"
    assert book.get(None).language == "en"


def test_a_templates_directory_overrides_and_adds_languages(tmp_path: Path) -> None:
    (tmp_path / "en.yaml").write_text('language: en\nbody: "Rate {company} 1-5"\nstop_words: [stop]\n')
    (tmp_path / "pt.yaml").write_text('language: pt\nbody: "Avalie de 1 a 5"\nnumber_words: {cinco: 5}\n')
    book = load_templates(tmp_path, "pt")
    assert book.get("en").render("Acme") == "Rate Acme 1-5"
    assert book.default.language == "pt"
    assert book.get("fr").language == "fr"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('language: en\nbody: "Hi {name}"\n', "unknown placeholder"),
        ('language: en\nbody: "Hi {"\n', "bad placeholder"),
        ("language: en\n", "'body'"),
        ('body: "x"\n', "'language'"),
        ('language: en\nbody: "x"\nnumber_words: {five: 9}\n', "ratings 1-5"),
        ('language: en\nbody: "x"\nstop_words: stop\n', "list of words"),
        ('language: en\nbody: "x"\ncolour: red\n', "unknown key"),
        ("- just\n- a list\n", "must be a mapping"),
        ("language: [unclosed\n", "cannot read"),
    ],
)
def test_bad_template_files_fail_with_a_clear_message(tmp_path: Path, content: str, message: str) -> None:
    (tmp_path / "en.yaml").write_text(content)
    with pytest.raises(TemplateError, match=message):
        load_templates(tmp_path, "en")


def test_missing_default_language_or_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="default language"):
        load_templates(None, "zz")
    with pytest.raises(TemplateError, match="does not exist"):
        load_templates(tmp_path / "nope", "en")
