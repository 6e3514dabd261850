"""Survey wiring: settings from the environment, the Alembic branch, and the background sender loop."""

from __future__ import annotations

import asyncio

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

import surveys.tables  # noqa: F401  (registers the tables)
from surveys.config import SurveyConfig, SurveyConfigError
from surveys.gateways.log import LogGateway
from surveys.model import SurveyState
from surveys.ports import CallEnded
from switchboard import db
from switchboard.orm import Base
from switchboard.settings import ConfigError, SurveysSettings, load_settings

SURVEY_TABLES = {
    "surveys",
    "survey_replies",
    "survey_unmatched_replies",
    "survey_optouts",
    "survey_contacts",
    "survey_prefix_counts",
}


def test_survey_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("SWITCHBOARD_SURVEYS_GATEWAY", "kannel")
    monkeypatch.setenv("SWITCHBOARD_SURVEYS_KANNEL_PASSWORD", "kpw-123")
    monkeypatch.setenv("SWITCHBOARD_SURVEYS_ALLOWED_COUNTRIES", '["US", "FR"]')
    monkeypatch.setenv("SWITCHBOARD_SURVEYS_QUIET_START", "20:30")
    settings = load_settings()
    assert settings.surveys.gateway == "kannel"
    assert settings.surveys.kannel_password.get_secret_value() == "kpw-123"
    assert "kpw-123" not in repr(settings.surveys)
    assert settings.surveys.allowed_countries == ["US", "FR"]
    config = SurveyConfig.from_settings(settings.surveys)
    assert config.policy.quiet.start.hour == 20 and config.policy.quiet.start.minute == 30


@pytest.mark.parametrize(
    ("name", "value"),
    [("SWITCHBOARD_SURVEYS_QUIET_START", "25:00"), ("SWITCHBOARD_SURVEYS_GATEWAY", "carrier-pigeon")],
)
def test_bad_survey_settings_are_refused_by_name(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match="surveys"):
        load_settings()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"default_timezone": "Mars/Olympus"}, "SWITCHBOARD_SURVEYS_DEFAULT_TIMEZONE"),
        ({"report_timezone": "nope"}, "SWITCHBOARD_SURVEYS_REPORT_TIMEZONE"),
        ({"allowed_countries": ["US", "XX"]}, "XX"),
        (
            {"webhook_allowed_sources": ["10.0.0.0/8", "kannel.local"]},
            "WEBHOOK_ALLOWED_SOURCES.*kannel.local",
        ),
    ],
)
def test_survey_settings_that_cannot_work_say_which_variable_to_fix(changes, message):
    with pytest.raises(SurveyConfigError, match=message):
        SurveyConfig.from_settings(SurveysSettings(**changes))


def test_every_survey_setting_has_a_description():
    for name, field in SurveysSettings.model_fields.items():
        assert field.description, name


async def test_alembic_branch_creates_exactly_the_models_tables_and_drops_them(fresh_database_url):
    await db.upgrade(fresh_database_url)
    engine = db.create_engine(fresh_database_url)
    try:
        async with engine.connect() as conn:
            tables = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
            diff = await conn.run_sync(
                lambda c: compare_metadata(
                    MigrationContext.configure(c, opts={"compare_type": True}), Base.metadata
                )
            )
        assert tables >= SURVEY_TABLES
        assert [d for d in diff if "survey" in repr(d)] == []  # the migration matches surveys/tables.py
    finally:
        await engine.dispose()
    await db.downgrade(fresh_database_url, "surveys@base")
    engine = db.create_engine(fresh_database_url)
    try:
        async with engine.connect() as conn:
            tables = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
        assert not (SURVEY_TABLES & tables)
    finally:
        await engine.dispose()


async def test_background_sender_sends_when_due_and_wakes_for_new_surveys(make_service, day_clock, kit):
    gateway = LogGateway()
    service = await make_service(gateway=gateway, delay_minutes=1, poll_interval=1)

    async def run_for(seconds: int) -> None:
        for _ in range(seconds):  # time moves a second at a time and the loop's database work settles
            await day_clock.advance(1)
            await asyncio.sleep(0.005)

    await service.start()
    try:
        await service.on_call_ended(CallEnded("c1", kit.NY, "ann", "q", "s", "queue", "en", day_clock.now()))
        await run_for(50)
        assert not gateway.sent
        await run_for(15)
        for _ in range(500):  # the send is due: let the sender's database work finish, however slow the host
            if gateway.sent and (await service.survey_for_call("c1")).survey.state is SurveyState.SENT:
                break
            await asyncio.sleep(0.01)
        assert [sms.to for sms in gateway.sent] == [kit.NY]
        assert (await service.survey_for_call("c1")).survey.state is SurveyState.SENT
        assert service.gateway_state == "ok"
    finally:
        await service.close()
