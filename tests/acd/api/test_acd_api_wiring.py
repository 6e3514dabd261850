"""The composition root serves the ACD API inside the web shell, and samples occupancy as a job."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import yaml

from acd.codec import config_to_dict
from sim.emulator import AsteriskEmulator
from switchboard.app import build_http_app, controller
from switchboard.clock import SystemClock
from switchboard.ids import new_id
from switchboard.settings import Settings
from switchboard.users.factory import build_user_services
from switchboard.users.model import Role
from switchboard.web.routes import check_route_roles
from tests.acd.conftest import make_config
from tests.web.webkit import cheap_hasher


async def test_controller_http_app_has_the_web_shell_and_the_acd_routes(
    tmp_path: Path, redis_url: str
) -> None:
    clock = SystemClock()
    emulator = AsteriskEmulator(clock)
    await emulator.start()
    config_file = tmp_path / "acd.yaml"
    config_file.write_text(yaml.safe_dump(config_to_dict(make_config())))
    settings = Settings(
        general={"var_dir": str(tmp_path / "var")},
        database={"url": f"sqlite+aiosqlite:///{tmp_path / 'sb.db'}"},
        redis={"url": redis_url.replace("/9", "/13") if redis_url.endswith("/9") else redis_url},
        ami={"host": emulator.ami_host, "port": emulator.ami_port, "secret": "switchboard"},
        agi={"port": 0},
        http={"port": 0},
        ivr={"flows_dir": str(tmp_path / "flows"), "flows_poll_seconds": 0},
        speech={"engine": "none"},
        acd={"config_file": str(config_file), "key_prefix": f"sbwire-{new_id()[-8:].lower()}"},
    )
    try:
        async with controller(settings, clock) as ctl:
            assert "acd-metrics" in ctl.jobs and ctl.sessions is not None
            app = build_http_app(ctl)
            assert any(e.path == "/api/acd/agents" for e in check_route_roles(app))
            users = build_user_services(settings.web, ctl.sessions, clock, hasher=cheap_hasher())
            try:
                user = await users.accounts.add("boss", "long-enough-password", Role.SUPERVISOR)
                token = (await users.authenticator.create_token(user.id, "t")).secret
            finally:
                users.close()
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
                health = await client.get("/health")
                assert health.status_code == 200
                agents = await client.get("/api/acd/agents", headers={"authorization": f"Bearer {token}"})
                assert agents.status_code == 200, agents.text
                assert [a["agent_id"] for a in agents.json()] == ["a1", "a2", "a3"]
                assert (await client.get("/api/acd/agents")).status_code == 401
            await ctl.acd.store.clear()
    finally:
        await emulator.stop()


def test_build_http_app_without_a_database_serves_health_only() -> None:
    class Bare:
        sessions: Any = None

        async def components(self) -> dict[str, Any]:
            return {}

    app = build_http_app(Bare())  # type: ignore[arg-type]
    assert {getattr(r, "path", "") for r in app.routes} >= {"/health"}
    assert not any(getattr(r, "path", "").startswith("/api/acd") for r in app.routes)
