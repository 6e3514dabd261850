"""Transcription jobs: a bounded pool of engine processes fed from the job queue in SQL.

Why processes, not threads: PocketSphinx holds the GIL for a whole decode (seconds), which would freeze
the event loop from a worker thread; a process pool (``spawn``, ``workers`` processes, each loading its
engine once) keeps the loop free and uses every core. File checks are small reads done with ``to_thread``.

A job: check the file (missing -> retried with backoff, then ``missing``; not a usable WAV -> ``damaged``),
then transcribe (engine failure or timeout -> retried with backoff, then ``failed``). With engine "none"
checked files become ``stored``. Jobs live in SQL (see ``store``), so they survive restarts: on start the
worker releases the leases its previous run held, and leases of dead processes elsewhere expire.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import socket
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from recordings import engine_process
from recordings.audio import AudioProblem, BadAudio, MissingAudio, WavInfo, inspect_wav
from recordings.model import RecordingState, Speaker, TranscriptSegment
from recordings.paths import PathMapper
from recordings.store import Job, RecordingStore
from recordings.transcriber import Segment, TranscriberSpec
from switchboard.call_path import gate
from switchboard.clock import Clock
from switchboard.settings import RecordingsSettings

log = logging.getLogger(__name__)

S = RecordingState


@dataclass(frozen=True)
class WorkerConfig:
    """Pool size, retry policy and timing of the transcription worker."""

    workers: int = 1
    max_attempts: int = 4
    retry_initial: float = 30.0
    retry_max: float = 1800.0
    job_timeout: float = 3600.0
    lease_seconds: float = 7200.0
    poll_interval: float = 15.0

    @classmethod
    def from_settings(cls, s: RecordingsSettings) -> WorkerConfig:
        """The recordings settings' worker fields."""
        return cls(
            s.workers,
            s.max_attempts,
            s.retry_initial,
            s.retry_max,
            s.job_timeout,
            s.lease_seconds,
            s.poll_interval,
        )

    def backoff(self, attempts: int) -> float:
        """Seconds before attempt ``attempts + 1``: doubling from retry_initial, capped at retry_max."""
        return min(self.retry_max, self.retry_initial * 2 ** max(0, attempts - 1))


@dataclass(frozen=True)
class _Checked:
    files: list[tuple[str, str]]  # (local path, speaker) to transcribe
    info: WavInfo  # the mixed file's
    note: str | None


