"""Composition root: builds every service from settings and runs them in one TaskGroup.

``switchboard serve`` runs :func:`run_serve` against a real Asterisk; ``switchboard demo`` runs the very same
controller against the built-in emulator (:mod:`switchboard.demo`). Nothing here holds policy: it only
constructs the domain services, hands them their adapters and supervises their tasks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import uvicorn
from fastapi import FastAPI

from acd.alerts_io import AlertMonitor
from acd.ami_glue import AmiAsteriskPort, AmiGlue
from acd.errors import AcdError
from acd.hold import HoldRoute
from acd.importer import load_yaml
from acd.ivr_callbacks import IvrCallbacks
from acd.metrics_io import AcdMetrics
from acd.repository import AcdRepository
from acd.service import AcdService
from acd.store import AcdStore
from ami.client import AmiClient
from ami.errors import AmiAuthError, AmiConnectionError
from ivr.fastagi.server import FastAgiServer, Router
from ivr.flows.registry import FlowRegistry
from ivr.handler import make_ivr_handler
from ivr.recent_resolutions import RecentResolutions
from ivr.runtime.channel import RenderedPrompts
from ivr.runtime.runner import FlowRunner, RunnerConfig
from ivr.runtime.selfservice import SelfService
from ivr.store import QueuedRecorder, SqlIvrStore
from switchboard import db
from switchboard.clock import Clock, SystemClock
from switchboard.errors import ami_login_refused, asterisk_unreachable, listening
from switchboard.heap import freeze_startup_heap
from switchboard.http.app import ComponentState, create_http_app
from switchboard.ids import new_id
from switchboard.redis_server import open_redis
from switchboard.settings import Settings

log = logging.getLogger(__name__)

Job = Callable[[], Awaitable[None]]


@dataclass
class Controller:
    """The running controller's services, for the HTTP app, the demo and tests."""

    settings: Settings
    clock: Clock
    ami: AmiClient
    acd: AcdService
    agi: FastAgiServer
    flows: FlowRegistry
    runner: FlowRunner
    ivr_store: SqlIvrStore
    http_port: int = 0
    jobs: dict[str, Job] = field(default_factory=dict)
    sessions: Any = None  # async_sessionmaker: the web layer's users and the ACD metrics read SQL with it
    redis: Any = None  # redis.asyncio.Redis: failed sign-ins are counted there
    acd_metrics: AcdMetrics | None = None
    recordings: Any = None  # recordings.wiring.Recordings
    surveys: Any = None  # surveys.service.SurveyService
    alerts: Any = None  # acd.alerts_io.AlertMonitor: supervisor alerts (wallboard, webhook)

    async def components(self) -> dict[str, ComponentState]:
        """Each dependency's state for /health."""
        return {
            "asterisk": ComponentState.OK if self.ami.ready else ComponentState.DEGRADED,
            "fastagi": ComponentState.OK,
            "flows": ComponentState.DEGRADED if self.flows.problems else ComponentState.OK,
        }


async def supervise(name: str, job: Job, clock: Clock, *, max_delay: float = 30.0) -> None:
    """Run ``job`` forever: an exception is logged and the job restarted after a capped back-off."""
    delay = 0.5
    while True:
        started = clock.monotonic()
        try:
            await job()
            log.warning("background task ended, restarting task=%s", name)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("background task failed, restarting task=%s delay=%.1fs", name, delay)
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            # The job swallowed our cancellation (uvicorn does during its start-up): stop, don't restart.
            raise asyncio.CancelledError
        if clock.monotonic() - started > 60:
            delay = 0.5
        await clock.sleep(delay)
        delay = min(delay * 2, max_delay)


@contextlib.contextmanager
def _ami_errors(settings: Settings) -> Iterator[None]:
    try:
        yield
    except AmiAuthError:
        raise ami_login_refused(settings.ami.username) from None
    except AmiConnectionError as exc:
        raise asterisk_unreachable(settings.ami.host, settings.ami.port, str(exc)) from None


def _speech_service(settings: Settings) -> Any:
    """The configured speech engine, or None (keypad only) when the speech package or engine is absent."""
    if settings.speech.engine == "none":
        return None
    try:
        from ivr.speech.service import build_speech_service
    except ImportError:
        log.warning("speech recognition unavailable: ivr.speech is not installed; menus use the keypad")
        return None
    return build_speech_service(settings.speech)


async def _acd_config(settings: Settings, repository: AcdRepository) -> Any:
    """The routing configuration: the YAML file when one is set (saved to SQL), else what SQL holds."""
    if settings.acd.config_file is not None:
        config = await asyncio.to_thread(load_yaml, settings.acd.config_file)
        await repository.save_config(config)
        return config
    return await repository.load_config()


async def _recover_acd(acd: AcdService, timeout: float) -> None:  # noqa: ASYNC109 (a start-up bound)
    """Rebuild the ACD's live state from Redis, the record and Asterisk's channels before serving.

    Bounded: if it cannot finish in time the controller still starts, and the AMI resync marker that
    follows every login reconciles again in order with the event stream.
    """
    try:
        async with asyncio.timeout(timeout):
            await acd.recover()
    except TimeoutError:
        log.error("acd recovery did not finish within %gs; continuing, the AMI resync will retry", timeout)
    except AcdError as exc:
        log.error("acd recovery failed error=%s; continuing, the AMI resync will retry", exc)


