"""Text normalisation shared by templates and reply parsing: width, case and accents folded."""

from __future__ import annotations

import re
import unicodedata

_SPACE = re.compile(r"\s+")
# Zero-width joiners are format characters that scripts and emoji sequences need; other format
# characters (bidi overrides that make stored text display differently, zero-width spaces, BOMs) go.
_KEPT_FORMAT = frozenset("\u200c\u200d")


def clean(text: str) -> str:
    """NFKC, control and invisible format characters dropped, whitespace collapsed, trimmed.

    Case, accents, emoji and joiners (ZWJ/ZWNJ, which scripts and emoji sequences need) are kept.
    """
    text = unicodedata.normalize("NFKC", text)
    kept = []
    for ch in text:
        if ch.isspace():
            kept.append(" ")
        elif unicodedata.category(ch) == "Cc" or (
            unicodedata.category(ch) == "Cf" and ch not in _KEPT_FORMAT
        ):
            continue
        else:
            kept.append(ch)
    return _SPACE.sub(" ", "".join(kept)).strip()


def fold(text: str) -> str:
    """Case and accents removed, for comparing words across spellings ("Arrêt" == "arret")."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return unicodedata.normalize("NFC", "".join(ch for ch in decomposed if not unicodedata.combining(ch)))


def strip_punctuation(word: str) -> str:
    """Leading and trailing punctuation and symbols removed from one word ("STOP!!!" -> "STOP")."""
    start, end = 0, len(word)
    while start < end and unicodedata.category(word[start])[0] in "PS":
        start += 1
    while end > start and unicodedata.category(word[end - 1])[0] in "PS":
        end -= 1
    return word[start:end]
