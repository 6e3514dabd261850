"""Condition tests: business hours (time zone, holidays), VIP lists and variable tests, against a Clock."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from ivr.flows.model import BusinessHours, FlowSpec, Predicate
from ivr.runtime.region import normalise_number

Lookup = Callable[[str], str | None]


def is_open(hours: BusinessHours, when: datetime) -> bool:
    """True when ``when`` (any aware datetime) falls in an open range of the local day or of an overnight
    range that started the day before."""
    local = when.astimezone(hours.zone)
    minute = local.hour * 60 + local.minute
    today = local.date()
    if any(start <= minute < end for start, end in hours.ranges_for(today)):
        return True
    yesterday = today - timedelta(days=1)
    return any(end > 24 * 60 and minute < end - 24 * 60 for _, end in hours.ranges_for(yesterday))


class VipDirectory:
    """A flow's VIP lists, numbers normalised to E.164 once."""

    def __init__(self, lists: Mapping[str, list[str]], default_country: str = "US") -> None:
        self._lists: dict[str, frozenset[str]] = {
            name: frozenset(n for n in (normalise_number(x, default_country) for x in numbers) if n)
            for name, numbers in lists.items()
        }

    def contains(self, name: str, e164: str | None) -> bool:
        return e164 is not None and e164 in self._lists.get(name, frozenset())


def evaluate(
    predicate: Predicate,
    *,
    spec: FlowSpec,
    now: datetime,
    caller_e164: str | None,
    variables: Lookup,
    vips: VipDirectory,
) -> bool:
    """Evaluate a condition; unknown hours or lists (impossible after validation) count as false."""

    def ev(p: Predicate) -> bool:
        if p.open is not None:
            hours = spec.hours.get(p.open)
            return hours is not None and is_open(hours, now)
        if p.vip is not None:
            return vips.contains(p.vip, caller_e164)
        if p.all is not None:
            return all(ev(x) for x in p.all)
        if p.any is not None:
            return any(ev(x) for x in p.any)
        if p.not_ is not None:
            return not ev(p.not_)
        if p.var is not None:
            return _var_test(p, variables(p.var))
        return False

    return ev(predicate)


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None


def _var_test(p: Predicate, value: str | None) -> bool:
    if p.set is not None:
        return bool(value) == p.set
    if p.eq is not None:
        return value is not None and value.casefold() == _text(p.eq).casefold()
    if p.ne is not None:
        return value is None or value.casefold() != _text(p.ne).casefold()
    if p.in_ is not None:
        return value is not None and value.casefold() in {_text(v).casefold() for v in p.in_}
    if p.matches is not None:
        return value is not None and re.fullmatch(p.matches, value[:200]) is not None
    number = _number(value)
    if number is None:
        return False
    if p.gt is not None:
        return number > p.gt
    if p.ge is not None:
        return number >= p.ge
    if p.lt is not None:
        return number < p.lt
    if p.le is not None:
        return number <= p.le
    return False
