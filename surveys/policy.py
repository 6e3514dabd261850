"""Pure survey policy: who gets a survey, when, and how long to wait after a failure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from surveys.model import PhoneInfo, SkipReason
from surveys.ports import CallEnded

# Beyond this many quiet-hour hops the zones of one number never agree on an allowed moment.
_MAX_HOPS = 32
_SEARCH_HORIZON = timedelta(days=3)


@dataclass(frozen=True)
class QuietHours:
    """Local times during which no survey is sent; ``start > end`` wraps midnight (21:00-09:00)."""

    start: time
    end: time

    def contains(self, local: time) -> bool:
        """True when the local wall-clock time falls inside quiet hours."""
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def end_after(self, moment: datetime, zone: ZoneInfo) -> datetime:
        """The UTC instant quiet hours end in ``zone``, for a ``moment`` that is inside them."""
        local = moment.astimezone(zone)
        day = local.date()
        if self.start > self.end and local.time() >= self.start:
            day = day + timedelta(days=1)
        end_local = datetime.combine(day, self.end, tzinfo=zone)
        end_utc = end_local.astimezone(UTC)
        # A DST gap can map the wall time before `moment`; quiet hours then end at once.
        return max(end_utc, moment)


@dataclass(frozen=True)
class PolicyConfig:
    """The policy knobs, as plain values."""

    enabled: bool
    delay: timedelta
    quiet: QuietHours
    default_timezone: str
    allowed_countries: frozenset[str]
    self_service_outcomes: frozenset[str]
    expire_after: timedelta


@dataclass(frozen=True)
class Plan:
    """Schedule at ``due_at`` (expiring at ``expires_at``) or skip for ``skip``."""

    skip: SkipReason | None
    due_at: datetime | None = None
    expires_at: datetime | None = None


def eligible(event: CallEnded, config: PolicyConfig) -> bool:
    """Calls an agent handled always; self-service outcomes only when configured."""
    if event.agent_id:
        return True
    return (event.ivr_outcome or "") in config.self_service_outcomes


def plan_survey(event: CallEnded, phone: PhoneInfo, config: PolicyConfig) -> Plan:
    """Decide from the call and the checked number alone (opt-outs and caps need the store)."""
    if not config.enabled:
        return Plan(SkipReason.DISABLED)
    if not eligible(event, config):
        return Plan(SkipReason.NOT_ELIGIBLE)
    if phone.region is None or phone.region not in config.allowed_countries:
        return Plan(SkipReason.COUNTRY_NOT_ALLOWED)
    if not phone.mobile_capable:
        return Plan(SkipReason.NOT_MOBILE)
    earliest = event.ended_at.astimezone(UTC) + config.delay
    expires_at = event.ended_at.astimezone(UTC) + config.expire_after
    zones = phone.time_zones or (config.default_timezone,)
    due = next_allowed_time(earliest, zones, config.quiet)
    if due > expires_at:
        return Plan(SkipReason.TOO_LATE, due_at=due, expires_at=expires_at)
    return Plan(None, due_at=due, expires_at=expires_at)


def next_allowed_time(earliest: datetime, zones: Sequence[str], quiet: QuietHours) -> datetime:
    """The first instant at or after ``earliest`` outside quiet hours in every one of ``zones``.

    A number can span several zones (a US toll-free or a Russian mobile); we wait until it is daytime
    in all of them. If they never agree within three days, the first zone alone decides.
    """
    infos = [ZoneInfo(z) for z in zones] or [ZoneInfo("UTC")]
    candidate = _step(earliest, infos, quiet)
    if candidate is not None:
        return candidate
    only = _step(earliest, infos[:1], quiet)
    assert only is not None  # one zone always leaves quiet hours within a day
    return only


def _step(earliest: datetime, zones: Sequence[ZoneInfo], quiet: QuietHours) -> datetime | None:
    candidate = earliest
    for _ in range(_MAX_HOPS):
        moved = False
        for zone in zones:
            if quiet.contains(candidate.astimezone(zone).time()):
                candidate = quiet.end_after(candidate, zone)
                moved = True
        if not moved:
            return candidate
        if candidate - earliest > _SEARCH_HORIZON:
            return None
    return None


def prefix_of(e164: str, digits: int) -> str:
    """The leading digits (country code included) that SMS-pumping caps count by."""
    return e164.lstrip("+")[:digits]


def hour_bucket(moment: datetime) -> datetime:
    """The UTC clock hour a moment falls in (per-prefix caps count per clock hour)."""
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def retry_delay(attempt: int, initial: float, cap: float) -> float:
    """Seconds before retry number ``attempt`` (1-based): doubling from ``initial``, never above ``cap``."""
    return min(cap, initial * 2.0 ** min(max(attempt - 1, 0), 32))
