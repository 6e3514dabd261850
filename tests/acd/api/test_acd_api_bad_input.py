"""Bad input to the ACD API: a 4xx that says what is wrong, never a 500, and nothing stored or lost."""

from __future__ import annotations

import json
from typing import Any

from acd.codec import config_to_dict
from tests.acd.api.conftest import AcdApiKit

ADMIN = "admin1"
GOOD_AGENT: dict[str, Any] = {"id": "a9", "name": "Nine", "endpoint": "PJSIP/109", "skills": {"billing": 3}}
GOOD_ABSENCE: dict[str, Any] = {
    "agent_id": "a1",
    "kind": "sick",
    "starts_at": "2026-03-02T08:00:00Z",
    "ends_at": "2026-03-03T08:00:00Z",
}


async def snapshot(kit: AcdApiKit) -> tuple[dict[str, Any], int]:
    """The stored configuration and the published version: both must survive a refused request."""
    published = await kit.store.load_config()
    assert published is not None
    return config_to_dict(await kit.repository.load_config()), published.version


async def refused(kit: AcdApiKit, method: str, path: str, status: int, reason: str, **kwargs: Any) -> None:
    before = await snapshot(kit)
    answer = await kit.request(ADMIN, method, path, **kwargs)
    assert answer.status_code == status, answer.text
    assert reason in json.dumps(answer.json()["detail"]), answer.text
    assert await snapshot(kit) == before


async def test_agent_with_an_unknown_skill_is_refused(acd_api: AcdApiKit) -> None:
    body = {**GOOD_AGENT, "skills": {"plumbing": 3}}
    await refused(acd_api, "POST", "/api/acd/config/agents", 400, "unknown skill 'plumbing'", json=body)


async def test_agent_with_an_unknown_region_is_refused(acd_api: AcdApiKit) -> None:
    body = {**GOOD_AGENT, "regions": ["mars"]}
    await refused(acd_api, "POST", "/api/acd/config/agents", 400, "unknown region 'mars'", json=body)


async def test_queue_for_an_unknown_skill_is_refused(acd_api: AcdApiKit) -> None:
    body = {"name": "plumbing", "skill": "plumbing"}
    await refused(acd_api, "POST", "/api/acd/config/queues", 400, "unknown skill 'plumbing'", json=body)


async def test_proficiency_out_of_range_is_refused(acd_api: AcdApiKit) -> None:
    for proficiency, reason in (
        (0, "greater than or equal to 1"),
        (6, "less than or equal to 5"),
        (-1, "1"),
        (99, "5"),
    ):
        body = {**GOOD_AGENT, "skills": {"billing": proficiency}}
        await refused(acd_api, "POST", "/api/acd/config/agents", 422, reason, json=body)


async def test_proficiency_of_the_wrong_type_is_refused(acd_api: AcdApiKit) -> None:
    for proficiency in ("5", 4.5, True, None, [3]):
        body = {**GOOD_AGENT, "skills": {"billing": proficiency}}
        await refused(acd_api, "POST", "/api/acd/config/agents", 422, "valid integer", json=body)


async def test_min_proficiency_step_out_of_range_is_refused(acd_api: AcdApiKit) -> None:
    body = {
        "name": "q2",
        "skill": "billing",
        "steps": [{"after_seconds": 5, "action": "min-proficiency", "value": "9"}],
    }
    await refused(acd_api, "POST", "/api/acd/config/queues", 400, "integer from 1 to 5", json=body)


async def test_agent_endpoint_that_is_not_one_device_is_refused(acd_api: AcdApiKit) -> None:
    for endpoint in ("PJSIP/101&PJSIP/102", "PJSIP/101,tT", "101", "PJSIP/", "Console/dsp"):
        body = {**GOOD_AGENT, "endpoint": endpoint}
        await refused(acd_api, "POST", "/api/acd/config/agents", 422, "should match pattern", json=body)


async def test_agent_endpoint_already_used_by_another_agent_is_refused(acd_api: AcdApiKit) -> None:
    body = {**GOOD_AGENT, "endpoint": "PJSIP/101"}
    await refused(acd_api, "POST", "/api/acd/config/agents", 400, "share endpoint PJSIP/101", json=body)


async def test_replacing_an_agent_that_does_not_exist_is_not_found(acd_api: AcdApiKit) -> None:
    body = {k: v for k, v in GOOD_AGENT.items() if k != "id"}
    await refused(acd_api, "PUT", "/api/acd/config/agents/ghost", 404, "unknown agent 'ghost'", json=body)


async def test_state_change_of_an_agent_that_does_not_exist_is_not_found(acd_api: AcdApiKit) -> None:
    await refused(
        acd_api, "POST", "/api/acd/agents/ghost/pause", 404, "unknown agent 'ghost'", json={"reason": "x"}
    )


async def test_substitute_that_is_not_an_agent_is_refused(acd_api: AcdApiKit) -> None:
    body = {**GOOD_AGENT, "substitutes": ["ghost"]}
    await refused(
        acd_api, "POST", "/api/acd/config/agents", 400, "substitute 'ghost' is not an agent", json=body
    )


