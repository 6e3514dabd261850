"""Speech workers as processes: for engines that hold the GIL while decoding (PocketSphinx).

Each worker process builds its own engine from a picklable spec and serves jobs over a pipe. A job past
its deadline gets its worker killed and replaced, so a hung decode never keeps a slot; a worker that dies
(a crash in C code) costs only its current job, never the controller. A load failure is reported once and
makes the pool refuse work at once from then on.

Workers are plain subprocesses (``python -m ivr.speech.worker``, see there) talking pickles over two pipes.
The controller side waits on the pipes in a few helper threads, which sleep in ``poll`` without the GIL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import subprocess
import sys
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from ivr.speech.admission import Admission, PoolStats
from ivr.speech.engine import (
    BadAudio,
    EngineSpec,
    Recognition,
    SpeechError,
    SpeechTimeout,
    SpeechUnavailable,
)
from ivr.speech.jobs import Job
from ivr.speech.thread_pool import DaemonExecutor

log = logging.getLogger(__name__)

MAX_LOAD_CRASHES = 3
_ERRORS: dict[str, type[SpeechError]] = {
    "BadAudio": BadAudio,
    "SpeechUnavailable": SpeechUnavailable,
    "SpeechTimeout": SpeechTimeout,
}


class _WorkerDied(Exception):
    pass


class _Worker:
    """One worker process and the controller's ends of its two pipes."""

    def __init__(self, spec: EngineSpec, serial: int) -> None:
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "ivr.speech.worker", str(to_child_r), str(from_child_w)],
                pass_fds=(to_child_r, from_child_w),
                stdin=subprocess.DEVNULL,
                env=_child_env(),
                start_new_session=True,  # a Ctrl-C on the controller's terminal is the controller's to handle
            )
        except BaseException:
            for fd in (to_child_w, from_child_r):
                os.close(fd)
            raise
        finally:
            os.close(to_child_r)
            os.close(from_child_w)
        self.outbox = Connection(to_child_w, readable=False)
        self.inbox = Connection(from_child_r, writable=False)
        self.name = f"speech-{spec.kind}-{serial}"
        self.ready = False
        self.killed = False
        self.outbox.send(spec)

    @property
    def pid(self) -> int:
        return self.process.pid

    def call(self, job: Job, timeout: float) -> tuple[Any, ...]:
        """Blocking: wait until the worker is ready, send the job, wait for the reply (in a helper thread)."""
        end = time.monotonic() + timeout
        if not self.ready:
            first = self._recv(end)
            if first[0] == "load_failed":
                return first
            self.ready = True
        try:
            self.outbox.send(job)
        except (OSError, ValueError) as exc:
            raise _WorkerDied(str(exc)) from None
        return self._recv(end)

    def _recv(self, end: float) -> tuple[Any, ...]:
        try:
            if not self.inbox.poll(max(0.0, end - time.monotonic())):
                raise _WorkerDied("no reply")
            return tuple(self.inbox.recv())
        except (EOFError, OSError, ValueError) as exc:
            raise _WorkerDied(f"worker process ended: {type(exc).__name__}") from None

    def kill(self) -> None:
        self.killed = True
        with contextlib.suppress(Exception):
            self.process.kill()

    def reap(self) -> None:
        """Collect the dead process and close the pipes (blocking briefly; run off the event loop)."""
        with contextlib.suppress(Exception):
            self.process.wait(2.0)
        for conn in (self.outbox, self.inbox):
            with contextlib.suppress(Exception):
                conn.close()


