"""Build the survey service from settings (the composition root calls this)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from surveys.config import SurveyConfig, SurveyConfigError
from surveys.gateways.base import SmsGateway
from surveys.gateways.kannel import KannelGateway
from surveys.gateways.log import LogGateway
from surveys.service import SurveyService
from surveys.store import SurveyStore
from surveys.templates import load_templates
from switchboard.clock import Clock
from switchboard.settings import SurveysSettings


def build_gateway(settings: SurveysSettings, clock: Clock) -> SmsGateway:
    """The configured gateway (not started)."""
    if settings.gateway == "kannel":
        return KannelGateway(
            sendsms_url=settings.kannel_sendsms_url,
            username=settings.kannel_username,
            password=settings.kannel_password.get_secret_value(),
            dlr_url=settings.kannel_dlr_url,
            webhook_secret=settings.webhook_secret.get_secret_value(),
            smsc_id=settings.kannel_smsc_id,
            dlr_mask=settings.kannel_dlr_mask,
            timeout=settings.send_timeout,
            max_connections=max(settings.concurrency, 1),
        )
    if settings.gateway == "smpp":
        from surveys.gateways.smpp import SmppGateway  # aiosmpplib is only needed for this gateway

        password = settings.smpp_password.get_secret_value()
        if len(password) > 8:
            raise SurveyConfigError("SWITCHBOARD_SURVEYS_SMPP_PASSWORD is longer than SMPP's 8 characters")
        return SmppGateway(
            host=settings.smpp_host,
            port=settings.smpp_port,
            system_id=settings.smpp_system_id,
            password=password,
            system_type=settings.smpp_system_type,
            source_addr=settings.sender_id,
            clock=clock,
            timeout=settings.send_timeout,
            enquire_link_interval=settings.smpp_enquire_link_interval,
            max_per_second=settings.smpp_max_per_second,
            reconnect_max=settings.retry_max,
        )
    return LogGateway()


def build_survey_service(
    settings: SurveysSettings,
    sessions: async_sessionmaker[AsyncSession],
    clock: Clock,
    *,
    gateway: SmsGateway | None = None,
    owner: str | None = None,
) -> SurveyService:
    """A ready-to-start service; raises a UserFacingError for bad settings or templates."""
    config = SurveyConfig.from_settings(settings)
    templates = load_templates(settings.templates_dir, settings.default_language)
    return SurveyService(
        store=SurveyStore(sessions),
        gateway=gateway or build_gateway(settings, clock),
        templates=templates,
        config=config,
        clock=clock,
        owner=owner,
    )