@contextlib.asynccontextmanager
async def controller(settings: Settings, clock: Clock) -> AsyncIterator[Controller]:
    """Build and start every service; on exit stop them in reverse order."""
    async with AsyncExitStack() as stack:
        settings.general.var_dir.mkdir(parents=True, exist_ok=True)
        url = settings.database_url
        with db.database_errors(url):
            await db.upgrade(url)
        engine = db.create_engine(url, echo=settings.database.echo)
        stack.push_async_callback(engine.dispose)
        sessions = db.session_factory(engine)

        redis, close_redis = await open_redis(settings)
        stack.push_async_callback(close_redis)

        ami = AmiClient.from_settings(settings.ami, clock)
        repository = AcdRepository(sessions)
        store = AcdStore(
            redis, settings.acd.key_prefix, origin=new_id(), stream_maxlen=settings.acd.stream_maxlen
        )
        acd = AcdService(store, AmiAsteriskPort(ami), clock, settings.acd, repository=repository)
        await acd.load(await _acd_config(settings, repository))
        # Subscribed before the login so that no event (nor the first resync marker) is missed.
        glue = AmiGlue(ami, acd)
        stack.callback(glue.close)
        with _ami_errors(settings):
            await ami.start()
        stack.push_async_callback(ami.close)
        await _recover_acd(acd, settings.acd.recovery_timeout)

        flows = FlowRegistry(settings.ivr.flows_dir, clock=clock)
        report = flows.reload()
        for problem in report.problems:
            log.warning("flow problem %s", problem)
        ivr_store = SqlIvrStore(sessions)
        recorder = QueuedRecorder(ivr_store)
        repeat_window = timedelta(hours=settings.ivr.repeat_window_hours)
        recent = RecentResolutions(
            redis, settings.acd.key_prefix, ivr_store, window=repeat_window, clock=clock
        )
        speech = _speech_service(settings)
        if speech is not None:
            stack.push_async_callback(speech.close)
        runner = FlowRunner(
            clock=clock,
            call_queue=acd,
            prompts=RenderedPrompts(str(settings.ivr.sounds_dir.resolve())),
            config=RunnerConfig.from_settings(settings.ivr, settings.speech),
            speech=speech,
            selfservice=SelfService(recorder, repeat_window=repeat_window, recent=recent),
            recorder=recorder,
            callbacks=IvrCallbacks(acd),
        )
        router = Router(
            {
                "ivr": make_ivr_handler(flows, runner, default_flow=settings.ivr.default_flow),
                "acd": HoldRoute(acd, settings.acd),
            }
        )
        agi = FastAgiServer(
            router,
            host=settings.agi.host,
            port=settings.agi.port,
            max_header_bytes=settings.agi.max_header_bytes,
            header_timeout=settings.agi.header_timeout,
            command_timeout=settings.agi.command_timeout,
            clock=clock,
        )
        with listening(service="FastAGI", host=settings.agi.host, port=settings.agi.port, setting="agi.port"):
            await agi.start()
        stack.push_async_callback(agi.close)

        ctl = Controller(
            settings, clock, ami, acd, agi, flows, runner, ivr_store, sessions=sessions, redis=redis
        )
        ctl.acd_metrics = AcdMetrics(acd, sessions, clock)
        ctl.alerts = AlertMonitor.from_settings(ctl.acd_metrics, settings.acd, clock)
        await _wire_recordings_and_surveys(ctl, stack)
        ctl.jobs = {
            "acd-metrics": ctl.acd_metrics.run_sampler,
            "acd-events": glue.run,
            "acd-dispatcher": acd.dispatcher.run,
            "acd-redis-watch": acd.watch_redis,
            "acd-records": acd.run_records,
            "ivr-recorder": recorder.run,
            "ivr-recent-resolutions": recent.run,
            "flows-watch": lambda: flows.watch(clock, settings.ivr.flows_poll_seconds),
            **ctl.alerts.jobs(),
            **_feature_jobs(ctl),
        }
        log.info(
            "controller started fastagi=%s:%d ami=%s:%d flows=%d",
            settings.agi.host, agi.port, settings.ami.host, settings.ami.port, len(report.loaded),
        )  # fmt: skip
        yield ctl


async def _wire_recordings_and_surveys(ctl: Controller, stack: AsyncExitStack) -> None:
    """Recordings (catalogue from AMI, transcription, retention) and post-call surveys, closed on exit."""
    from recordings.wiring import build_recordings
    from surveys.factory import build_survey_service

    settings = ctl.settings
    ctl.recordings = build_recordings(
        settings.recordings,
        ctl.sessions,
        ctl.clock,
        ctl.ami,
        source=f"{settings.ami.host}:{settings.ami.port}",
    )
    stack.push_async_callback(ctl.recordings.close)
    ctl.surveys = build_survey_service(settings.surveys, ctl.sessions, ctl.clock)
    stack.push_async_callback(ctl.surveys.close)


