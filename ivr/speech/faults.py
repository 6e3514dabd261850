"""Engines that fail on purpose, for tests and fire drills of the keypad fallback.

They are real engines as far as the service is concerned (built from a picklable spec, so they run in
worker processes too) and show what a broken engine does to calls: raise, hang past any deadline, kill
the process it runs in, or fail to load.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal

from ivr.speech.engine import Recognition, SpeechUnavailable

FaultMode = Literal["ok", "raise", "sleep", "crash", "load-fail", "slow-load"]


@dataclass(frozen=True)
class FaultSpec:
    """``mode`` says how the engine misbehaves; ``seconds`` how long "sleep"/"slow-load" block.

    With ``only_for`` set, recognition misbehaves only when the grammar holds that phrase (so one pool can
    serve both broken and healthy requests in a test).
    """

    kind: ClassVar[str] = "fault"
    mode: FaultMode = "ok"
    seconds: float = 60.0
    answer: str = ""
    only_for: str | None = None

    def build(self) -> FaultyEngine:
        return FaultyEngine(self)


class FaultyEngine:
    """Misbehaves as its spec says; in "ok" mode answers ``answer`` (or the first phrase) at once."""

    name = "fault"

    def __init__(self, spec: FaultSpec) -> None:
        self.spec = spec

    def load(self) -> None:
        if self.spec.mode == "load-fail":
            raise SpeechUnavailable("fault engine: load failed on purpose")
        if self.spec.mode == "slow-load":
            time.sleep(self.spec.seconds)

    def recognize_grammar(self, pcm16_8k: bytes, phrases: Sequence[str]) -> Recognition:
        if self.spec.only_for is None or self.spec.only_for in phrases:
            self._misbehave()
        text = self.spec.answer or (phrases[0] if phrases else "")
        return Recognition(text, 0.9, self.name, 0.0)

    def recognize_free(self, pcm16_8k: bytes) -> Recognition:
        if self.spec.only_for is None:
            self._misbehave()
        return Recognition(self.spec.answer, 0.9, self.name, 0.0)

    def _misbehave(self) -> None:
        mode = self.spec.mode
        if mode == "raise":
            raise RuntimeError("fault engine: failed on purpose")
        if mode == "sleep":
            time.sleep(self.spec.seconds)
        if mode == "crash":
            main = getattr(sys.modules.get("__main__"), "__spec__", None)
            if getattr(main, "name", None) != "ivr.speech.worker":
                raise RuntimeError("fault engine: 'crash' only runs in a speech worker process")
            os.kill(os.getpid(), signal.SIGKILL)
