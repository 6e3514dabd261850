"""Caller numbers: hostile text in, a checked E.164 number with its regions and time zones out."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import PhoneNumberType, timezone

from surveys.model import PhoneInfo

MAX_RAW_LENGTH = 40
_ALLOWED = re.compile(r"^[0-9+()\-./ ]+$")
_MOBILE_TYPES = {PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE}


class InvalidNumber(ValueError):
    """A number phonenumbers (or a plain sanity check) rejects; ``str()`` says why."""


class NoNumber(InvalidNumber):
    """No caller number at all (withheld or empty)."""


def parse_number(raw: str | None, default_region: str) -> PhoneInfo:
    """Check a caller number and return it as E.164 with region and time zones; raise InvalidNumber."""
    if raw is None or not raw.strip():
        raise NoNumber("no number")
    text = raw.strip()
    if len(text) > MAX_RAW_LENGTH:
        raise InvalidNumber(f"number too long ({len(text)} characters)")
    if text.startswith("00"):
        text = "+" + text[2:]
    if not _ALLOWED.match(text):
        raise InvalidNumber("number has characters other than digits and + ( ) - . /")
    try:
        parsed = phonenumbers.parse(text, default_region.upper())
    except phonenumbers.NumberParseException as exc:
        raise InvalidNumber(f"not a phone number: {exc._msg}") from None
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidNumber("not a valid number for its country")
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    zones = tuple(z for z in timezone.time_zones_for_number(parsed) if _known_zone(z))
    return PhoneInfo(
        e164=e164,
        region=phonenumbers.region_code_for_number(parsed),
        time_zones=zones,
        mobile_capable=phonenumbers.number_type(parsed) in _MOBILE_TYPES,
    )


def _known_zone(name: str) -> bool:
    if name == "Etc/Unknown":
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def mask(number: str | None) -> str:
    """A number fit for a log line: country code and last digits only."""
    if not number:
        return "-"
    if len(number) <= 6:
        return "***"
    return f"{number[:3]}***{number[-3:]}"
