"""The flows admin API: supervisors list the flow files; admins check flow text and reload the directory."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from ivr.api import make_flows_router
from ivr.flows import FlowRegistry
from switchboard.clock import ManualClock
from switchboard.users.factory import UserServices, build_user_services
from switchboard.users.model import Role
from switchboard.web import require_role
from switchboard.web.app import create_web_app
from tests.acd.api.conftest import migrated_sqlite_template  # noqa: F401 (a migrated SQLite file to copy)
from tests.web.webkit import Seeded, cheap_hasher, seed_users, web_settings

GOOD = """\
start: hello
prompts: {hi: "Version one."}
nodes:
  hello: {kind: play, prompt: hi, next: out}
  out: {kind: queue, queue: support}
"""
FIXED = GOOD.replace("Version one.", "Version two.")
BROKEN = GOOD.replace("next: out", "next: nowhere")  # line 4
YAML_HEADERS = {"content-type": "application/yaml"}


@dataclass
class FlowsApi:
    app: httpx.AsyncClient
    registry: FlowRegistry
    directory: Path
    users: dict[Role, Seeded]
    clock: ManualClock

    async def call(
        self, role: Role, method: str, path: str, *, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> httpx.Response:
        """A request with the role's API token."""
        return await self.app.request(
            method, path, headers={**(headers or {}), **self.users[role].bearer}, **kwargs
        )


def write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
    # every rewrite must look changed to the stat-based check, even within one clock tick
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000 + len(text)))


@pytest.fixture
async def flows_api(
    tmp_path: Path,
    migrated_sqlite_template: Path,  # noqa: F811
    clock: ManualClock,
) -> AsyncIterator[FlowsApi]:
    from switchboard.db import create_engine, session_factory

    db = tmp_path / "web.db"
    shutil.copyfile(migrated_sqlite_template, db)
    url = f"sqlite+aiosqlite:///{db}"
    engine = create_engine(url)
    settings = web_settings(url)
    services: UserServices = build_user_services(
        settings.web, session_factory(engine), clock, hasher=cheap_hasher()
    )
    directory = tmp_path / "flows"
    directory.mkdir()
    registry = FlowRegistry(directory, clock=clock)
    app = create_web_app(settings, services, routers=[make_flows_router(registry, require_role=require_role)])
    users = await seed_users(services)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as client:
        yield FlowsApi(client, registry, directory, users, clock)
    services.close()
    await engine.dispose()


async def test_supervisor_lists_each_flow_file_with_status_load_time_and_problems(
    flows_api: FlowsApi,
) -> None:
    write(flows_api.directory / "main.yaml", GOOD)
    write(flows_api.directory / "broken.yaml", BROKEN)
    flows_api.registry.reload()
    loaded_at = flows_api.clock.now()

    answer = await flows_api.call(Role.SUPERVISOR, "GET", "/api/ivr/flows")

    assert answer.status_code == 200, answer.text
    body = answer.json()
    by_name = {f["name"]: f for f in body["flows"]}
    assert by_name["main"]["status"] == "loaded" and by_name["main"]["running"] is True
    assert by_name["main"]["file"] == "main.yaml" and by_name["main"]["problems"] == []
    assert by_name["main"]["loaded_at"] == loaded_at.isoformat().replace("+00:00", "Z")
    assert by_name["broken"]["status"] == "failed" and by_name["broken"]["running"] is False
    assert by_name["broken"]["loaded_at"] is None
    assert {
        "file": "broken.yaml",
        "line": 4,
        "reason": "node 'hello' next: unknown node 'nowhere'",
    } in by_name["broken"]["problems"]
    # agents may not even list them
    assert (await flows_api.call(Role.AGENT, "GET", "/api/ivr/flows")).status_code == 403


async def test_validate_good_yaml_reports_no_problem_and_loads_nothing(flows_api: FlowsApi) -> None:
    answer = await flows_api.call(
        Role.ADMIN, "POST", "/api/ivr/flows/validate?name=draft", content=GOOD, headers=YAML_HEADERS
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"name": "draft", "valid": True, "problems": []}
    assert flows_api.registry.names == ()
    assert list(flows_api.directory.iterdir()) == []


async def test_validate_bad_yaml_reports_each_problem_with_its_line(flows_api: FlowsApi) -> None:
    answer = await flows_api.call(
        Role.ADMIN, "POST", "/api/ivr/flows/validate?name=draft", content=BROKEN, headers=YAML_HEADERS
    )
    body = answer.json()
    assert answer.status_code == 200 and body["valid"] is False
    assert [(p["line"], p["reason"]) for p in body["problems"]] == [
        (4, "node 'hello' next: unknown node 'nowhere'"),
        (5, "node 'out' is unreachable from start 'hello'"),
    ]
    syntax = await flows_api.call(
        Role.ADMIN,
        "POST",
        "/api/ivr/flows/validate?name=draft",
        content=GOOD + "  oops: [\n",
        headers=YAML_HEADERS,
    )
    assert syntax.json()["problems"][0]["line"] == 7
    assert "YAML syntax error" in syntax.json()["problems"][0]["reason"]