def _feature_jobs(ctl: Controller) -> dict[str, Job]:
    """Recordings' jobs, the survey sender, and the feed of ended queue calls to the surveys."""
    from switchboard.call_ended import CallEndedFeed

    jobs: dict[str, Job] = dict(ctl.recordings.jobs()) if ctl.recordings is not None else {}
    if ctl.surveys is not None:
        jobs["surveys-sender"] = ctl.surveys.run
        feed = CallEndedFeed(ctl.acd.store, ctl.sessions, ctl.surveys, ctl.clock)
        jobs["surveys-call-ended"] = feed.run
    return jobs


class _QuietServer(uvicorn.Server):
    """uvicorn without its own signal handling: the CLI owns SIGINT/SIGTERM and cancels the main task."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def bind_http(settings: Settings) -> socket.socket:
    """Bind the HTTP socket ourselves so a port in use is one clear line (uvicorn would exit instead)."""
    host, port = settings.http.host, settings.http.port
    with listening(service="HTTP", host=host, port=port, setting="http.port"):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on accepted sockets whose proto says TCP, and
        # without it every kept-alive HTTP response waited 40 ms (Nagle against the client's delayed ACK).
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
            sock.listen(256)
        except OSError:
            sock.close()
            raise
    sock.setblocking(False)
    return sock


def build_http_app(ctl: Controller) -> FastAPI:
    """The web app for this controller: the shell (sign-in, roles, users) and each feature's routers."""
    from acd.api import make_acd_routers
    from acd.config_edit import ConfigEditor
    from ivr.api import make_flows_router
    from switchboard.users.factory import build_user_services
    from switchboard.web import require_role
    from switchboard.web.admin import build_admin
    from switchboard.web.app import create_web_app
    from switchboard.web.pages import build_pages
    from switchboard.web.reports import build_reports

    if ctl.sessions is None:  # a controller built without a database: health only
        return create_http_app(components=ctl.components)
    users = build_user_services(ctl.settings.web, ctl.sessions, ctl.clock, redis=ctl.redis)
    metrics = ctl.acd_metrics or AcdMetrics(ctl.acd, ctl.sessions, ctl.clock)
    editor = ConfigEditor(ctl.acd, ctl.acd.repository)  # one editor: API and admin pages edits serialise
    routers = make_acd_routers(ctl.acd, ctl.acd.repository, metrics, require_role=require_role, editor=editor)
    routers.append(make_flows_router(ctl.flows, require_role=require_role))
    pages = build_pages(ctl)  # wallboard, desk, call detail, recordings (+ their API), surveys
    routers = [*routers, *pages.routers, *build_reports(ctl, pages.shell)]
    routers += build_admin(pages.shell, editor, ctl.flows, ctl.clock)  # agents, queues, absences, flows
    app = create_web_app(ctl.settings, users, routers=routers, components=ctl.components, shell=pages.shell)
    weakref.finalize(app, users.close)  # the password-hashing threads go with the app
    return app


async def serve_http(app: FastAPI, sock: socket.socket) -> None:
    """Serve ``app`` on an already bound socket until cancelled."""
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off")
    server = _QuietServer(config)
    try:
        await server.serve(sockets=[sock])
    finally:
        server.should_exit = True


async def run_jobs(ctl: Controller, extra: dict[str, Job] | None = None) -> None:
    """Run the controller's background jobs (and ``extra`` ones) under supervision until cancelled."""
    async with asyncio.TaskGroup() as tg:
        for name, job in {**ctl.jobs, **(extra or {})}.items():
            tg.create_task(supervise(name, job, ctl.clock), name=name)


def _dump_tasks() -> None:
    """SIGUSR1: log every asyncio task with its stack (what is the controller waiting for?)."""
    for task in asyncio.all_tasks():
        frames = " <- ".join(f"{f.f_code.co_name}:{f.f_lineno}" for f in task.get_stack(limit=8))
        log.warning("task dump name=%s cancelling=%d stack=%s", task.get_name(), task.cancelling(), frames)


async def run_serve(settings: Settings) -> None:
    """``switchboard serve``: the controller against a real Asterisk, until SIGINT/SIGTERM."""
    with contextlib.suppress(NotImplementedError, RuntimeError):
        asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, _dump_tasks)
    sock = bind_http(settings)
    try:
        async with controller(settings, SystemClock()) as ctl:
            ctl.http_port = sock.getsockname()[1]
            app = build_http_app(ctl)
            freeze_startup_heap()
            log.info("http listening on %s:%d", settings.http.host, ctl.http_port)
            await run_jobs(ctl, {"http": lambda: serve_http(app, sock)})
    finally:
        sock.close()


async def run_demo(
    settings: Settings, *, duration: float | None = None, speed: float = 1.0, calls: int | None = None
) -> int:
    """``switchboard demo``: the same controller against the built-in Asterisk emulator."""
    from switchboard.demo import run_demo as _run

    return await _run(settings, duration=duration, speed=speed, calls=calls)
