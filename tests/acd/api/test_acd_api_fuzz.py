"""Property: any JSON body sent to the ACD's write routes gets a 2xx or a 4xx, never a 500, and a refused
request changes nothing stored or published."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from acd.codec import config_to_dict
from switchboard.clock import ManualClock
from tests.acd.api.conftest import AcdApiKit, build_kit

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-10, 10**6)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
GOOD: dict[str, dict[str, Any]] = {
    "/api/acd/config/agents": {
        "id": "a9",
        "endpoint": "PJSIP/109",
        "skills": {"billing": 3},
        "regions": ["eu"],
    },
    "/api/acd/config/queues": {
        "name": "q9",
        "skill": "billing",
        "steps": [{"after_seconds": 5, "action": "callback"}],
    },
    "/api/acd/config/absences": {
        "agent_id": "a1",
        "kind": "sick",
        "starts_at": "2026-03-02T08:00:00Z",
        "ends_at": "2026-03-03T08:00:00Z",
    },
    "/api/acd/agents/a1/pause": {"reason": "lunch"},
}


def mutated(path: str) -> st.SearchStrategy[Any]:
    """A good body with one field replaced by any JSON (or dropped), or any JSON at all."""
    good = GOOD[path]
    one_field = st.sampled_from(sorted(good)).flatmap(
        lambda key: st.one_of(
            JSON.map(lambda value: {**good, key: value}),
            st.just({k: v for k, v in good.items() if k != key}),
        )
    )
    return st.one_of(one_field, JSON)


class LoopKit:
    """The app on its own event loop, so that a synchronous hypothesis test can drive it."""

    def __init__(self, template: Path, tmp: Path, redis_url: str) -> None:
        from switchboard.db import create_engine

        self.loop = asyncio.new_event_loop()
        path = tmp / "fuzz.db"
        shutil.copyfile(template, path)
        url = f"sqlite+aiosqlite:///{path}"
        self.engine = create_engine(url)
        redis_url = redis_url.replace("/9", "/13") if redis_url.endswith("/9") else redis_url
        self.redis = aioredis.from_url(redis_url)
        self.kit: AcdApiKit = self.run(build_kit(self.engine, url, self.redis, ManualClock()))

    def run(self, work: Any) -> Any:
        return self.loop.run_until_complete(work)

    async def snapshot(self) -> Any:
        published = await self.kit.store.load_config()
        return config_to_dict(await self.kit.repository.load_config()), published and published.version

    def close(self) -> None:
        self.run(self.kit.store.clear())
        self.kit.users_services.close()
        self.run(self.redis.aclose())
        self.run(self.engine.dispose())
        self.loop.close()


@pytest.fixture
def loop_kit(migrated_sqlite_template: Path, tmp_path: Path, redis_url: str) -> Iterator[LoopKit]:
    made = LoopKit(migrated_sqlite_template, tmp_path, redis_url)
    try:
        yield made
    finally:
        made.close()


@pytest.mark.slow
@pytest.mark.parametrize("path", sorted(GOOD))
def test_any_json_body_gets_a_clear_answer_and_refusals_change_nothing(loop_kit: LoopKit, path: str) -> None:
    who = "agent1" if path.endswith("/pause") else "admin1"
    loop_kit.run(loop_kit.kit.service.login("a1"))

    @settings(max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
    @given(body=mutated(path))
    def exercise(body: Any) -> None:
        before = loop_kit.run(loop_kit.snapshot())
        answer = loop_kit.run(loop_kit.kit.request(who, "POST", path, json=body))
        assert answer.status_code in (200, 201, 400, 404, 409, 422), (body, answer.status_code, answer.text)
        assert answer.json().get("detail") if answer.status_code >= 400 else True
        if answer.status_code >= 400:
            assert loop_kit.run(loop_kit.snapshot()) == before, body
        elif path.endswith("/config/agents"):  # undo, so that the next example can create it again
            loop_kit.run(loop_kit.kit.request("admin1", "DELETE", f"/api/acd/config/agents/{body['id']}"))
        elif path.endswith("/config/queues"):
            loop_kit.run(loop_kit.kit.request("admin1", "DELETE", f"/api/acd/config/queues/{body['name']}"))
        elif path.endswith("/pause"):
            loop_kit.run(loop_kit.kit.service.login("a1"))

    exercise()
