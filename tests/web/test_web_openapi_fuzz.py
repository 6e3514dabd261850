"""The OpenAPI schema is valid, and generated requests (schemathesis) never make the API answer 500.

Runs against the live uvicorn server over real HTTP, as each role, so the fuzzing reaches past the
role guards into the handlers and also hits the refusals.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from switchboard.users.model import Role
from tests.web.webkit import LiveServer

EXAMPLES = 20


def load_schema(live_server: LiveServer) -> Any:
    raw = httpx.get(f"{live_server.url}/openapi.json", headers=live_server.users[Role.ADMIN].bearer).json()
    return schemathesis.openapi.from_dict(raw)


def test_openapi_schema_is_valid_and_lists_every_api_route(live_server: LiveServer) -> None:
    schema = load_schema(live_server)
    schema.validate()
    operations = {(op.method.upper(), op.path) for op in (r.ok() for r in schema.get_all_operations())}
    assert ("GET", "/api/me") in operations
    assert ("PATCH", "/api/users/{user_id}") in operations
    assert ("DELETE", "/api/me/tokens/{token_id}") in operations
    assert not any(path.startswith(("/login", "/admin")) for _, path in operations)  # pages are not API


@pytest.mark.slow
@pytest.mark.parametrize("role", [Role.ADMIN, Role.AGENT])
def test_generated_requests_never_get_a_server_error(live_server: LiveServer, role: Role) -> None:
    schema = load_schema(live_server)
    headers = live_server.users[role].bearer
    checks = [not_a_server_error, response_schema_conformance, content_type_conformance]
    tried = 0
    for result in schema.get_all_operations():
        operation = result.ok()

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        )
        @given(case=operation.as_strategy())
        def exercise(case: Any) -> None:
            nonlocal tried
            tried += 1
            case.call_and_validate(base_url=live_server.url, headers=headers, checks=checks)

        exercise()
    assert tried >= EXAMPLES
    # The fuzzing never locked the role's own user out.
    assert httpx.get(f"{live_server.url}/api/me", headers=headers).status_code == 200
