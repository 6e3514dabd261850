"""Admins edit agents, skills, regions, queues and absences: saved to SQL, published to Redis."""

from __future__ import annotations

from typing import Any

from acd.codec import config_to_dict
from tests.acd.api.conftest import AcdApiKit

ADMIN = "admin1"


async def published_version(kit: AcdApiKit) -> int:
    loaded = await kit.store.load_config()
    assert loaded is not None
    return loaded.version


async def test_admin_adds_an_agent_which_is_stored_published_and_routable(acd_api: AcdApiKit) -> None:
    before = await published_version(acd_api)
    body = {
        "id": "a4",
        "name": "Dee",
        "endpoint": "PJSIP/104",
        "skills": {"sales": 4, "support": 2},
        "regions": ["us"],
        "languages": ["en", "ko"],
        "timezone": "Asia/Seoul",
        "substitutes": ["a3"],
    }
    created = await acd_api.request(ADMIN, "POST", "/api/acd/config/agents", json=body)
    assert created.status_code == 201, created.text
    assert created.json() == {**body, "languages": ["en", "ko"]}
    stored = (await acd_api.repository.load_config()).agents["a4"]
    assert (stored.endpoint, stored.proficiency("sales"), stored.substitutes) == ("PJSIP/104", 4, ("a3",))
    published = await acd_api.store.load_config()
    assert published is not None and "a4" in published.agents and published.version > before
    assert "a4" in (await acd_api.service.config()).agents_with_skill("sales")
    # the new agent can log in at once: the live service sees the published configuration
    assert (await acd_api.request("supervisor1", "POST", "/api/acd/agents/a4/login")).json()[
        "state"
    ] == "ready"
    listed = await acd_api.request("supervisor1", "GET", "/api/acd/config/agents/a4")
    assert listed.json()["timezone"] == "Asia/Seoul"


async def test_admin_replaces_and_deletes_an_agent(acd_api: AcdApiKit) -> None:
    body = {"name": "Bo B.", "endpoint": "PJSIP/112", "skills": {"billing": 2, "sales": 1}, "regions": ["eu"]}
    replaced = await acd_api.request(ADMIN, "PUT", "/api/acd/config/agents/a2", json=body)
    assert replaced.status_code == 200, replaced.text
    assert (await acd_api.repository.load_config()).agents["a2"].endpoint == "PJSIP/112"
    # a1 names a2 as substitute: deleting a2 would leave a dangling reference
    refused = await acd_api.request(ADMIN, "DELETE", "/api/acd/config/agents/a2")
    assert refused.status_code == 409
    assert "substitute 'a2' is not an agent" in refused.json()["detail"]
    assert "a2" in (await acd_api.repository.load_config()).agents
    assert (await acd_api.request(ADMIN, "DELETE", "/api/acd/config/agents/a3")).status_code == 409
    a1 = await acd_api.request("supervisor1", "GET", "/api/acd/config/agents/a1")
    a1_body = {k: v for k, v in a1.json().items() if k != "id"} | {"substitutes": []}
    assert (await acd_api.request(ADMIN, "PUT", "/api/acd/config/agents/a1", json=a1_body)).status_code == 200
    deleted = await acd_api.request(ADMIN, "DELETE", "/api/acd/config/agents/a2")
    assert deleted.status_code == 204
    assert "a2" not in (await acd_api.repository.load_config()).agents
    assert "a2" not in (await acd_api.service.config()).agents
    gone = await acd_api.request("supervisor1", "GET", "/api/acd/config/agents/a2")
    assert gone.status_code == 404


async def test_skills_and_regions_are_declared_before_use_and_kept_while_used(acd_api: AcdApiKit) -> None:
    added = await acd_api.request(ADMIN, "POST", "/api/acd/config/skills", json={"name": "returns"})
    assert added.status_code == 201 and "returns" in added.json()
    again = await acd_api.request(ADMIN, "POST", "/api/acd/config/skills", json={"name": "returns"})
    assert again.status_code == 409
    assert (
        await acd_api.request(ADMIN, "POST", "/api/acd/config/regions", json={"name": "latam"})
    ).status_code == 201
    regions = await acd_api.request("supervisor1", "GET", "/api/acd/config/regions")
    assert regions.json() == ["apac", "eu", "latam", "us"]
    assert (await acd_api.request(ADMIN, "DELETE", "/api/acd/config/skills/returns")).status_code == 204
    in_use = await acd_api.request(ADMIN, "DELETE", "/api/acd/config/skills/sales")
    assert in_use.status_code == 409
    assert "unknown skill 'sales'" in in_use.json()["detail"]
    assert "sales" in (await acd_api.repository.load_config()).skills
    assert (await acd_api.request(ADMIN, "DELETE", "/api/acd/config/skills/nothing")).status_code == 404


