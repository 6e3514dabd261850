"""Speech-to-text for whole recordings, with word timing: the Transcriber protocol and its two engines.

Both engines are blocking and CPU-bound; the worker runs them in separate processes (PocketSphinx holds
the GIL for a whole decode, which would stall the event loop from a thread). ``TranscriberSpec`` is the
picklable recipe a worker process builds its engine from, once.

- PocketSphinx (embedded US English, the default): its acoustic model is 16 kHz, so 8 kHz telephone audio
  is upsampled first; a voice-activity segmenter cuts the call into utterances, each decoded with the
  default language model; word frames (100 per second) give the times.
- Vosk: a site's model directory (any language); ``SetWords(True)`` gives per-word start/end/conf.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol, runtime_checkable

from recordings.audio import upsample_8k_to_16k

log = logging.getLogger(__name__)

RATE: Final = 8000
VOSK_CHUNK_BYTES: Final = 8000  # 0.5 s of 8 kHz audio per AcceptWaveform
VOSK_SPLIT_GAP_S: Final = 1.0  # a pause this long inside one Vosk result starts a new segment
SPHINX_FRAME_RATE: Final = 100  # frames per second in PocketSphinx word segments


class TranscriptionError(Exception):
    """The engine failed on this audio (worth a retry)."""


class TranscriberUnavailable(TranscriptionError):
    """The engine or its model cannot be loaded (a configuration problem)."""


@dataclass(frozen=True)
class Segment:
    """A stretch of recognised speech: seconds from the start of the audio, text, confidence 0..1."""

    start_s: float
    end_s: float
    text: str
    confidence: float


@runtime_checkable
class Transcriber(Protocol):
    """Blocking speech-to-text with timestamps over 16-bit mono 8 kHz PCM."""

    name: str

    def transcribe(self, pcm16_8k: bytes) -> list[Segment]: ...


@dataclass(frozen=True)
class TranscriberSpec:
    """How to build a transcriber in another process: ``engine`` pocketsphinx|vosk, and Vosk's model dir."""

    engine: str
    vosk_model_dir: str | None = None


def build_transcriber(spec: TranscriberSpec) -> Transcriber:
    """Load the engine named by ``spec`` (TranscriberUnavailable with the reason when it cannot)."""
    if spec.engine == "pocketsphinx":
        return PocketSphinxTranscriber()
    if spec.engine == "vosk":
        if not spec.vosk_model_dir:
            raise TranscriberUnavailable(
                "engine vosk needs recordings.vosk_model_dir (a Vosk model directory)"
            )
        return VoskTranscriber(Path(spec.vosk_model_dir))
    raise TranscriberUnavailable(f"unknown transcription engine {spec.engine!r}")


def _confidence(values: Sequence[float]) -> float:
    if not values:
        return 0.0
    return round(min(1.0, max(0.0, sum(values) / len(values))), 4)


# -- PocketSphinx ---------------------------------------------------------------------------------------


