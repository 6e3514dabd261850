"""Listening to the caller: RECORD FILE on the shared spool, recognition under a deadline, then deletion.

A voice problem never hangs a call: a missing engine, an engine slower than its deadline, an engine that
raises, a recording the controller cannot find or read, all come back as a ``Heard`` with ``failure`` set,
within the deadline, and the caller gets the keypad instead. Recordings of callers are deleted after use.
"""

from __future__ import annotations

import array
import asyncio
import logging
import sys
import wave
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ivr.fastagi.errors import AgiCommandError
from ivr.runtime.channel import CallChannel
from ivr.runtime.intents import normalise, safe_text
from ivr.runtime.state import CallState
from switchboard.clock import Clock

log = logging.getLogger(__name__)

WAV_HEADER_BYTES = 44
# failures after which this call stops trying speech (the next attempt would fail or be slow again)
FAILURES_THAT_DISABLE_SPEECH = frozenset({"timeout", "error", "unavailable", "missing-file", "record-failed"})


class Recognised(Protocol):
    """What a speech engine returns (``ivr.speech.Recognition`` satisfies it)."""

    @property
    def text(self) -> str: ...

    @property
    def confidence(self) -> float: ...


class SpeechPort(Protocol):
    """The speech service as flows use it (CONTRACTS section 4)."""

    @property
    def name(self) -> str: ...

    @property
    def free_speech_ok(self) -> bool: ...

    async def recognize_grammar(
        self, wav: Path, phrases: Sequence[str], *, deadline: float | None = None
    ) -> Recognised: ...

    async def recognize_free(self, wav: Path, *, deadline: float | None = None) -> Recognised: ...


@dataclass(frozen=True)
class Heard:
    """What one listening turn produced: a key, some text, silence, or a failure (keypad next)."""

    digit: str | None = None
    text: str | None = None
    confidence: float | None = None
    silent: bool = False
    failure: str | None = None


@dataclass(frozen=True)
class ListenConfig:
    """Where recordings go and how long recognition may take."""

    spool_dir: Path
    asterisk_spool_dir: str
    deadline: float = 0.8  # passed to the engine
    grace: float = 0.1  # our own guard fires this much later, whatever the engine does
    silence_s: int = 2
    silence_peak: int = 400  # a recording whose samples all stay below this (about -38 dBFS) is silence
    max_recording_bytes: int = 8000 * 2 * 60 + WAV_HEADER_BYTES  # one minute of 8 kHz 16-bit mono


