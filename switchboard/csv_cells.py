"""CSV cells that spreadsheets cannot run: shared by every CSV export (survey results, reports)."""

from __future__ import annotations

# Excel, LibreOffice and Google Sheets treat a cell starting with one of these as a formula (OWASP "CSV
# injection"); a tab or line break in front hides one from a quick look.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")


def safe_cell(text: str) -> str:
    """``text`` with a leading apostrophe when it would start a formula; names come from outside."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text