class PocketSphinxTranscriber:
    """The embedded English engine (pocketsphinx 5, CMU US English model)."""

    name = "pocketsphinx"

    def __init__(self, **decoder_options: Any) -> None:
        try:
            from pocketsphinx import Decoder
        except ImportError as exc:  # pragma: no cover - the package is a dependency
            raise TranscriberUnavailable(f"pocketsphinx is not installed: {exc}") from exc
        # Narrower beams, pruning and no second (flat-lexicon) pass: 6x faster than the defaults on 8 kHz
        # telephone speech with the same word error rate in our trials (bench/transcription.py measures it).
        options: dict[str, Any] = {
            "samprate": 16000,
            "loglevel": "FATAL",
            "fwdflat": False,
            "beam": 1e-40,
            "wbeam": 1e-30,
            "pbeam": 1e-40,
            "maxhmmpf": 3000,
            "maxwpf": 5,
        }
        options.update(decoder_options)
        try:
            self._decoder = Decoder(**options)
        except (RuntimeError, ValueError) as exc:
            raise TranscriberUnavailable(f"pocketsphinx decoder failed to start: {exc}") from exc

    def transcribe(self, pcm16_8k: bytes) -> list[Segment]:
        """Segments, one per utterance found by voice activity detection."""
        from pocketsphinx import Segmenter

        if len(pcm16_8k) < 2:
            return []
        segments: list[Segment] = []
        try:
            regions = Segmenter(sample_rate=RATE).segment(io.BytesIO(pcm16_8k))
            for region in regions:
                segment = self._decode(region.start_time, upsample_8k_to_16k(region.pcm))
                if segment is not None:
                    segments.append(segment)
        except (RuntimeError, ValueError) as exc:
            raise TranscriptionError(f"pocketsphinx failed: {exc}") from exc
        return segments

    def _decode(self, offset: float, pcm16k: bytes) -> Segment | None:
        d = self._decoder
        d.start_utt()
        d.process_raw(pcm16k, full_utt=True)
        d.end_utt()
        # seg() is None (not empty) when the search found no path through the utterance at all.
        words = [(_sphinx_word(w.word), w.start_frame, w.end_frame, w.prob) for w in d.seg() or ()]
        words = [w for w in words if w[0]]
        if not words:
            return None
        return Segment(
            start_s=round(offset + words[0][1] / SPHINX_FRAME_RATE, 3),
            end_s=round(offset + (words[-1][2] + 1) / SPHINX_FRAME_RATE, 3),
            text=" ".join(w[0] for w in words),
            confidence=_confidence([w[3] for w in words]),
        )


def _sphinx_word(word: str) -> str:
    """``hello(2)`` -> ``hello``; silences and fillers (``<sil>``, ``[NOISE]``, ``++UH++``) -> ``""``."""
    if not word or word[0] in "<[+":
        return ""
    return word.split("(", 1)[0]


# -- Vosk -----------------------------------------------------------------------------------------------


class VoskTranscriber:
    """Vosk (Kaldi) with a site's model; one model shared, one recognizer per transcription."""

    name = "vosk"

    def __init__(self, model_dir: Path) -> None:
        try:
            import vosk
        except ImportError as exc:  # pragma: no cover - the package is a dependency
            raise TranscriberUnavailable(f"vosk is not installed: {exc}") from exc
        if not model_dir.is_dir():
            raise TranscriberUnavailable(f"Vosk model directory {model_dir} does not exist")
        vosk.SetLogLevel(-1)
        try:
            self._model = vosk.Model(model_path=str(model_dir))
        except Exception as exc:  # vosk raises a bare Exception when the model fails to load
            raise TranscriberUnavailable(f"Vosk model in {model_dir} failed to load: {exc}") from exc
        self._vosk = vosk

    def transcribe(self, pcm16_8k: bytes) -> list[Segment]:
        """Segments, one per Vosk result, split again at long pauses."""
        recognizer = self._vosk.KaldiRecognizer(self._model, RATE)
        recognizer.SetWords(True)
        results: list[dict[str, Any]] = []
        try:
            for i in range(0, len(pcm16_8k) - (len(pcm16_8k) & 1), VOSK_CHUNK_BYTES):
                if recognizer.AcceptWaveform(pcm16_8k[i : i + VOSK_CHUNK_BYTES]):
                    results.append(json.loads(recognizer.Result()))
            results.append(json.loads(recognizer.FinalResult()))
        except Exception as exc:
            raise TranscriptionError(f"vosk failed: {exc}") from exc
        segments: list[Segment] = []
        for result in results:
            segments.extend(_vosk_segments(result.get("result") or []))
        return segments


def _vosk_segments(words: Iterable[dict[str, Any]]) -> list[Segment]:
    out: list[Segment] = []
    group: list[dict[str, Any]] = []
    for word in words:
        if group and float(word["start"]) - float(group[-1]["end"]) >= VOSK_SPLIT_GAP_S:
            out.append(_vosk_segment(group))
            group = []
        group.append(word)
    if group:
        out.append(_vosk_segment(group))
    return out


def _vosk_segment(words: list[dict[str, Any]]) -> Segment:
    return Segment(
        start_s=round(float(words[0]["start"]), 3),
        end_s=round(float(words[-1]["end"]), 3),
        text=" ".join(str(w["word"]) for w in words),
        confidence=_confidence([float(w.get("conf", 0.0)) for w in words]),
    )
