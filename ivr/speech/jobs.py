"""One unit of recognition work, the same in a worker thread or a worker process: read, check, decode."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from ivr.speech.audio import read_wav
from ivr.speech.engine import Engine, Recognition, clamp01


@dataclass(frozen=True)
class Job:
    """Recognise ``wav`` against ``phrases`` (grammar mode) or freely (``phrases`` is None)."""

    mode: Literal["grammar", "free"]
    wav: str
    phrases: tuple[str, ...] | None
    max_seconds: float
    call_id: str = ""


def run_job(engine: Engine, job: Job) -> Recognition:
    """Read the recording (capped) and run the engine; ``BadAudio`` for unusable files."""
    pcm = read_wav(job.wav, max_seconds=job.max_seconds)
    if job.mode == "grammar":
        result = engine.recognize_grammar(pcm.data, job.phrases or ())
    else:
        result = engine.recognize_free(pcm.data)
    return _checked(result, engine.name)


def _checked(result: Recognition, engine: str) -> Recognition:
    """Whatever an engine returns, the service hands out text, a 0..1 confidence and a finite duration."""
    text = result.text if isinstance(result.text, str) else ""
    seconds = float(result.seconds) if math.isfinite(float(result.seconds)) else 0.0
    return Recognition(text, clamp01(float(result.confidence)), result.engine or engine, max(0.0, seconds))
