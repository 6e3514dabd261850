"""A whole controller (emulated Asterisk, real Redis, SQLite) serving the composition root's HTTP app.

It runs in its own thread and event loop, so Playwright's sync API can drive Chromium from the test's
thread; ``server.run(coro)`` runs a coroutine on the controller's loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Awaitable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml

from acd.codec import config_to_dict
from sim.emulator import AsteriskEmulator
from switchboard.app import Controller, build_http_app, controller, run_jobs, serve_http
from switchboard.clock import SystemClock
from switchboard.ids import new_id
from switchboard.settings import Settings
from switchboard.users.factory import build_user_services
from switchboard.users.model import Role
from tests.acd.conftest import make_config
from tests.web.webkit import PASSWORDS, Seeded, cheap_hasher

T = TypeVar("T")


def controller_settings(tmp: Path, redis_url: str, ami_port: int) -> Settings:
    config_file = tmp / "acd.yaml"
    config_file.write_text(yaml.safe_dump(config_to_dict(make_config())))
    (tmp / "recordings").mkdir(exist_ok=True)
    return Settings(
        general={"var_dir": str(tmp / "var")},
        database={"url": f"sqlite+aiosqlite:///{tmp / 'sb.db'}"},
        redis={"url": redis_url},
        ami={"host": "127.0.0.1", "port": ami_port, "secret": "switchboard"},
        agi={"port": 0},
        http={"host": "127.0.0.1", "port": 0},
        ivr={"flows_dir": str(tmp / "flows"), "flows_poll_seconds": 0},
        speech={"engine": "none"},
        acd={"config_file": str(config_file), "key_prefix": f"sbpages-{new_id()[-8:].lower()}"},
        recordings={"engine": "none", "local_dir": str(tmp / "recordings")},
    )


@dataclass
class ControllerServer:
    url: str
    ctl: Controller
    app: Any
    users: dict[Role, Seeded]
    loop: asyncio.AbstractEventLoop
    thread: threading.Thread
    stop_event: asyncio.Event
    emulator: AsteriskEmulator | None = None

    def caller_on_hold(self, number: str) -> tuple[str, str]:
        """A caller's channel that exists in the emulated Asterisk (so a Redirect of it succeeds), parked in
        sb-hold without running its dialplan; returns (channel, uniqueid)."""
        from sim.channels import ChannelState, Party

        assert self.emulator is not None

        async def make() -> tuple[str, str]:
            pbx = self.emulator.pbx  # type: ignore[union-attr]
            if pbx.pjsip.get("carrier") is None:
                self.emulator.add_endpoint("carrier", context="sb-inbound", trunk=True)  # type: ignore[union-attr]
            ch = pbx.new_pjsip("carrier", context="sb-hold", exten="s", state=ChannelState.UP,
                               caller=Party(number, "Caller"))  # fmt: skip
            return ch.name, ch.uniqueid

        return self.run(make())

    def run(self, work: Awaitable[T], timeout: float = 30) -> T:
        assert isinstance(work, Coroutine)
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.stop_event.set)
        self.thread.join(20)


async def seed(ctl: Controller, agent_id: str = "a1") -> dict[Role, Seeded]:
    services = build_user_services(ctl.settings.web, ctl.sessions, ctl.clock, hasher=cheap_hasher())
    try:
        seeded: dict[Role, Seeded] = {}
        for role in Role:
            user = await services.accounts.add(
                f"{role.value}1", PASSWORDS[role], role, agent_id if role is Role.AGENT else None
            )
            token = await services.authenticator.create_token(user.id, "tests")
            opened = await services.authenticator.open_session(user, address="127.0.0.1")
            seeded[role] = Seeded(
                user, PASSWORDS[role], token.secret, opened.session_token, opened.csrf_token
            )
        return seeded
    finally:
        services.close()


def start_controller_server(tmp: Path, redis_url: str) -> ControllerServer:
    """Start emulator + controller + HTTP on a free loopback port; returns once it serves."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # see bind_http
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    sock.setblocking(False)
    port = sock.getsockname()[1]
    box: dict[str, Any] = {}
    ready = threading.Event()

    async def main() -> None:
        clock = SystemClock()
        emulator = AsteriskEmulator(clock)
        await emulator.start()
        stop = asyncio.Event()
        try:
            settings = controller_settings(tmp, redis_url, emulator.ami_port)
            async with controller(settings, clock) as ctl:
                users = await seed(ctl)
                app = build_http_app(ctl)
                jobs = asyncio.create_task(run_jobs(ctl, {"http": lambda: serve_http(app, sock)}))
                box.update(ctl=ctl, app=app, users=users, loop=asyncio.get_running_loop(), stop=stop,
                           emulator=emulator)  # fmt: skip
                await asyncio.sleep(0.3)
                ready.set()
                await stop.wait()
                jobs.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await jobs
                await ctl.acd.store.clear()
        except BaseException as exc:
            box["error"] = exc
            ready.set()
            raise
        finally:
            await emulator.stop()
            sock.close()

    thread = threading.Thread(target=lambda: asyncio.run(main()), name="pages-controller", daemon=True)
    thread.start()
    if not ready.wait(60) or "error" in box:
        raise RuntimeError(f"controller did not start: {box.get('error')!r}")
    return ControllerServer(
        f"http://127.0.0.1:{port}", box["ctl"], box["app"], box["users"], box["loop"], thread, box["stop"],
        box["emulator"],
    )
