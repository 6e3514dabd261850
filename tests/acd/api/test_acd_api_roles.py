"""Who may call which ACD route: every route states its role, and each role gets exactly its share."""

from __future__ import annotations

from typing import Any

import pytest

from switchboard.users.model import Role
from switchboard.web.routes import check_route_roles
from tests.acd.api.conftest import AcdApiKit

AGENT_BODY = {"id": "a7", "name": "New", "endpoint": "PJSIP/107", "skills": {"billing": 3}}
# (method, path, json body, minimum role). The agent users are a1/a2, so a1's own routes are agent-level.
ROUTES: list[tuple[str, str, Any, Role]] = [
    ("GET", "/api/acd/agents/a1/status", None, Role.AGENT),
    ("POST", "/api/acd/agents/a1/login", None, Role.AGENT),
    ("POST", "/api/acd/agents/a1/pause", {"reason": "lunch"}, Role.AGENT),
    ("POST", "/api/acd/me/ready", None, Role.AGENT),
    ("GET", "/api/acd/agents", None, Role.SUPERVISOR),
    ("GET", "/api/acd/queues", None, Role.SUPERVISOR),
    ("GET", "/api/acd/queues/billing", None, Role.SUPERVISOR),
    ("GET", "/api/acd/metrics", None, Role.SUPERVISOR),
    ("GET", "/api/acd/metrics/billing?minutes=15", None, Role.SUPERVISOR),
    ("GET", "/metrics", None, Role.SUPERVISOR),
    ("GET", "/api/acd/config/agents", None, Role.SUPERVISOR),
    ("GET", "/api/acd/config/queues/billing", None, Role.SUPERVISOR),
    ("GET", "/api/acd/config/absences", None, Role.SUPERVISOR),
    ("POST", "/api/acd/config/agents", AGENT_BODY, Role.ADMIN),
    ("POST", "/api/acd/config/skills", {"name": "returns"}, Role.ADMIN),
    ("DELETE", "/api/acd/config/regions/apac", None, Role.ADMIN),
]
USERS = {Role.AGENT: "agent1", Role.SUPERVISOR: "supervisor1", Role.ADMIN: "admin1"}


@pytest.fixture
def kit(acd_api_lite: AcdApiKit) -> AcdApiKit:
    return acd_api_lite


async def test_each_role_gets_exactly_its_share_of_the_acd_api(kit: AcdApiKit) -> None:
    await kit.service.login("a1")  # so that pausing a1 is a valid change for every admitted role
    for method, path, body, minimum in ROUTES:
        anonymous = await kit.request(None, method, path, json=body)
        assert anonymous.status_code == 401, (method, path)
        for role in Role:
            answer = await kit.request(USERS[role], method, path, json=body)
            if role.includes(minimum):
                # Admitted: the handler ran (a supervisor has no agent of their own for /me: 409, not 403).
                admitted = answer.status_code < 400 or (answer.status_code == 409 and "/me/" in path)
                assert admitted, (method, path, role, answer.status_code, answer.text)
            else:
                assert answer.status_code == 403, (method, path, role, answer.status_code, answer.text)


def test_every_acd_route_declares_its_role_and_the_app_starts(kit: AcdApiKit) -> None:
    table = {(entry.path, method): entry for entry in check_route_roles(kit.app) for method in entry.methods}
    acd = {key: e for key, e in table.items() if key[0].startswith("/api/acd") or key[0] == "/metrics"}
    assert len(acd) >= 35
    assert all(e.guard is not None for e in acd.values())
    assert table[("/metrics", "GET")].guard.minimum is Role.SUPERVISOR
    assert table[("/api/acd/config/agents", "POST")].guard.minimum is Role.ADMIN
    assert table[("/api/acd/config/agents", "GET")].guard.minimum is Role.SUPERVISOR
    assert table[("/api/acd/agents/{agent_id}/pause", "POST")].guard.minimum is Role.AGENT


async def test_openapi_documents_every_acd_route_with_tag_summary_and_description(kit: AcdApiKit) -> None:
    schema = (await kit.request("agent1", "GET", "/openapi.json")).json()
    operations = [
        (path, method, op)
        for path, item in schema["paths"].items()
        if path.startswith("/api/acd") or path == "/metrics"
        for method, op in item.items()
    ]
    assert len(operations) >= 35
    for path, method, op in operations:
        assert op.get("tags"), (method, path)
        assert op.get("summary") and op.get("description"), (method, path)
    ids = [op["operationId"] for _, _, op in operations]
    assert len(ids) == len(set(ids))
    tags = {t for _, _, op in operations for t in op["tags"]}
    assert {"ACD agents", "ACD supervision", "ACD configuration", "operations"} <= tags