async def test_admin_adds_replaces_and_deletes_a_queue(acd_api: AcdApiKit) -> None:
    body: dict[str, Any] = {
        "name": "vip-sales",
        "skill": "sales",
        "service_level_percent": 90,
        "service_level_seconds": 10,
        "wrap_up_seconds": 5.5,
        "strategy": "longest-idle",
        "min_proficiency": 3,
        "steps": [
            {"after_seconds": 60, "action": "overflow", "value": "sales"},
            {"after_seconds": 20, "action": "min-proficiency", "value": "1"},
        ],
    }
    created = await acd_api.request(ADMIN, "POST", "/api/acd/config/queues", json=body)
    assert created.status_code == 201, created.text
    assert [s["action"] for s in created.json()["steps"]] == ["min-proficiency", "overflow"]  # by time
    queue = (await acd_api.repository.load_config()).queues["vip-sales"]
    assert (queue.service_level_seconds, queue.strategy.value, queue.min_proficiency) == (
        10.0,
        "longest-idle",
        3,
    )
    body.pop("name")
    body["ring_timeout_seconds"] = 30
    replaced = await acd_api.request(ADMIN, "PUT", "/api/acd/config/queues/vip-sales", json=body)
    assert replaced.json()["ring_timeout_seconds"] == 30
    # sales is vip-sales's overflow target: it stays while referenced
    assert (await acd_api.request(ADMIN, "DELETE", "/api/acd/config/queues/sales")).status_code == 409
    assert (await acd_api.request(ADMIN, "DELETE", "/api/acd/config/queues/vip-sales")).status_code == 204
    assert "vip-sales" not in (await acd_api.service.config()).queues


async def test_queue_with_waiting_calls_cannot_be_deleted(acd_api: AcdApiKit, make_request: Any) -> None:
    await acd_api.service.enqueue(make_request("c1", queue="sales", skill="sales"))
    answer = await acd_api.request(ADMIN, "DELETE", "/api/acd/config/queues/sales")
    assert answer.status_code == 409
    assert "calls are still in queue 'sales'" in answer.json()["detail"]
    assert "sales" in (await acd_api.repository.load_config()).queues


async def test_admin_plans_replaces_and_cancels_an_absence(acd_api: AcdApiKit) -> None:
    body = {
        "agent_id": "a1",
        "kind": "leave",
        "starts_at": "2026-02-01T00:00:00+09:00",
        "ends_at": "2026-02-08T00:00:00+09:00",
        "note": "holiday",
    }
    created = await acd_api.request(ADMIN, "POST", "/api/acd/config/absences", json=body)
    assert created.status_code == 201, created.text
    absence_id = created.json()["id"]
    assert created.json()["starts_at"] == "2026-01-31T15:00:00Z"  # stored in UTC
    stored = (await acd_api.repository.load_config()).absences
    assert [(a.id, a.kind.value, a.note) for a in stored] == [(absence_id, "leave", "holiday")]
    body["kind"] = "training"
    replaced = await acd_api.request(ADMIN, "PUT", f"/api/acd/config/absences/{absence_id}", json=body)
    assert replaced.json()["kind"] == "training"
    listed = await acd_api.request("supervisor1", "GET", "/api/acd/config/absences?agent_id=a1")
    assert [a["id"] for a in listed.json()] == [absence_id]
    assert (
        await acd_api.request(ADMIN, "DELETE", f"/api/acd/config/absences/{absence_id}")
    ).status_code == 204
    assert (await acd_api.repository.load_config()).absences == ()
    missing = await acd_api.request(ADMIN, "DELETE", f"/api/acd/config/absences/{absence_id}")
    assert missing.status_code == 404


async def test_configuration_reads_show_what_the_database_holds(acd_api: AcdApiKit) -> None:
    config = config_to_dict(await acd_api.repository.load_config())
    agents = (await acd_api.request("supervisor1", "GET", "/api/acd/config/agents")).json()
    assert [a["id"] for a in agents] == sorted(a["id"] for a in config["agents"])
    queues = (await acd_api.request("supervisor1", "GET", "/api/acd/config/queues")).json()
    assert {q["name"]: q["wrap_up_seconds"] for q in queues} == {
        "billing": 10.0,
        "sales": 30.0,
        "support": 0.0,
    }
    skills = (await acd_api.request("supervisor1", "GET", "/api/acd/config/skills")).json()
    assert skills == ["billing", "sales", "support"]
