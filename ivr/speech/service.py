"""SpeechService: recognition for the flows, in a bounded worker pool off the event loop, under a deadline.

Every failure ends as a ``SpeechError`` subclass within the deadline, so a voice problem never hangs a
call: the engine is missing or failed to load (``SpeechUnavailable``, logged once), every worker is busy or
stuck (``SpeechUnavailable`` at once), the engine is slow (``SpeechTimeout``), the recording is unusable
(``BadAudio``), or the engine raised or its process died (``SpeechError``).

The deadline bounds real work in real threads and processes, so it is measured on the event loop's own
clock rather than an injected ``Clock`` (a manual clock cannot make a decoder finish sooner).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Literal, Protocol

from ivr.speech.admission import PoolStats
from ivr.speech.engine import EngineSpec, Recognition, SpeechUnavailable
from ivr.speech.jobs import Job
from ivr.speech.pocketsphinx_engine import PocketSphinxSpec
from ivr.speech.process_pool import ProcessWorkerPool
from ivr.speech.thread_pool import ThreadWorkerPool
from ivr.speech.vosk_engine import VoskSpec
from switchboard.settings import SpeechSettings

log = logging.getLogger(__name__)

MAX_GRAMMAR_PHRASES = 200


class WorkerPool(Protocol):
    """What the service needs of a pool (threads or processes)."""

    @property
    def unavailable_reason(self) -> str | None: ...

    def warm_up(self) -> None: ...

    def stats(self) -> PoolStats: ...

    async def run(self, job: Job, deadline: float) -> Recognition: ...

    async def close(self) -> None: ...


class SpeechService:
    """Grammar and free recognition of caller recordings (CONTRACTS section 4)."""

    def __init__(
        self,
        spec: EngineSpec | None,
        *,
        workers: int = 2,
        deadline: float = 0.8,
        pool: Literal["auto", "thread", "process"] = "auto",
        max_waiting: int = 4,
        max_audio_seconds: float = 30.0,
        free_speech: bool = False,
    ) -> None:
        self._spec = spec
        self._deadline = deadline
        self._max_audio_seconds = max_audio_seconds
        self._free_speech = free_speech and spec is not None
        self._pool: WorkerPool | None = None
        if spec is not None:
            kind = pool if pool != "auto" else ("process" if spec.kind == "pocketsphinx" else "thread")
            if kind == "process":
                self._pool = ProcessWorkerPool(spec, workers=workers, max_waiting=max_waiting)
            else:
                self._pool = ThreadWorkerPool(spec, workers=workers, max_waiting=max_waiting)

    @property
    def name(self) -> str:
        return self._spec.kind if self._spec is not None else "none"

    @property
    def free_speech_ok(self) -> bool:
        """True only when free recognition is good enough to offer "tell us why you are calling"."""
        return self._free_speech and self._pool is not None and self._pool.unavailable_reason is None

    def warm_up(self) -> None:
        """Start loading the engine now rather than on the first call (no event loop needed)."""
        if self._pool is not None:
            self._pool.warm_up()

    def stats(self) -> PoolStats | None:
        return self._pool.stats() if self._pool is not None else None

    async def recognize_grammar(
        self, wav: Path, phrases: Sequence[str], *, deadline: float | None = None, call_id: str = ""
    ) -> Recognition:
        """Which of ``phrases`` the caller said (text "" when none), confidence 0..1."""
        clean = tuple(p for p in list(phrases)[:MAX_GRAMMAR_PHRASES] if isinstance(p, str) and p.strip())
        if not clean and self._pool is not None:
            return Recognition("", 0.0, self.name, 0.0)  # an empty grammar can match nothing
        job = Job("grammar", str(wav), clean, self._max_audio_seconds, call_id)
        return await self._run(job, deadline)

    async def recognize_free(
        self, wav: Path, *, deadline: float | None = None, call_id: str = ""
    ) -> Recognition:
        """What the caller said, as text."""
        job = Job("free", str(wav), None, self._max_audio_seconds, call_id)
        return await self._run(job, deadline)

    async def _run(self, job: Job, deadline: float | None) -> Recognition:
        if self._pool is None:
            raise SpeechUnavailable("no speech engine is configured")
        seconds = self._deadline if deadline is None else max(0.0, float(deadline))
        result = await self._pool.run(job, seconds)
        log.debug(
            "speech recognised call_id=%s engine=%s mode=%s seconds=%.3f confidence=%.2f",
            job.call_id, result.engine, job.mode, result.seconds, result.confidence,
        )  # fmt: skip
        return result

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()


def engine_spec(settings: SpeechSettings) -> EngineSpec | None:
    """The engine recipe the settings describe (None for engine "none"); raises nothing."""
    if settings.engine == "pocketsphinx":
        return PocketSphinxSpec(
            model_dir=str(settings.pocketsphinx_model_dir) if settings.pocketsphinx_model_dir else None,
            noise_snr_db=settings.pocketsphinx_noise_snr_db,
        )
    if settings.engine == "vosk":
        if settings.vosk_model_dir is None:
            return None
        return VoskSpec(model_dir=str(settings.vosk_model_dir))
    return None


def build_speech_service(settings: SpeechSettings, *, warm: bool = True) -> SpeechService:
    """The service for ``settings.engine`` (pocketsphinx, vosk or none); starts loading when ``warm``."""
    spec = engine_spec(settings)
    if spec is None and settings.engine == "vosk":
        log.error(
            "speech engine unavailable engine=vosk reason=speech.vosk_model_dir is not set; menus use keys"
        )
    service = SpeechService(
        spec,
        workers=settings.workers,
        deadline=settings.deadline,
        pool=settings.pool,
        max_waiting=settings.max_waiting,
        max_audio_seconds=settings.max_audio_seconds,
        free_speech=settings.engine == "vosk",
    )
    if warm:
        service.warm_up()
    return service