def _child_env() -> dict[str, str]:
    """The controller's environment, with the directory holding ``ivr`` first on the path."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    return env


class ProcessWorkerPool:
    """``workers`` processes, each with its own engine; killed and replaced when a job overruns."""

    def __init__(self, spec: EngineSpec, *, workers: int, max_waiting: int, grace: float = 1.0) -> None:
        self.spec = spec
        self._admission = Admission(workers, max_waiting)
        self._io = DaemonExecutor(2 * workers, f"speech-io-{spec.kind}")
        self._idle: list[_Worker] = []
        self._all: set[_Worker] = set()
        self._lock = threading.Lock()  # guards _idle and _serial (reaping runs in helper threads)
        self._serial = 0
        self._started = False
        self._grace = grace
        self._load_error: str | None = None
        self._load_crashes = 0
        self._completed = 0
        self._timeouts = 0
        self._restarts = 0
        self._closed = False

    @property
    def unavailable_reason(self) -> str | None:
        return self._load_error

    def stats(self) -> PoolStats:
        a = self._admission
        return PoolStats(
            a.workers, a.busy, 0, a.waiting, self._completed, self._timeouts, a.refused, self._restarts
        )

    def warm_up(self) -> None:
        """Start the worker processes now (no event loop needed); they load their engines in parallel."""
        with self._lock:
            if self._started or self._closed:
                return
            self._started = True
            for _ in range(self._admission.workers):
                self._idle.append(self._spawn_locked())

    def _spawn_locked(self) -> _Worker:
        self._serial += 1
        try:
            worker = _Worker(self.spec, self._serial)
        except OSError as exc:
            raise SpeechUnavailable(f"cannot start a speech worker process: {exc}") from None
        self._all.add(worker)
        return worker

    async def run(self, job: Job, deadline: float) -> Recognition:
        """Run ``job`` in a worker process within ``deadline`` seconds."""
        if self._closed:
            raise SpeechUnavailable("speech service is closed")
        if self._load_error is not None:
            raise SpeechUnavailable(self._load_error)
        self.warm_up()
        loop = asyncio.get_running_loop()
        end = loop.time() + deadline
        await self._admission.acquire(end - loop.time())
        try:
            with self._lock:
                worker = self._idle.pop() if self._idle else self._spawn_locked()
        except SpeechUnavailable:
            self._admission.release()
            raise
        future = asyncio.wrap_future(self._io.submit(worker.call, job, deadline + self._grace), loop=loop)
        future.add_done_callback(_retrieve)
        try:
            reply = await asyncio.wait_for(asyncio.shield(future), max(0.0, end - loop.time()))
        except (TimeoutError, asyncio.CancelledError) as exc:
            self._abandon(worker, future, job)
            if isinstance(exc, asyncio.CancelledError):
                raise
            self._timeouts += 1
            raise SpeechTimeout(f"speech engine did not answer within {deadline:.2f} s") from None
        except _WorkerDied as exc:
            self._crashed(worker, job, str(exc))
            raise SpeechError(f"speech worker died: {exc}") from None
        return self._reply(worker, reply)

    def _abandon(self, worker: _Worker, future: asyncio.Future[tuple[Any, ...]], job: Job) -> None:
        """The caller gave up. A worker still starting is not at fault: let it finish, then reuse it."""
        if worker.ready:
            log.warning(
                "speech job past its deadline, worker replaced call_id=%s engine=%s pid=%s",
                job.call_id, self.spec.kind, worker.pid,
            )  # fmt: skip
            self._replace(worker)
            return
        log.info("speech worker still starting at the deadline call_id=%s pid=%s", job.call_id, worker.pid)
        future.add_done_callback(lambda f: self._settle_late(worker, f))

    def _settle_late(self, worker: _Worker, future: asyncio.Future[tuple[Any, ...]]) -> None:
        """The outcome of a job nobody waits for any more: keep the worker if it is healthy."""
        if future.cancelled() or future.exception() is not None:
            self._replace(worker, respawn=self._load_error is None)
            return
        reply = future.result()
        if reply[0] == "load_failed":
            self._set_unavailable(str(reply[1]))
            self._replace(worker, respawn=False)
            return
        self._load_crashes = 0
        self._back(worker)

    def _reply(self, worker: _Worker, reply: tuple[Any, ...]) -> Recognition:
        kind = reply[0]
        if kind == "load_failed":
            self._set_unavailable(str(reply[1]))
            self._replace(worker, respawn=False)
            raise SpeechUnavailable(self._load_error or "speech engine failed to load")
        self._load_crashes = 0
        self._back(worker)
        if kind == "ok":
            self._completed += 1
            result = reply[1]
            if not isinstance(result, Recognition):
                raise SpeechError("speech worker sent something that is not a Recognition")
            return result
        error = _ERRORS.get(str(reply[1]), SpeechError)
        raise error(str(reply[2]))

    def _crashed(self, worker: _Worker, job: Job, reason: str) -> None:
        if not worker.ready:
            self._load_crashes += 1
            if self._load_crashes >= MAX_LOAD_CRASHES:
                self._set_unavailable(
                    f"{self.spec.kind} worker died {self._load_crashes} times while loading"
                )
        log.error(
            "speech worker died call_id=%s engine=%s pid=%s reason=%s",
            job.call_id, self.spec.kind, worker.pid, reason,
        )  # fmt: skip
        self._replace(worker, respawn=self._load_error is None)

    def _set_unavailable(self, reason: str) -> None:
        if self._load_error is None:
            self._load_error = f"{self.spec.kind} engine failed to load: {reason}"
            log.error("speech engine unavailable engine=%s reason=%s", self.spec.kind, reason)

    def _back(self, worker: _Worker) -> None:
        with self._lock:
            if self._closed:
                worker.kill()
            else:
                self._idle.append(worker)
        self._admission.release()

    def _replace(self, worker: _Worker, *, respawn: bool = True) -> None:
        """Kill ``worker`` (its helper thread wakes on EOF), reap it off the loop, free its slot."""
        worker.kill()
        self._io.submit(worker.reap)
        try:
            with self._lock:
                self._all.discard(worker)
                if respawn and not self._closed and self._load_error is None:
                    self._restarts += 1
                    self._idle.append(self._spawn_locked())
        except SpeechUnavailable as exc:
            log.error(
                "speech worker not replaced engine=%s error=%s", self.spec.kind, exc
            )  # next call retries
        finally:
            self._admission.release()

    async def close(self) -> None:
        self._closed = True
        with self._lock:
            workers, self._idle, self._all = list(self._all), [], set()
        for worker in workers:
            worker.kill()
        await asyncio.gather(*(asyncio.to_thread(w.reap) for w in workers))
        self._io.shutdown()


def _retrieve(future: asyncio.Future[Any]) -> None:
    """Mark the outcome of an abandoned helper call as seen (no "exception never retrieved" noise)."""
    if not future.cancelled():
        future.exception()
