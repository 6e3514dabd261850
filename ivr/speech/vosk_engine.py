"""Vosk (Kaldi), the primary engine: a site downloads the model for its language and names its directory.

One ``Model`` is shared by every thread (Vosk's C calls release the GIL, so threads decode in parallel);
each utterance gets its own ``KaldiRecognizer`` (not thread-safe, and a grammar can only be set when it is
created). The model is always opened by path: ``Model(lang=...)`` would try to download one.

Grammar mode passes the phrases as a JSON list; words the model does not know are dropped from it (logged
once per word) and ``[unk]`` is added when the model has it, so speech outside the grammar can come back as
"nothing matched". Confidence is the mean of the recognised words' ``conf``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from ivr.speech.audio import RATE
from ivr.speech.engine import Recognition, SpeechError, SpeechUnavailable, clamp01, grammar_table, phrase_for

log = logging.getLogger(__name__)

CHUNK_BYTES = RATE  # half a second of 16-bit audio per AcceptWaveform call
UNKNOWN = "[unk]"


@dataclass(frozen=True)
class VoskSpec:
    """Where the site's Vosk model lives."""

    kind: ClassVar[str] = "vosk"
    model_dir: str

    def build(self) -> VoskEngine:
        return VoskEngine(Path(self.model_dir))


class VoskEngine:
    """Grammar and free recognition with one shared Vosk model."""

    name = "vosk"

    def __init__(self, model_dir: Path) -> None:
        self.model_dir = Path(model_dir)
        self._model: Any = None
        self._vosk: Any = None
        self._lock = threading.Lock()
        self._vocabulary: dict[str, bool] = {}

    def load(self) -> None:
        """Open the model (seconds for a large one); raises ``SpeechUnavailable`` with the reason."""
        with self._lock:
            if self._model is not None:
                return
            try:
                import vosk
            except ImportError as exc:
                raise SpeechUnavailable(f"vosk is not installed: {exc}") from None
            if not self.model_dir.is_dir():
                raise SpeechUnavailable(f"Vosk model directory {self.model_dir} does not exist")
            if not (self.model_dir / "am").is_dir() and not (self.model_dir / "final.mdl").exists():
                raise SpeechUnavailable(
                    f"{self.model_dir} does not look like a Vosk model (no am/ directory)"
                )
            vosk.SetLogLevel(-2)
            try:
                self._model = vosk.Model(model_path=str(self.model_dir))
            except Exception as exc:  # vosk raises a bare Exception("Failed to create a model")
                raise SpeechUnavailable(f"Vosk could not open the model in {self.model_dir}: {exc}") from None
            self._vosk = vosk

    def recognize_grammar(self, pcm16_8k: bytes, phrases: Sequence[str]) -> Recognition:
        started = time.perf_counter()
        self.load()
        table = grammar_table(phrases)
        grammar = self._grammar(table)
        if not grammar:
            return Recognition("", 0.0, self.name, time.perf_counter() - started)
        words = self._decode(pcm16_8k, json.dumps(grammar, ensure_ascii=False))
        heard = tuple(w for w, _ in words if w != UNKNOWN)
        if len(heard) != len(words) or not heard:
            return Recognition("", 0.0, self.name, time.perf_counter() - started)
        phrase, quality = phrase_for(heard, table)
        confidence = clamp01(quality * sum(c for _, c in words) / len(words)) if phrase else 0.0
        return Recognition(phrase, confidence, self.name, time.perf_counter() - started)

    def recognize_free(self, pcm16_8k: bytes) -> Recognition:
        started = time.perf_counter()
        self.load()
        words = self._decode(pcm16_8k, None)
        text = " ".join(w for w, _ in words if w != UNKNOWN)
        confidence = clamp01(sum(c for _, c in words) / len(words)) if words else 0.0
        return Recognition(text, confidence, self.name, time.perf_counter() - started)

    def _grammar(self, table: dict[tuple[str, ...], str]) -> list[str]:
        """Phrases as Vosk takes them, keeping only phrases whose words the model knows."""
        out: list[str] = []
        for words in table:
            missing = [w for w in words if not self._knows(w)]
            if missing:
                continue
            out.append(" ".join(words))
        if out and self._knows(UNKNOWN):
            out.append(UNKNOWN)
        return out

    def _knows(self, word: str) -> bool:
        with self._lock:
            known = self._vocabulary.get(word)
        if known is None:
            known = self._model.vosk_model_find_word(word) >= 0
            if not known and word != UNKNOWN:
                log.warning(
                    "grammar word not in the Vosk model's vocabulary word=%r model=%s", word, self.model_dir
                )
            with self._lock:
                self._vocabulary[word] = known
        return known

    def _decode(self, pcm: bytes, grammar: str | None) -> list[tuple[str, float]]:
        vosk = self._vosk
        try:
            if grammar is None:
                recognizer = vosk.KaldiRecognizer(self._model, float(RATE))
            else:
                recognizer = vosk.KaldiRecognizer(self._model, float(RATE), grammar)
            recognizer.SetWords(True)
            results: list[str] = []
            for i in range(0, len(pcm), CHUNK_BYTES):
                # an endpoint inside the recording closes one result and starts the next
                if recognizer.AcceptWaveform(pcm[i : i + CHUNK_BYTES]):
                    results.append(recognizer.Result())
            results.append(recognizer.FinalResult())
        except Exception as exc:  # vosk signals failures with bare Exception
            raise SpeechError(f"Vosk failed to decode: {exc}") from None
        words: list[tuple[str, float]] = []
        for raw in results:
            try:
                data = json.loads(raw)
            except ValueError:
                continue
            for item in data.get("result", []) or []:
                word = str(item.get("word", ""))
                if word:
                    words.append((word, float(item.get("conf", 0.0))))
        return words