async def test_overflow_into_a_queue_that_does_not_exist_is_refused(acd_api: AcdApiKit) -> None:
    body = {
        "name": "q2",
        "skill": "billing",
        "steps": [{"after_seconds": 5, "action": "overflow", "value": "nowhere"}],
    }
    await refused(acd_api, "POST", "/api/acd/config/queues", 400, "overflow target 'nowhere'", json=body)


async def test_absence_whose_end_precedes_its_start_is_refused(acd_api: AcdApiKit) -> None:
    body = {**GOOD_ABSENCE, "ends_at": "2026-03-01T08:00:00Z"}
    await refused(
        acd_api, "POST", "/api/acd/config/absences", 422, "ends_at must be later than starts_at", json=body
    )


async def test_absence_ending_when_it_starts_is_refused(acd_api: AcdApiKit) -> None:
    body = {**GOOD_ABSENCE, "ends_at": GOOD_ABSENCE["starts_at"]}
    await refused(acd_api, "POST", "/api/acd/config/absences", 422, "before or when it starts", json=body)


async def test_absence_times_that_are_not_zoned_iso_datetimes_are_refused(acd_api: AcdApiKit) -> None:
    for when, reason in (
        ("2026-03-03T08:00:00", "timezone"),
        (1772524800, "ISO 8601"),
        ("tomorrow", "datetime"),
        (None, "ISO 8601"),
    ):
        body = {**GOOD_ABSENCE, "ends_at": when}
        await refused(acd_api, "POST", "/api/acd/config/absences", 422, reason, json=body)


async def test_absence_of_an_agent_that_does_not_exist_is_refused(acd_api: AcdApiKit) -> None:
    body = {**GOOD_ABSENCE, "agent_id": "ghost"}
    await refused(acd_api, "POST", "/api/acd/config/absences", 400, "unknown agent 'ghost'", json=body)


async def test_absence_of_an_unknown_kind_is_refused(acd_api: AcdApiKit) -> None:
    body = {**GOOD_ABSENCE, "kind": "holiday"}
    await refused(
        acd_api, "POST", "/api/acd/config/absences", 422, "'sick', 'leave' or 'training'", json=body
    )


WRONG_AGENT_BODIES: list[tuple[Any, str]] = [
    ({**GOOD_AGENT, "name": 42}, "valid string"),
    ({**GOOD_AGENT, "regions": "eu"}, "valid list"),
    ({**GOOD_AGENT, "skills": ["billing"]}, "valid dictionary"),
    ({**GOOD_AGENT, "id": None}, "valid string"),
    ({**GOOD_AGENT, "password": "x"}, "Extra inputs are not permitted"),
    ([GOOD_AGENT], "valid dictionary"),
    ({k: v for k, v in GOOD_AGENT.items() if k != "endpoint"}, "Field required"),
]
WRONG_QUEUE_BODIES: list[tuple[Any, str]] = [
    ({"name": "q2", "skill": "billing", "ring_timeout_seconds": "20"}, "valid integer"),
    ({"name": "q2", "skill": "billing", "max_attempts": 0}, "greater than or equal to 1"),
    ({"name": "q2", "skill": "billing", "strategy": "random"}, "proficiency-first"),
    ({"name": "Q 2", "skill": "billing"}, "should match pattern"),
    ({"name": "q2", "skill": "billing", "steps": [{"after_seconds": 5, "action": "teleport"}]}, "any-region"),
]


async def test_agent_bodies_with_wrong_types_are_refused(acd_api: AcdApiKit) -> None:
    for body, reason in WRONG_AGENT_BODIES:
        await refused(acd_api, "POST", "/api/acd/config/agents", 422, reason, json=body)


async def test_queue_bodies_with_wrong_types_are_refused(acd_api: AcdApiKit) -> None:
    for body, reason in WRONG_QUEUE_BODIES:
        await refused(acd_api, "POST", "/api/acd/config/queues", 422, reason, json=body)


async def test_a_body_that_is_not_json_is_refused(acd_api: AcdApiKit) -> None:
    await refused(
        acd_api,
        "POST",
        "/api/acd/config/agents",
        422,
        "JSON decode error",
        content=b'{"id": "a9", ',
        headers={"content-type": "application/json"},
    )


async def test_pause_reasons_that_are_empty_too_long_or_not_text_are_refused(acd_api_lite: AcdApiKit) -> None:
    await acd_api_lite.service.login("a1")
    for reason in ("", "x" * 65, 12, None):
        answer = await acd_api_lite.request("agent1", "POST", "/api/acd/me/pause", json={"reason": reason})
        assert answer.status_code == 422, reason
    assert (await acd_api_lite.store.agent_status("a1")).state.value == "ready"


async def test_metrics_windows_out_of_range_are_refused(acd_api_lite: AcdApiKit) -> None:
    for query in ("minutes=0", "minutes=abc", "minutes=99999", "minutes=1.5"):
        answer = await acd_api_lite.request("supervisor1", "GET", f"/api/acd/metrics?{query}")
        assert answer.status_code == 422, query


async def test_malformed_agent_id_in_the_path_is_refused(acd_api_lite: AcdApiKit) -> None:
    answer = await acd_api_lite.request("supervisor1", "POST", "/api/acd/agents/bad%20id%3B/login")
    assert answer.status_code == 422
    assert "should match pattern" in answer.text