async def test_validate_never_runs_what_the_yaml_asks_for(flows_api: FlowsApi, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    hostile = f'!!python/object/apply:os.system ["touch {marker}"]\n'
    answer = await flows_api.call(
        Role.ADMIN, "POST", "/api/ivr/flows/validate?name=draft", content=hostile, headers=YAML_HEADERS
    )
    assert answer.json()["valid"] is False
    assert "unsupported YAML tag" in answer.json()["problems"][0]["reason"]
    assert not marker.exists()


async def test_validate_refuses_oversized_bodies_bad_names_forms_and_non_admins(flows_api: FlowsApi) -> None:
    huge = "# padding\n" * (flows_api.registry.max_bytes // 10 + 10)
    too_big = await flows_api.call(
        Role.ADMIN, "POST", "/api/ivr/flows/validate?name=draft", content=huge, headers=YAML_HEADERS
    )
    assert too_big.status_code == 413
    traversal = await flows_api.call(
        Role.ADMIN, "POST", "/api/ivr/flows/validate?name=../../etc/passwd", content=GOOD
    )
    assert traversal.status_code == 422
    form = await flows_api.call(Role.ADMIN, "POST", "/api/ivr/flows/validate?name=draft", data={"a": "b"})
    assert form.status_code == 415
    supervisor = await flows_api.call(
        Role.SUPERVISOR, "POST", "/api/ivr/flows/validate?name=draft", content=GOOD, headers=YAML_HEADERS
    )
    assert supervisor.status_code == 403
    admin = flows_api.users[Role.ADMIN]
    no_csrf = await flows_api.app.post(
        "/api/ivr/flows/validate?name=draft",
        content=GOOD,
        headers={**YAML_HEADERS, "cookie": f"sb_session={admin.session}"},
    )
    assert no_csrf.status_code == 403


async def test_validate_a_named_file_checks_it_on_disk_without_loading_it(flows_api: FlowsApi) -> None:
    write(flows_api.directory / "main.yaml", GOOD)
    flows_api.registry.reload()
    write(flows_api.directory / "main.yaml", BROKEN)

    answer = await flows_api.call(Role.ADMIN, "POST", "/api/ivr/flows/main/validate")

    assert answer.status_code == 200
    assert answer.json()["valid"] is False
    assert answer.json()["problems"][0] == {
        "file": "main.yaml",
        "line": 4,
        "reason": "node 'hello' next: unknown node 'nowhere'",
    }
    flow = flows_api.registry.get("main")
    assert flow is not None and flow.spec.prompts["hi"].say == "Version one."  # still the loaded one
    missing = await flows_api.call(Role.ADMIN, "POST", "/api/ivr/flows/nothing/validate")
    assert missing.status_code == 404


async def test_reload_keeps_the_good_version_running_when_its_file_turns_bad(flows_api: FlowsApi) -> None:
    write(flows_api.directory / "main.yaml", GOOD)
    first = await flows_api.call(Role.ADMIN, "POST", "/api/ivr/flows/reload")
    assert first.status_code == 200 and first.json()["loaded"] == ["main"]
    good_version = first.json()["flows"][0]["version"]
    loaded_at = first.json()["flows"][0]["loaded_at"]
    await flows_api.clock.advance(60)
    write(flows_api.directory / "main.yaml", BROKEN)

    bad = await flows_api.call(Role.ADMIN, "POST", "/api/ivr/flows/reload")

    body = bad.json()
    assert (body["loaded"], body["kept"], body["rejected"]) == ([], ["main"], [])
    assert body["problems"][0]["line"] == 4
    (main,) = body["flows"]
    assert (main["status"], main["running"], main["version"]) == ("failed", True, good_version)
    assert main["loaded_at"] == loaded_at  # the running version is still the one loaded first
    flow = flows_api.registry.get("main")
    assert flow is not None and flow.spec.prompts["hi"].say == "Version one."

    write(flows_api.directory / "main.yaml", FIXED)
    fixed = (await flows_api.call(Role.ADMIN, "POST", "/api/ivr/flows/reload")).json()
    assert fixed["loaded"] == ["main"] and fixed["flows"][0]["status"] == "loaded"
    assert fixed["flows"][0]["version"] != good_version and fixed["flows"][0]["loaded_at"] != loaded_at
    # supervisors may look, not reload
    assert (await flows_api.call(Role.SUPERVISOR, "POST", "/api/ivr/flows/reload")).status_code == 403