class TranscriptionWorker:
    """Claims due jobs and runs them, at most ``workers`` at once, until cancelled."""

    def __init__(
        self,
        store: RecordingStore,
        mapper: PathMapper,
        clock: Clock,
        spec: TranscriberSpec | None,
        config: WorkerConfig | None = None,
        *,
        owner: str | None = None,
    ) -> None:
        self.store = store
        self.mapper = mapper
        self.clock = clock
        self.spec = spec
        self.config = config or WorkerConfig()
        # The lease must outlive the longest job, or a slow job would be taken over while it runs.
        self.lease_seconds = max(self.config.lease_seconds, self.config.job_timeout + 60.0)
        self.owner = owner or f"{socket.gethostname()}:recordings"
        self._wake = asyncio.Event()
        self._pool: ProcessPoolExecutor | None = None
        self._running: set[asyncio.Task[None]] = set()
        self._started = False

    @classmethod
    def from_settings(
        cls, store: RecordingStore, settings: RecordingsSettings, clock: Clock, *, owner: str | None = None
    ) -> TranscriptionWorker:
        """A worker configured from the recordings settings section."""
        spec = (
            None
            if settings.engine == "none"
            else TranscriberSpec(
                settings.engine, str(settings.vosk_model_dir) if settings.vosk_model_dir else None
            )
        )
        return cls(
            store,
            PathMapper(settings.asterisk_dir, settings.local_dir),
            clock,
            spec,
            WorkerConfig.from_settings(settings),
            owner=owner,
        )

    def notify(self) -> None:
        """Something new may be due: look now instead of at the next poll."""
        self._wake.set()

    async def start(self) -> None:
        """Take back the jobs a previous run of this owner left half done."""
        if self._started:
            return
        self._started = True
        released = await self.store.release_leases(self.owner, self.clock.now())
        if released:
            log.info("transcription jobs resumed after restart owner=%s jobs=%d", self.owner, released)

    async def run(self) -> None:
        """Serve jobs until cancelled."""
        await self.start()
        try:
            async with asyncio.TaskGroup() as group:
                while True:
                    free = self.config.workers - len(self._running)
                    claimed = 0
                    if free > 0:
                        await gate.quiet()  # the call path first (switchboard/call_path.py)
                        for job in await self.store.claim(
                            self.owner, self.clock.now(), free, self.lease_seconds
                        ):
                            claimed += 1
                            task = group.create_task(
                                self._process(job), name=f"transcribe-{job.recording_id}"
                            )
                            self._running.add(task)
                            task.add_done_callback(self._job_done)
                    await self._wait(await self._next_wait(free - claimed))
        finally:
            await self.close()

    async def run_once(self) -> int:
        """Run every job due now to its end (tests, tools); returns how many were processed."""
        await self.start()
        done = 0
        while jobs := await self.store.claim(
            self.owner, self.clock.now(), self.config.workers, self.lease_seconds
        ):
            await asyncio.gather(*(self._process(job) for job in jobs))
            done += len(jobs)
        return done

    async def close(self) -> None:
        """Stop the engine processes (a running decode is killed; its job is released for the next run)."""
        self._kill_pool()
        with contextlib.suppress(Exception):
            await asyncio.shield(self.store.release_leases(self.owner, self.clock.now()))

    # -- scheduling -----------------------------------------------------------------------------------

    def _job_done(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._wake.set()

    async def _next_wait(self, free: int) -> float | None:
        if free <= 0:
            return None  # a finishing job wakes us
        due = await self.store.pending_due_at()
        if due is None:
            return self.config.poll_interval
        # Never spin: a due job we could not claim was taken by another process a moment ago.
        return min(self.config.poll_interval, max(0.5, (due - self.clock.now()).total_seconds()))

    async def _wait(self, seconds: float | None) -> None:
        waiter = asyncio.ensure_future(self._wake.wait())
        tasks: set[asyncio.Future[object]] = {waiter}
        if seconds is not None:
            tasks.add(asyncio.ensure_future(self.clock.sleep(seconds)))
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            self._wake.clear()

    # -- one job --------------------------------------------------------------------------------------

    async def _process(self, job: Job) -> None:
        try:
            await self._process_job(job)
        except asyncio.CancelledError:
            raise
        except Exception:
            # The lease expires and the job is retried; never let one job take the worker down.
            log.exception(
                "transcription job crashed recording_id=%s call_id=%s", job.recording_id, job.call_id
            )

    async def _process_job(self, job: Job) -> None:
        attempts = job.attempts + 1
        try:
            checked = await asyncio.to_thread(self._check, job)
        except MissingAudio as exc:
            await self._failed(job, attempts, f"recording file missing: {exc}", S.MISSING)
            return
        except BadAudio as exc:
            log.warning(
                "recording damaged recording_id=%s call_id=%s problem=%s", job.recording_id, job.call_id, exc
            )
            await self.store.count_attempt(job.recording_id, self.owner, attempts)
            await self.store.settle(
                job.recording_id,
                self.owner,
                S.DAMAGED,
                now=self.clock.now(),
                problem=f"recording file damaged: {exc}",
                size_bytes=None,
            )
            return
        info = checked.info
        if self.spec is None:
            await self.store.settle(
                job.recording_id,
                self.owner,
                S.STORED,
                now=self.clock.now(),
                problem=checked.note,
                size_bytes=info.file_size,
                duration_s=info.duration_s,
            )
            log.info(
                "recording stored (transcription off) recording_id=%s call_id=%s",
                job.recording_id,
                job.call_id,
            )
            return
        try:
            results = await self._transcribe(checked.files)
        except AudioProblem as exc:  # the file changed between the check and the read
            await self._failed(job, attempts, f"recording file unreadable: {exc}", S.MISSING)
            return
        except TimeoutError:
            await self._failed(job, attempts, f"transcription took longer than {self.config.job_timeout:g} s")
            return
        except Exception as exc:
            await self._failed(job, attempts, f"transcription failed: {type(exc).__name__}: {exc}")
            return
        segments = merge_segments(results)
        stored = await self.store.complete(
            job.recording_id,
            self.owner,
            segments,
            engine=self.spec.engine,
            size_bytes=info.file_size,
            duration_s=info.duration_s,
            now=self.clock.now(),
            note=checked.note,
        )
        log.info(
            "recording transcribed recording_id=%s call_id=%s segments=%d audio_s=%.1f stored=%s",
            job.recording_id,
            job.call_id,
            len(segments),
            info.duration_s,
            stored,
        )

    def _check(self, job: Job) -> _Checked:
        if not job.local_path:
            raise MissingAudio("no controller path for this recording")
        mixed = Path(job.local_path)
        if not self.mapper.contains(mixed):
            raise MissingAudio("file is outside the recordings directory")
        info = inspect_wav(mixed)
        if not job.legs:
            return _Checked([(str(mixed), Speaker.MIXED.value)], info, None)
        files: list[tuple[str, str]] = []
        problems: list[str] = []
        for leg in job.legs:
            try:
                if not leg.local_path or not self.mapper.contains(Path(leg.local_path)):
                    raise MissingAudio("path outside the recordings directory")
                inspect_wav(Path(leg.local_path))
                files.append((leg.local_path, leg.speaker.value))
            except AudioProblem as exc:
                problems.append(f"{leg.speaker.value} leg: {exc}")
        if problems:
            note = "transcribed the mixed file without speakers (" + "; ".join(problems) + ")"
            return _Checked([(str(mixed), Speaker.MIXED.value)], info, note)
        return _Checked(files, info, None)

    async def _transcribe(self, files: list[tuple[str, str]]) -> list[tuple[str, list[Segment]]]:
        pool = self._ensure_pool()
        future = asyncio.get_running_loop().run_in_executor(pool, engine_process.transcribe_files, files)
        try:
            return await asyncio.wait_for(future, self.config.job_timeout)
        except TimeoutError:
            self._kill_pool()  # the only way to stop a decode in another process
            raise
        except BrokenProcessPool:
            self._kill_pool()
            raise

    async def _failed(self, job: Job, attempts: int, problem: str, final: RecordingState = S.FAILED) -> None:
        now = self.clock.now()
        if attempts >= self.config.max_attempts:
            log.warning(
                "recording job gave up recording_id=%s call_id=%s attempts=%d state=%s problem=%s",
                job.recording_id,
                job.call_id,
                attempts,
                final.value,
                problem,
            )
            await self.store.count_attempt(job.recording_id, self.owner, attempts)
            await self.store.settle(job.recording_id, self.owner, final, now=now, problem=problem)
            return
        delay = self.config.backoff(attempts)
        log.info(
            "recording job will retry recording_id=%s call_id=%s attempt=%d in_s=%.0f problem=%s",
            job.recording_id,
            job.call_id,
            attempts,
            delay,
            problem,
        )
        await self.store.retry_later(
            job.recording_id,
            self.owner,
            problem=f"retrying: {problem}",
            attempts=attempts,
            at=now + timedelta(seconds=delay),
            now=now,
        )

    # -- the process pool -----------------------------------------------------------------------------

    def _ensure_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            assert self.spec is not None
            self._pool = ProcessPoolExecutor(
                max_workers=self.config.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=engine_process.init_engine,
                initargs=(self.spec,),
            )
        return self._pool

    def _kill_pool(self) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        # ProcessPoolExecutor cannot cancel a running call; kill its processes (private but long-stable).
        for process in list(getattr(pool, "_processes", {}).values()):
            with contextlib.suppress(Exception):
                process.kill()
        pool.shutdown(wait=False, cancel_futures=True)


def merge_segments(results: Sequence[tuple[str, Sequence[Segment]]]) -> list[TranscriptSegment]:
    """One transcript from each file's segments, in time order, each labelled with its file's speaker."""
    merged = [
        TranscriptSegment(seg.start_s, seg.end_s, Speaker(speaker), seg.text, seg.confidence)
        for speaker, segments in results
        for seg in segments
        if seg.text.strip()
    ]
    merged.sort(key=lambda s: (s.start_s, s.end_s, s.speaker.value))
    return merged
