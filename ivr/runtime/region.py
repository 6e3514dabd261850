"""Caller numbers: normalisation to E.164 and the caller's region from a country/area-code map.

The map's keys are either ISO country codes (``GB``, ``US``) or E.164 prefixes (``+1212``, ``+3375``); the
longest matching prefix wins over the country, and ``default`` applies when nothing matches. Caller ID is
caller-controlled text: it is length-capped and reduced to digits and a leading ``+`` before parsing.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass

import phonenumbers

MAX_NUMBER_CHARS = 32
_ANONYMOUS = {"", "anonymous", "unknown", "restricted", "private", "unavailable", "withheld"}
_KEEP = re.compile(r"[^0-9+]")


def normalise_number(raw: str, default_country: str = "US") -> str | None:
    """``"(212) 555-0100"`` -> ``"+12125550100"``; None for anonymous, junk or impossible numbers."""
    text = raw.strip()[:MAX_NUMBER_CHARS]
    if text.strip("<>").lower() in _ANONYMOUS:
        return None
    digits = _KEEP.sub("", text)
    if digits.startswith("00"):
        digits = "+" + digits[2:]
    if "+" in digits[1:] or len(digits.lstrip("+")) < 3:
        return None
    try:
        parsed = phonenumbers.parse(digits, default_country.upper())
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


# Where several countries share a calling code (+1, +7, +44, +61...), the country follows from the first
# national digits (NANP area codes, +44 1481 Guernsey, +61 89162 Cocos Islands): five tell them all apart.
# Looked up once per such prefix, the full check (about 0.2 ms per new +1 number) is off the call path.
PREFIX_DIGITS = 5
MAX_PREFIXES = 100_000


def country_of(e164: str) -> str | None:
    """ISO country code of an E.164 number (``+442071234567`` -> ``GB``)."""
    split = _calling_code(e164)
    if split is None:
        return None
    code, national = split
    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE[code]
    if len(regions) == 1:  # one country per calling code: no need to look closer (nor does phonenumbers)
        return None if regions[0] in ("001", "ZZ") else regions[0]
    key = e164[: len(str(code)) + 1 + PREFIX_DIGITS]
    known = _PREFIX_COUNTRY.get(key)
    if known is not None:
        return known
    country, matched = _country_of_number(e164)
    if matched and len(national) > PREFIX_DIGITS:
        if len(_PREFIX_COUNTRY) >= MAX_PREFIXES:
            _PREFIX_COUNTRY.clear()
        _PREFIX_COUNTRY[key] = country  # only a real match speaks for its prefix, never a fallback
    return country


_PREFIX_COUNTRY: dict[str, str] = {}


def _calling_code(e164: str) -> tuple[int, str] | None:
    """(calling code, national digits) of ``+<digits>``, or None when no calling code matches."""
    digits = e164[1:]
    if not e164.startswith("+") or not digits.isdigit():
        return None
    for size in (1, 2, 3):
        code = int(digits[:size])
        if code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            return code, digits[size:]
    return None


@functools.lru_cache(maxsize=65536)  # repeat callers: the full lookup walks every region of a calling code
def _country_of_number(e164: str) -> tuple[str | None, bool]:
    """(country, whether a country's numbering plan matched the number itself)."""
    try:
        parsed = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return None, False
    code = phonenumbers.region_code_for_number(parsed)
    if code not in (None, "ZZ", "001"):
        return code, True
    # unassigned ranges (+1 555 ...) still belong to the main country of their calling code
    code = phonenumbers.region_code_for_country_code(parsed.country_code)
    return (None if code in (None, "ZZ", "001") else code), False


@dataclass(frozen=True)
class RegionMap:
    """Region lookup from a config map of country codes and E.164 prefixes to region names."""

    mapping: Mapping[str, str]
    default_country: str = "US"

    def __post_init__(self) -> None:
        for key in self.mapping:
            if key != "default" and not (
                re.fullmatch(r"\+\d{1,15}", key) or re.fullmatch(r"[A-Za-z]{2}", key)
            ):
                raise ValueError(
                    f"region map key '{key}' is neither a country code (GB) nor a prefix (+4420)"
                )

    def region_for(self, caller_number: str) -> str | None:
        """The region for a caller number as received, or the map's default (None when there is none)."""
        return self.region_for_e164(normalise_number(caller_number, self.default_country))

    def region_for_e164(self, e164: str | None) -> str | None:
        """The region for an already normalised number (None: anonymous or unusable)."""
        if e164 is None:
            return self.mapping.get("default")
        for prefix, region in self._prefixes:
            if e164.startswith(prefix):
                return region
        country = country_of(e164)
        if country is not None and country in self._countries:
            return self._countries[country]
        return self.mapping.get("default")

    @functools.cached_property
    def _prefixes(self) -> tuple[tuple[str, str], ...]:
        """The E.164 prefixes, longest first (the most specific wins); sorted once, not per call."""
        keys = sorted((k for k in self.mapping if k.startswith("+")), key=len, reverse=True)
        return tuple((k, self.mapping[k]) for k in keys)

    @functools.cached_property
    def _countries(self) -> dict[str, str]:
        """Country code (upper case) to region; the first key of a country wins, as in the map's order."""
        countries: dict[str, str] = {}
        for key, region in self.mapping.items():
            if key != "default" and not key.startswith("+"):
                countries.setdefault(key.upper(), region)
        return countries
