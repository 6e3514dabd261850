"""Inside a transcription worker process: one engine per process, loaded once; files in, segments out.

Kept apart from ``worker`` so a spawned process imports only the engine and the WAV reader. The engine is
this process's own state (the process exists to hold it); a load failure is kept and reported by every job,
so the pool stays healthy and the parent's retry policy decides what happens.
"""

from __future__ import annotations

import logging
from pathlib import Path

from recordings.audio import pcm_8k, read_pcm
from recordings.transcriber import (
    Segment,
    Transcriber,
    TranscriberSpec,
    TranscriberUnavailable,
    build_transcriber,
)

log = logging.getLogger(__name__)

_engine: Transcriber | None = None
_engine_error: str | None = None


def init_engine(spec: TranscriberSpec) -> None:
    """Process-pool initializer: load the engine (or remember why it could not be loaded)."""
    global _engine, _engine_error
    try:
        _engine = build_transcriber(spec)
        _engine_error = None
    except TranscriberUnavailable as exc:
        _engine, _engine_error = None, str(exc)


def transcribe_files(files: list[tuple[str, str]]) -> list[tuple[str, list[Segment]]]:
    """Transcribe each (path, speaker); raises MissingAudio/BadAudio/TranscriptionError with the reason."""
    if _engine is None:
        raise TranscriberUnavailable(_engine_error or "transcription engine not loaded")
    out: list[tuple[str, list[Segment]]] = []
    for path, speaker in files:
        pcm, rate = read_pcm(Path(path))
        out.append((speaker, _engine.transcribe(pcm_8k(pcm, rate))))
    return out
