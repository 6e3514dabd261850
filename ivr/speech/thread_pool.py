"""Speech workers as threads sharing one engine: for engines that release the GIL and share a big model.

A thread cannot be stopped. When a job runs past its deadline the caller gets ``SpeechTimeout`` at once,
and the thread is counted as stuck until the job returns; its slot comes back only then. While every
worker is stuck, new work is refused at once (``SpeechUnavailable``) rather than queued behind them.
The threads are daemons: a hung engine never holds up the controller's shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from ivr.speech.admission import Admission, PoolStats
from ivr.speech.engine import Engine, EngineSpec, Recognition, SpeechTimeout, SpeechUnavailable
from ivr.speech.jobs import Job, run_job

log = logging.getLogger(__name__)


class ThreadWorkerPool:
    """``workers`` threads, one shared engine loaded lazily (once) in a worker thread."""

    def __init__(self, spec: EngineSpec, *, workers: int, max_waiting: int) -> None:
        self.spec = spec
        self._admission = Admission(workers, max_waiting)
        self._executor = DaemonExecutor(workers, f"speech-{spec.kind}")
        self._engine: Engine | None = None
        self._load_error: str | None = None
        self._load_lock = threading.Lock()
        self._loading = False
        self._completed = 0
        self._timeouts = 0
        self._closed = False

    @property
    def unavailable_reason(self) -> str | None:
        return self._load_error

    def stats(self) -> PoolStats:
        a = self._admission
        return PoolStats(a.workers, a.busy, a.stuck, a.waiting, self._completed, self._timeouts, a.refused, 0)

    def warm_up(self) -> None:
        """Start loading the engine in the background (no event loop needed)."""
        if not self._load_lock.acquire(blocking=False):
            return  # a load is under way
        try:
            if self._engine is not None or self._loading or self._load_error or self._closed:
                return
            self._loading = True
        finally:
            self._load_lock.release()
        self._executor.submit(self._load_quietly)

    async def run(self, job: Job, deadline: float) -> Recognition:
        """Run ``job``; SpeechTimeout past ``deadline`` seconds, SpeechUnavailable when refused."""
        if self._closed:
            raise SpeechUnavailable("speech service is closed")
        if self._load_error is not None:
            raise SpeechUnavailable(self._load_error)
        loop = asyncio.get_running_loop()
        end = loop.time() + deadline
        await self._admission.acquire(end - loop.time())
        abandoned = threading.Event()
        started = time.monotonic()
        future = asyncio.wrap_future(self._executor.submit(self._work, job), loop=loop)
        future.add_done_callback(lambda f: self._finished(f, abandoned, job, started))
        try:
            return await asyncio.wait_for(asyncio.shield(future), max(0.0, end - loop.time()))
        except TimeoutError:
            self._give_up(abandoned, job)
            raise SpeechTimeout(f"speech engine did not answer within {deadline:.2f} s") from None
        except asyncio.CancelledError:
            self._give_up(abandoned, job)
            raise

    def _give_up(self, abandoned: threading.Event, job: Job) -> None:
        self._timeouts += 1
        abandoned.set()
        self._admission.stuck += 1
        log.warning(
            "speech job past its deadline call_id=%s engine=%s stuck_workers=%d",
            job.call_id, self.spec.kind, self._admission.stuck,
        )  # fmt: skip

    def _finished(
        self, future: asyncio.Future[Recognition], abandoned: threading.Event, job: Job, started: float
    ) -> None:
        if abandoned.is_set():
            self._admission.stuck = max(0, self._admission.stuck - 1)
            log.info(
                "abandoned speech job finished call_id=%s after=%.2fs",
                job.call_id,
                time.monotonic() - started,
            )
        elif not future.cancelled() and future.exception() is None:
            self._completed += 1
        if abandoned.is_set() and not future.cancelled():
            future.exception()  # seen: an abandoned job's error is not news
        self._admission.release()

    def _work(self, job: Job) -> Recognition:
        return run_job(self._engine_or_load(), job)

    def _engine_or_load(self) -> Engine:
        with self._load_lock:
            if self._engine is not None:
                return self._engine
            if self._load_error is not None:
                raise SpeechUnavailable(self._load_error)
            try:
                engine = self.spec.build()
                engine.load()
            except Exception as exc:
                self._load_error = f"{self.spec.kind} engine failed to load: {exc}"
                log.error("speech engine unavailable engine=%s reason=%s", self.spec.kind, exc)
                raise SpeechUnavailable(self._load_error) from None
            finally:
                self._loading = False
            self._engine = engine
            log.info("speech engine loaded engine=%s", self.spec.kind)
            return engine

    def _load_quietly(self) -> None:
        with contextlib.suppress(SpeechUnavailable):  # logged once in _engine_or_load; calls now fail fast
            self._engine_or_load()

    async def close(self) -> None:
        self._closed = True
        self._executor.shutdown()
        self._engine = None  # a model can be hundreds of MB: let it go (no lock: close never blocks)


class DaemonExecutor:
    """A fixed set of daemon threads running submitted calls in order (the pool's admission bounds them)."""

    def __init__(self, threads: int, name: str) -> None:
        self._queue: queue.SimpleQueue[tuple[Future[Any], Callable[..., Any], tuple[Any, ...]] | None]
        self._queue = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._serve, name=f"{name}-{i}", daemon=True) for i in range(threads)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        future: Future[Any] = Future()
        self._queue.put((future, fn, args))
        return future

    def shutdown(self) -> None:
        """Let idle threads end; a thread stuck in a job ends when the job does (or with the process)."""
        for _ in self._threads:
            self._queue.put(None)

    def _serve(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            future, fn, args = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                result = fn(*args)
            except BaseException as exc:
                future.set_exception(exc)
            else:
                future.set_result(result)
