"""Routing configuration: validation of bad input, YAML/CSV import, SQL round trip through the migration."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from acd.codec import config_from_dict, config_to_dict
from acd.errors import AcdValidationError
from acd.importer import load_yaml_text, merge_absences_csv, merge_agents_csv, merge_vips_csv
from acd.model import Absence, Agent, AgentSkill, Queue, WaitingCall
from acd.repository import AcdRepository, with_agent

YAML = """
skills: [billing, support]
regions: [eu, us]
agents:
  - {id: a1, name: Ann, endpoint: PJSIP/101, skills: {billing: 5, support: 2}, regions: [eu], languages: [en],
     timezone: Europe/Berlin, substitutes: [a2]}
  - {id: a2, name: Bo, endpoint: PJSIP/102, skills: {billing: 3}, regions: [us]}
queues:
  - {name: billing, skill: billing, service_level: 80/20, wrap_up_seconds: 30, ring_timeout_seconds: 20,
     max_attempts: 3, strategy: fewest-calls, min_proficiency: 3,
     steps: [{after: 30, action: any-region}, {after: 60, action: min-proficiency, value: 2},
             {after: 90, action: overflow, value: support}]}
  - {name: support, skill: support}
absences: [{agent: a1, kind: sick, from: "2026-01-05T00:00:00Z", until: "2026-01-07T00:00:00Z"}]
vips: [{number: "+15551230002", name: Big Co, boost: 10, agent: a1}]
"""


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: AgentSkill("billing", 6), "proficiency of skill 'billing' must be an integer from 1 to 5"),
        (lambda: AgentSkill("billing", "5"), "must be an integer"),
        (lambda: Agent("a1", "Ann", "PJSIP/101&PJSIP/102"), "is not a single device"),
        (lambda: Agent("a1", "Ann", "PJSIP/101", timezone="Mars/Base"), "unknown time zone"),
        (lambda: Agent("a1", "Ann", "PJSIP/101", substitutes=("a1",)), "its own substitute"),
        (lambda: Queue("q", "billing", strategy="random"), "unknown strategy"),
        (lambda: Queue("q", "billing", ring_timeout_seconds=1), "ring_timeout_seconds"),
        (
            lambda: Absence(
                "x", "a1", "sick", datetime(2026, 1, 7, tzinfo=UTC), datetime(2026, 1, 5, tzinfo=UTC)
            ),
            "is not after start",
        ),
        (
            lambda: Absence(
                "x", "a1", "holiday", datetime(2026, 1, 5, tzinfo=UTC), datetime(2026, 1, 7, tzinfo=UTC)
            ),
            "unknown absence kind",
        ),
        (
            lambda: WaitingCall("c", "Bad Queue!", "billing", "X/1", "1", datetime(2026, 1, 5, tzinfo=UTC)),
            "is not a valid name",
        ),
    ],
)
def test_bad_values_are_refused_with_a_clear_message(make, message):
    with pytest.raises(AcdValidationError, match=message):
        make()


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        (
            {"agents": [{"id": "a1", "endpoint": "PJSIP/101", "skills": {"cooking": 3}}]},
            "unknown skill 'cooking'",
        ),
        ({"agents": [{"id": "a1", "endpoint": "PJSIP/101", "regions": ["mars"]}]}, "unknown region 'mars'"),
        ({"agents": [{"id": "a1", "endpoint": "PJSIP/101", "skills": {"billing": 0}}]}, "from 1 to 5"),
        (
            {"agents": [{"id": "a1", "endpoint": "PJSIP/101", "substitutes": ["ghost"]}]},
            "'ghost' is not an agent",
        ),
        (
            {"agents": [{"id": "a1", "endpoint": "PJSIP/101"}, {"id": "a2", "endpoint": "PJSIP/101"}]},
            "share endpoint",
        ),
        (
            {
                "queues": [
                    {
                        "name": "q",
                        "skill": "billing",
                        "steps": [{"after": 5, "action": "overflow", "value": "nope"}],
                    }
                ]
            },
            "overflow target 'nope'",
        ),
        ({"queues": [{"name": "q", "skill": "billing", "colour": "red"}]}, "unknown queue field"),
        ({"agents": "everyone"}, "agents must be a list"),
    ],
)
def test_configuration_with_dangling_references_is_refused(patch, message):
    base = {"skills": ["billing"], "regions": ["eu"], "agents": [], "queues": []}
    with pytest.raises(AcdValidationError, match=message):
        config_from_dict({**base, **patch})


def test_yaml_import_builds_the_whole_configuration():
    config = load_yaml_text(YAML)
    assert config.agents["a1"].proficiency("billing") == 5 and config.agents["a1"].substitutes == ("a2",)
    q = config.queues["billing"]
    assert (
        q.service_level_percent == 80 and q.service_level_seconds == 20 and q.strategy.value == "fewest-calls"
    )
    assert [s.action.value for s in q.steps] == ["any-region", "min-proficiency", "overflow"]
    assert config.absence_at("a1", datetime(2026, 1, 6, tzinfo=UTC)).kind.value == "sick"
    assert config.vips["+15551230002"].agent_id == "a1"
    assert config_from_dict(config_to_dict(config)) == config


def test_yaml_errors_name_the_entry():
    with pytest.raises(AcdValidationError, match=r"agents\[1\]: .*proficiency"):
        load_yaml_text(YAML.replace("billing: 3}", "billing: 9}"))
    with pytest.raises(AcdValidationError, match="not valid YAML"):
        load_yaml_text("agents: [unclosed")


def test_csv_import_merges_agents_absences_and_vips():
    config = load_yaml_text(YAML)
    config = merge_agents_csv(
        config,
        "id,name,endpoint,skills,regions,languages,timezone,substitutes\n"
        "a3,Cy,PJSIP/103,billing:4;support:5,eu;us,en;ko,Asia/Seoul,a1;a2\n",
    )
    assert config.agents["a3"].proficiency("support") == 5 and config.agents["a3"].substitutes == ("a1", "a2")
    config = merge_absences_csv(
        config, "agent,kind,from,until,note\na3,training,2026-02-01T09:00:00Z,2026-02-01T17:00:00Z,course\n"
    )
    assert config.absence_at("a3", datetime(2026, 2, 1, 12, tzinfo=UTC)).kind.value == "training"
    config = merge_vips_csv(config, "number,name,boost,agent\n+15559990000,Acme,5,a3\n")
    assert config.vips["+15559990000"].priority_boost == 5


def test_csv_errors_name_the_row():
    config = load_yaml_text(YAML)
    with pytest.raises(AcdValidationError, match=r"row 3: .*single device"):
        merge_agents_csv(config, "id,endpoint\na4,PJSIP/104\na5,PJSIP/1;ready\n")
    with pytest.raises(AcdValidationError, match=r"row 2: .*not after start"):
        merge_absences_csv(config, "agent,kind,from,until\na1,leave,2026-02-02,2026-02-01\n")
    with pytest.raises(AcdValidationError, match="missing column"):
        merge_vips_csv(config, "name\nx\n")


@pytest.fixture
async def repository(tmp_path: Path):
    from switchboard.db import create_engine, session_factory, upgrade

    url = f"sqlite+aiosqlite:///{tmp_path / 'acd.db'}"
    await upgrade(url, "acd@head")
    engine = create_engine(url)
    try:
        yield AcdRepository(session_factory(engine))
    finally:
        await engine.dispose()


async def test_configuration_round_trips_through_sql_after_the_migration(repository):
    config = load_yaml_text(YAML)
    await repository.save_config(config)
    loaded = await repository.load_config()
    assert config_to_dict(loaded) == config_to_dict(config)
    edited = await repository.edit_config(
        lambda c: with_agent(c, Agent("a9", "Di", "PJSIP/109", (AgentSkill("support", 4),)))
    )
    assert "a9" in (await repository.load_config()).agents and "a9" in edited.agents
    with pytest.raises(AcdValidationError, match="unknown skill"):
        await repository.edit_config(
            lambda c: with_agent(c, Agent("a8", "X", "PJSIP/108", (AgentSkill("nope", 1),)))
        )
    assert "a8" not in (await repository.load_config()).agents


async def test_queue_call_record_keeps_times_outcome_and_explanation(repository):
    from acd.model import RoutingExplanation

    t0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    call = WaitingCall("c1", "billing", "billing", "PJSIP/x-1", "1.1", t0, caller_number="+15551230002")
    await repository.call_enqueued(call)
    await repository.call_assigned(call, "a1", RoutingExplanation("initial", "proficiency-first"))
    await repository.call_ended(call, "abandoned", datetime(2026, 1, 5, 9, 0, 42, tzinfo=UTC))
    row = await repository.get_call("c1")
    assert row.outcome == "abandoned" and row.wait_seconds == pytest.approx(42)
    assert row.explanation["rule"] == "proficiency-first" and row.agent_id == "a1"
    assert await repository.open_calls() == []


async def test_a_record_waiting_behind_a_reaction_is_still_written_when_the_writer_stops(repository):
    import asyncio

    from acd.records import RecordWriter
    from switchboard.call_path import gate

    writer = RecordWriter(repository)
    task = asyncio.create_task(writer.run())
    await asyncio.sleep(0)
    gate.hold()  # the ACD is reacting: the writer takes the record, then waits for a quiet moment
    try:
        t0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
        await writer.record("call_enqueued", WaitingCall("c1", "billing", "billing", "PJSIP/x-1", "1.1", t0))
        await asyncio.sleep(0.01)
        task.cancel()  # shutdown arrives while the writer waits
        await asyncio.gather(task, return_exceptions=True)
    finally:
        gate.release()
    row = await repository.get_call("c1")
    assert row is not None and row.outcome == "waiting"
