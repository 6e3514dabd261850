"""Survey settings turned into checked plain values (time zones resolved, times parsed)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers

from surveys.policy import PolicyConfig, QuietHours
from surveys.webhook_auth import SourceAllowList
from switchboard.errors import UserFacingError
from switchboard.settings import SurveysSettings


class SurveyConfigError(UserFacingError):
    """A survey setting that cannot work (unknown time zone or country)."""


@dataclass(frozen=True)
class SurveyConfig:
    """Everything the survey service needs from settings, as typed values."""

    policy: PolicyConfig
    default_region: str
    default_language: str
    company_name: str
    sender_id: str
    min_between: timedelta | None
    prefix_digits: int
    prefix_hourly_cap: int
    reply_window: timedelta
    send_timeout: float
    max_attempts: int
    retry_initial: float
    retry_max: float
    uncertain_window: timedelta
    batch_size: int
    concurrency: int
    poll_interval: float
    report_timezone: ZoneInfo

    @property
    def lease(self) -> timedelta:
        """How long a claimed survey stays ours before another process may call it uncertain."""
        return timedelta(seconds=self.send_timeout * 2 + 30)

    @classmethod
    def from_settings(cls, s: SurveysSettings) -> SurveyConfig:
        """Check and convert; raise SurveyConfigError naming the variable to fix."""
        countries = frozenset(c.strip().upper() for c in s.allowed_countries if c.strip())
        unknown = sorted(c for c in countries | {s.default_region.upper()} if c not in _REGIONS)
        if unknown:
            raise SurveyConfigError(
                f"unknown country code(s) {unknown} in SWITCHBOARD_SURVEYS_ALLOWED_COUNTRIES or "
                "SWITCHBOARD_SURVEYS_DEFAULT_REGION; use ISO codes such as US, GB, FR"
            )
        try:
            SourceAllowList(s.webhook_allowed_sources)
        except ValueError as exc:
            raise SurveyConfigError(f"SWITCHBOARD_SURVEYS_WEBHOOK_ALLOWED_SOURCES: {exc}") from None
        policy = PolicyConfig(
            enabled=s.enabled,
            delay=timedelta(minutes=s.delay_minutes),
            quiet=QuietHours(_hhmm(s.quiet_start), _hhmm(s.quiet_end)),
            default_timezone=_zone(s.default_timezone, "DEFAULT_TIMEZONE").key,
            allowed_countries=countries,
            self_service_outcomes=frozenset(o.strip() for o in s.self_service_outcomes if o.strip()),
            expire_after=timedelta(hours=s.expire_after_hours),
        )
        return cls(
            policy=policy,
            default_region=s.default_region.upper(),
            default_language=s.default_language,
            company_name=s.company_name,
            sender_id=s.sender_id,
            min_between=timedelta(days=s.min_days_between) if s.min_days_between > 0 else None,
            prefix_digits=s.prefix_digits,
            prefix_hourly_cap=s.prefix_hourly_cap,
            reply_window=timedelta(hours=s.reply_window_hours),
            send_timeout=s.send_timeout,
            max_attempts=s.max_attempts,
            retry_initial=s.retry_initial,
            retry_max=max(s.retry_max, s.retry_initial),
            uncertain_window=timedelta(seconds=s.uncertain_window),
            batch_size=s.batch_size,
            concurrency=s.concurrency,
            poll_interval=s.poll_interval,
            report_timezone=_zone(s.report_timezone, "REPORT_TIMEZONE"),
        )


_REGIONS = frozenset(phonenumbers.SUPPORTED_REGIONS)


def _hhmm(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def _zone(name: str, setting: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise SurveyConfigError(
            f"unknown time zone {name!r} in SWITCHBOARD_SURVEYS_{setting}; use a name such as Europe/Paris"
        ) from None
