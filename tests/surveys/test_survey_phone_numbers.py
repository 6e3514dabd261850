"""Caller numbers from outside: accepted as E.164 with zones, or rejected with a reason."""

from __future__ import annotations

import pytest

from surveys.phone import InvalidNumber, mask, parse_number


@pytest.mark.parametrize(
    ("raw", "region", "e164", "country"),
    [
        ("+12125550123", "US", "+12125550123", "US"),
        ("(212) 555-0123", "US", "+12125550123", "US"),
        ("0033612345678", "US", "+33612345678", "FR"),
        ("06 12 34 56 78", "FR", "+33612345678", "FR"),
        (" +82 10-1234-5678 ", "US", "+821012345678", "KR"),
    ],
)
def test_numbers_normalise_to_e164(raw: str, region: str, e164: str, country: str) -> None:
    phone = parse_number(raw, region)
    assert (phone.e164, phone.region) == (e164, country)
    assert phone.time_zones


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "",
        "   ",
        "anonymous",
        "unknown",
        "+1555",  # too short
        "+15551230000",  # 555-0000 range is not a valid US number
        "+999123456789",  # no such country code
        "1" * 41,
        "+1 212 555 0123; DROP TABLE surveys",
        "+1212555０123",  # fullwidth digit smuggled in
        "<script>",
    ],
)
def test_numbers_phonenumbers_rejects_raise_invalid_number(raw: str | None) -> None:
    with pytest.raises(InvalidNumber):
        parse_number(raw, "US")


def test_masked_numbers_keep_only_country_and_last_digits() -> None:
    assert mask("+12125550123") == "+12***123"
    assert mask(None) == "-"
    assert "5550" not in mask("+12125550123")
