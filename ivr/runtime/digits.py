"""Checks on keypad input: noise removal, length, Luhn checksum, pattern."""

from __future__ import annotations

import re

from ivr.flows.model import CollectNode


def clean_digits(raw: str) -> str:
    """Only the decimal digits of what was pressed (``*`` and ``#`` presses are noise here)."""
    return "".join(c for c in raw if c in "0123456789")


def luhn_ok(digits: str) -> bool:
    """The Luhn (mod 10) checksum used by card and many account numbers."""
    if not digits.isdigit() or len(digits) < 2:
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2 == 1:
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return total % 10 == 0


def digits_problem(digits: str, node: CollectNode) -> str | None:
    """Why ``digits`` are not acceptable for ``node`` (None when they are)."""
    if len(digits) < node.min_digits:
        return f"too-short:{len(digits)}"
    if len(digits) > node.max_digits:
        return f"too-long:{len(digits)}"
    rule = node.validate_
    if rule is not None:
        if rule.luhn and not luhn_ok(digits):
            return "luhn"
        if rule.regex is not None and re.fullmatch(rule.regex, digits) is None:
            return "pattern"
    return None


def mask(digits: str) -> str:
    """``4111111111111111`` -> ``xxxxxxxxxxxx1111`` for records of sensitive input."""
    keep = 4 if len(digits) > 8 else 0
    return "x" * (len(digits) - keep) + digits[len(digits) - keep :]