def failure_kind(exc: BaseException) -> str:
    """Classify an engine's exception (by class name, so any engine's own errors map sensibly)."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    if "SpeechTimeout" in names or isinstance(exc, TimeoutError):
        return "timeout"
    if "BadAudio" in names:
        return "bad-audio"
    if "SpeechUnavailable" in names:
        return "unavailable"
    return "error"


class _Deadline(Exception):
    pass


class Listener:
    """Records the caller and asks the speech service, never taking longer than the deadline to decide."""

    def __init__(self, speech: SpeechPort | None, clock: Clock, config: ListenConfig) -> None:
        self.speech = speech
        self.clock = clock
        self.config = config

    @property
    def available(self) -> bool:
        return self.speech is not None

    @property
    def free_speech_ok(self) -> bool:
        if self.speech is None:
            return False
        try:
            return bool(self.speech.free_speech_ok)
        except Exception:
            return False

    async def listen(
        self,
        channel: CallChannel,
        state: CallState,
        *,
        escape_digits: str,
        listen_ms: int,
        grammar: Sequence[str] | None,
    ) -> Heard:
        """Record one utterance and recognise it (``grammar=None``: free speech)."""
        if self.speech is None:
            return Heard(failure="unavailable")
        name = f"{state.call_id}-{state.next_recording()}"
        remote = f"{self.config.asterisk_spool_dir.rstrip('/')}/{name}"
        local = self.config.spool_dir / f"{name}.wav"
        escape = "#" + "".join(d for d in escape_digits if d != "#")
        try:
            try:
                result = await channel.record_file(
                    remote, "wav", escape_digits=escape, timeout_ms=listen_ms, silence_s=self.config.silence_s
                )
            except AgiCommandError as exc:
                # e.g. Asterisk cannot write to its spool directory: keys instead, for the rest of the call
                log.warning("RECORD FILE failed call_id=%s error=%s", state.call_id, exc)
                state.speech_down = True
                return Heard(failure="record-failed")
            if result.digit is not None and result.digit != "#":
                return Heard(digit=result.digit)
            if result.endpos <= 0:
                return Heard(silent=True)
            heard = await self._recognise(state, local, grammar)
        finally:
            _delete(local, state.call_id)
        if heard.failure in FAILURES_THAT_DISABLE_SPEECH:
            state.speech_down = True
        return heard

    async def _recognise(self, state: CallState, local: Path, grammar: Sequence[str] | None) -> Heard:
        size = _file_size(local)
        if size is None:
            log.warning(
                "caller recording not found call_id=%s path=%s (check ivr.spool_dir maps "
                "ivr.asterisk_spool_dir)",
                state.call_id,
                local,
            )
            return Heard(failure="missing-file")
        if size <= WAV_HEADER_BYTES:
            return Heard(silent=True)
        if size > self.config.max_recording_bytes:
            log.warning("caller recording too long call_id=%s bytes=%d", state.call_id, size)
            return Heard(failure="too-long")
        if _is_silence(local, self.config.silence_peak):
            # RECORD FILE ended on silence and kept a second of it: the caller said nothing (no input),
            # which is not the same as saying something the menu does not know
            return Heard(silent=True)
        assert self.speech is not None
        speech = self.speech
        if grammar is None:
            coro = speech.recognize_free(local, deadline=self.config.deadline)
        else:
            coro = speech.recognize_grammar(local, list(grammar), deadline=self.config.deadline)
        started = self.clock.monotonic()
        try:
            recognition = await self._bounded(coro)
        except _Deadline:
            log.warning(
                "speech deadline passed call_id=%s engine=%s deadline=%.2f",
                state.call_id,
                _engine_name(speech),
                self.config.deadline,
            )
            return Heard(failure="timeout")
        except Exception as exc:
            kind = failure_kind(exc)
            log.warning(
                "speech failed call_id=%s engine=%s kind=%s error=%s",
                state.call_id,
                _engine_name(speech),
                kind,
                safe_text(str(exc), 200),
            )
            return Heard(failure=kind)
        text = safe_text(str(getattr(recognition, "text", "") or ""))
        try:
            confidence = min(1.0, max(0.0, float(getattr(recognition, "confidence", 0.0))))
        except (TypeError, ValueError):
            confidence = 0.0
        log.debug(
            "speech recognised call_id=%s seconds=%.3f confidence=%.2f",
            state.call_id,
            self.clock.monotonic() - started,
            confidence,
        )
        if not normalise(text):
            return Heard(text="", confidence=confidence)  # heard something, but nothing it knows
        return Heard(text=text, confidence=confidence)

    async def _bounded(self, coro: object) -> Recognised:
        """Await the engine, but give up (and stop waiting for it) at deadline + grace on our clock."""
        task: asyncio.Future[Recognised] = asyncio.ensure_future(coro)  # type: ignore[arg-type]
        timer = asyncio.ensure_future(self.clock.sleep(self.config.deadline + self.config.grace))
        try:
            done, _ = await asyncio.wait({task, timer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            timer.cancel()
            if not task.done():
                task.cancel()
                task.add_done_callback(_swallow)
        if task in done:
            return task.result()
        raise _Deadline


def _swallow(task: asyncio.Future[object]) -> None:
    if not task.cancelled():
        task.exception()


def _engine_name(speech: SpeechPort) -> str:
    try:
        return str(speech.name)
    except Exception:
        return "?"


def _file_size(path: Path) -> int | None:
    # one stat on a local spool: too cheap for a worker thread
    try:
        return path.stat().st_size
    except OSError:
        return None


SILENCE_CHECK_SECONDS = 10


def _is_silence(path: Path, peak: int) -> bool:
    """True for a readable 16-bit PCM WAV (of at most ten seconds) with no sample louder than ``peak``.

    Anything else (not a WAV, another format, longer) is left to the engine, which says what is wrong."""
    try:
        with wave.open(str(path), "rb") as w:
            if w.getsampwidth() != 2 or w.getnframes() > SILENCE_CHECK_SECONDS * w.getframerate():
                return False
            frames = w.readframes(w.getnframes())
    except (OSError, EOFError, wave.Error):
        return False
    samples = array.array("h")
    samples.frombytes(frames[: len(frames) // 2 * 2])
    if sys.byteorder == "big":
        samples.byteswap()
    return not samples or (max(samples) < peak and min(samples) > -peak)


def _delete(path: Path, call_id: str) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        log.warning("cannot delete caller recording call_id=%s path=%s error=%s", call_id, path, exc)
