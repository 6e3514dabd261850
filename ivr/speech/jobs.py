"""One unit of recognition work, the same in a worker thread or a worker process: read, check, decode."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Literal

from ivr.speech.audio import read_wav
from ivr.speech.engine import Engine, Recognition, SpeechError, clamp01

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    """Recognise ``wav`` against ``phrases`` (grammar mode) or freely (``phrases`` is None)."""

    mode: Literal["grammar", "free"]
    wav: str
    phrases: tuple[str, ...] | None
    max_seconds: float
    call_id: str = ""


def run_job(engine: Engine, job: Job) -> Recognition:
    """Read the recording (capped) and run the engine; ``BadAudio`` for unusable files.

    This is the one boundary where an engine's own exceptions become ``SpeechError``.
    """
    pcm = read_wav(job.wav, max_seconds=job.max_seconds)
    try:
        if job.mode == "grammar":
            result = engine.recognize_grammar(pcm.data, job.phrases or ())
        else:
            result = engine.recognize_free(pcm.data)
        return _checked(result, engine.name)
    except SpeechError:
        raise
    except Exception as exc:
        log.warning("speech engine failed call_id=%s engine=%s error=%s: %s",
                    job.call_id, engine.name, type(exc).__name__, exc)  # fmt: skip
        raise SpeechError(f"engine failed: {type(exc).__name__}: {exc}") from None


def _checked(result: Recognition, engine: str) -> Recognition:
    """Whatever an engine returns, the service hands out text, a 0..1 confidence and a finite duration."""
    text = result.text if isinstance(result.text, str) else ""
    seconds = float(result.seconds) if math.isfinite(float(result.seconds)) else 0.0
    return Recognition(text, clamp01(float(result.confidence)), result.engine or engine, max(0.0, seconds))
