"""Survey templates per language: the SMS body and the words replies are read with."""

from __future__ import annotations

import logging
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from surveys.gateways.gsm import is_gsm7
from surveys.text import fold
from switchboard.errors import UserFacingError

log = logging.getLogger(__name__)

BUILTIN_DIR = Path(__file__).resolve().parent / "templates"
PLACEHOLDERS = frozenset({"company"})
_WORD_LISTS = ("out_of", "rating_suffixes", "not_rating_after", "stop_words", "start_words")
GSM_SINGLE_SEGMENT = 160
UCS2_SINGLE_SEGMENT = 70


class TemplateError(UserFacingError):
    """A template file is missing, unreadable or malformed."""


@dataclass(frozen=True)
class SurveyTemplate:
    """One language's survey SMS and reply vocabulary (all words folded: lower case, no accents)."""

    language: str
    body: str
    number_words: Mapping[str, int]
    out_of: tuple[str, ...]
    rating_suffixes: tuple[str, ...]
    not_rating_after: tuple[str, ...]
    stop_words: frozenset[str]
    start_words: frozenset[str]

    def render(self, company: str) -> str:
        """The SMS text for this language."""
        return self.body.format_map({"company": company})


class TemplateBook:
    """All templates, looked up by a call's language with fallbacks ("fr-CA" -> "fr" -> default)."""

    def __init__(self, templates: Iterable[SurveyTemplate], default_language: str) -> None:
        self._by_language = {t.language: t for t in templates}
        key = _language_key(default_language)
        if key not in self._by_language:
            raise TemplateError(
                f"no survey template for the default language {default_language!r}; "
                f"have {sorted(self._by_language)} (SWITCHBOARD_SURVEYS_DEFAULT_LANGUAGE)"
            )
        self.default = self._by_language[key]
        self.stop_words = frozenset().union(*(t.stop_words for t in self._by_language.values()))
        self.start_words = frozenset().union(*(t.start_words for t in self._by_language.values()))

    @property
    def languages(self) -> list[str]:
        """Languages that have a template."""
        return sorted(self._by_language)

    def get(self, language: str | None) -> SurveyTemplate:
        """The template for a language tag, falling back to its primary subtag, then the default."""
        key = _language_key(language or "")
        if key in self._by_language:
            return self._by_language[key]
        return self._by_language.get(key.split("-")[0], self.default)


def _language_key(language: str) -> str:
    return language.strip().replace("_", "-").lower()[:16]


def load_templates(custom_dir: Path | None, default_language: str) -> TemplateBook:
    """Built-in templates, each replaced or joined by ``<language>.yaml`` files from ``custom_dir``."""
    files = {p.stem: p for p in sorted(BUILTIN_DIR.glob("*.yaml"))}
    if custom_dir is not None:
        if not custom_dir.is_dir():
            raise TemplateError(
                f"survey templates directory {custom_dir} does not exist (SWITCHBOARD_SURVEYS_TEMPLATES_DIR)"
            )
        files.update({p.stem: p for p in sorted(custom_dir.glob("*.yaml"))})
    return TemplateBook((load_template_file(p) for p in files.values()), default_language)


def load_template_file(path: Path) -> SurveyTemplate:
    """One template file, checked: a body with known placeholders and lists of words."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise TemplateError(f"cannot read survey template {path}: {exc}") from None
    if not isinstance(data, dict):
        raise TemplateError(f"survey template {path} must be a mapping (language:, body:, ...)")
    return template_from_mapping(data, str(path))


def template_from_mapping(data: Mapping[str, Any], where: str) -> SurveyTemplate:
    """Build and check a template from parsed YAML."""
    language = data.get("language")
    body = data.get("body")
    if not isinstance(language, str) or not language.strip():
        raise TemplateError(f"survey template {where}: 'language' must be a language tag such as 'en'")
    if not isinstance(body, str) or not body.strip():
        raise TemplateError(f"survey template {where}: 'body' must be the SMS text")
    try:
        fields = {name for _, name, _, _ in string.Formatter().parse(body) if name is not None}
    except ValueError as exc:
        raise TemplateError(f"survey template {where}: bad placeholder in body: {exc}") from None
    unknown = fields - PLACEHOLDERS
    if unknown:
        raise TemplateError(
            f"survey template {where}: unknown placeholder(s) {sorted(unknown)}; "
            f"allowed: {sorted(PLACEHOLDERS)}"
        )
    numbers = data.get("number_words", {}) or {}
    if not isinstance(numbers, dict) or not all(
        isinstance(k, str) and isinstance(v, int) and 1 <= v <= 5 for k, v in numbers.items()
    ):
        raise TemplateError(f"survey template {where}: 'number_words' must map words to ratings 1-5")
    lists: dict[str, tuple[str, ...]] = {}
    for key in _WORD_LISTS:
        value = data.get(key, []) or []
        if not isinstance(value, list) or not all(isinstance(w, str) and w.strip() for w in value):
            raise TemplateError(f"survey template {where}: {key!r} must be a list of words")
        lists[key] = tuple(fold(w.strip()) for w in value)
    extra = set(data) - {"language", "body", "number_words", *_WORD_LISTS}
    if extra:
        raise TemplateError(f"survey template {where}: unknown key(s) {sorted(extra)}")
    limit = GSM_SINGLE_SEGMENT if is_gsm7(body) else UCS2_SINGLE_SEGMENT
    if len(body) > limit:
        log.debug("survey template language=%s body_chars=%d sends as a multi-part SMS", language, len(body))
    return SurveyTemplate(
        language=_language_key(language),
        body=body.strip(),
        number_words={fold(k): v for k, v in numbers.items()},
        # Longest first, so "out of" wins over "of".
        out_of=tuple(sorted(lists["out_of"], key=len, reverse=True)),
        rating_suffixes=tuple(sorted(lists["rating_suffixes"], key=len, reverse=True)),
        not_rating_after=lists["not_rating_after"],
        stop_words=frozenset(lists["stop_words"]),
        start_words=frozenset(lists["start_words"]),
    )
