"""Fixtures for IVR flow tests: a scripted in-memory caller channel, a fake speech service (the CONTRACTS
section 4 interface), an ACD queue and a callback service that record what they receive."""

from __future__ import annotations

import array
import asyncio
import math
import textwrap
import wave
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ivr.fastagi.environment import AgiEnvironment
from ivr.fastagi.errors import AgiHangup
from ivr.fastagi.session import DigitsResult, RecordResult, StreamResult
from ivr.flows import FlowRegistry, FlowSet, format_problem
from ivr.ports import CallbackRequest, QueueRequest
from ivr.runtime import FlowRunner, RenderedPrompts, RunnerConfig
from ivr.runtime.intents import normalise
from switchboard.ids import new_id

REPO = Path(__file__).resolve().parents[2]
FLOWS_DIR = REPO / "flows"


# ---- what the scripted caller does, in order ----------------------------------------------------------
@dataclass(frozen=True)
class Press:
    """Press keys (each consumed by the next command that listens for keys)."""

    digits: str


@dataclass(frozen=True)
class Speak:
    """Say something when the IVR records (the fake engine hears ``text`` at ``confidence``)."""

    text: str
    confidence: float = 0.9


@dataclass(frozen=True)
class Silence:
    """Say and press nothing for one listening turn."""


@dataclass(frozen=True)
class Hangup:
    """Hang up at the next command."""


@dataclass(frozen=True)
class DialOutcome:
    """What the next Dial ends with (DIALSTATUS)."""

    status: str


@dataclass(frozen=True)
class RawRecording:
    """The next RECORD FILE leaves these bytes in the spool (a non-WAV or truncated file)."""

    data: bytes


def write_wav(path: Path, seconds: float = 1.0, *, silent: bool = False) -> None:
    """A real 8 kHz 16-bit mono WAV: a 440 Hz tone standing in for a voice (the fake engine reads the words
    from a side table), or digital silence."""
    path.parent.mkdir(parents=True, exist_ok=True)
    count = int(8000 * seconds)
    samples = array.array("h", bytes(2 * count))
    if not silent:
        for i in range(count):
            samples[i] = int(6000 * math.sin(2 * math.pi * 440 * i / 8000))
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(samples.tobytes())


class FakeChannel:
    """An in-memory AGI channel that behaves like AgiSession towards a scripted caller."""

    def __init__(
        self,
        script: Sequence[object],
        *,
        spool_dir: Path,
        asterisk_spool_dir: str,
        utterances: dict[str, tuple[str, float]],
        callerid: str = "+15551230001",
        calleridname: str = "Test Caller",
        network_script: str = "ivr/main",
        missing_files: Sequence[str] = (),
        clock: Any = None,
    ) -> None:
        self.env = AgiEnvironment(
            network_script=network_script, request=f"agi://127.0.0.1/{network_script}",
            channel="PJSIP/carrier-00000001", language="en", type="PJSIP", uniqueid="1795395982.2",
            callerid=callerid, calleridname=calleridname, context="sb-inbound", extension="s", priority="2",
        )  # fmt: skip
        self.call_id = new_id()
        self.events: deque[object] = deque(script)
        self.commands: list[str] = []
        self.times: list[float] = []
        self.variables: dict[str, str] = {}
        self.spool_dir = spool_dir
        self.asterisk_spool_dir = asterisk_spool_dir
        self.utterances = utterances
        self.missing = set(missing_files)
        self.clock = clock
        self._hung = False
        self.hangup_sent = False
        self.recordings: list[Path] = []

    @property
    def hung_up(self) -> bool:
        return self._hung

    def hang_up_now(self) -> None:
        """The caller hangs up: every later command (but GET VARIABLE) fails as on a dead channel."""
        self._hung = True

    def _cmd(self, text: str, *, dead_ok: bool = False) -> None:
        self.commands.append(text)
        self.times.append(self.clock.monotonic() if self.clock is not None else 0.0)
        if self.events and isinstance(self.events[0], Hangup):
            self.events.popleft()
            self._hung = True
        if self._hung and not dead_ok:
            raise AgiHangup(f"{text}: 511 dead channel")

    def _next(self) -> object | None:
        return self.events.popleft() if self.events else None

    def _take_digit(self, escape: str) -> str | None:
        ev = self.events[0] if self.events else None
        if isinstance(ev, Press) and ev.digits[0] in escape:
            self.events.popleft()
            if len(ev.digits) > 1:
                self.events.appendleft(Press(ev.digits[1:]))
            return ev.digits[0]
        return None

    async def answer(self) -> None:
        self._cmd("ANSWER")

    async def stream_file(self, filename: str, escape_digits: str = "") -> StreamResult:
        self._cmd(f"STREAM FILE {filename} {escape_digits}")
        await asyncio.sleep(0)
        if filename in self.missing or filename.rsplit("/", 1)[-1] in self.missing:
            return StreamResult(digit=None, endpos=0, played=False)
        digit = self._take_digit(escape_digits)
        return StreamResult(digit=digit, endpos=100 if digit else 8000, played=True)

    async def get_data(self, filename: str, timeout_ms: int, max_digits: int) -> DigitsResult:
        self._cmd(f"GET DATA {filename} {timeout_ms} {max_digits}")
        ev = self._next()
        if isinstance(ev, Press):
            return DigitsResult(digits=ev.digits.split("#")[0][:max_digits], timed_out=False)
        return DigitsResult(digits="", timed_out=True)

    async def wait_for_digit(self, timeout_ms: int) -> str | None:
        self._cmd(f"WAIT FOR DIGIT {timeout_ms}")
        await asyncio.sleep(0)
        digit = self._take_digit("0123456789*#")
        if digit is not None:
            return digit
        ev = self._next()
        if isinstance(ev, Press):  # unreachable: handled above
            return ev.digits[0]
        return None

    async def say_digits(self, digits: str, escape_digits: str = "") -> str | None:
        self._cmd(f"SAY DIGITS {digits}")
        return None

    async def record_file(
        self,
        filename: str,
        fmt: str = "wav",
        escape_digits: str = "#",
        timeout_ms: int = 10000,
        offset: int = 0,
        beep: bool = False,
        silence_s: int | None = None,
    ) -> RecordResult:
        self._cmd(f"RECORD FILE {filename} {fmt} {escape_digits} {timeout_ms} {offset} s={silence_s}")
        assert filename.startswith(self.asterisk_spool_dir), filename
        await asyncio.sleep(0)
        digit = self._take_digit(escape_digits)
        if digit is not None:
            return RecordResult(digit=digit, endpos=0, timed_out=False)
        ev = self._next()
        local = self.spool_dir / (filename.rsplit("/", 1)[-1] + "." + fmt)
        if isinstance(ev, Speak):
            write_wav(local)
            self.recordings.append(local)
            self.utterances[local.stem] = (ev.text, ev.confidence)
            return RecordResult(digit=None, endpos=8000, timed_out=False)
        if isinstance(ev, RawRecording):
            local.parent.mkdir(parents=True, exist_ok=True)
            local.write_bytes(ev.data)
            self.recordings.append(local)
            return RecordResult(digit=None, endpos=max(1, len(ev.data) // 2), timed_out=False)
        return RecordResult(digit=None, endpos=0, timed_out=True)

    async def set_variable(self, name: str, value: str) -> None:
        self._cmd(f"SET VARIABLE {name} {value}")
        self.variables[name] = value

    async def get_variable(self, name: str) -> str | None:
        self._cmd(f"GET VARIABLE {name}", dead_ok=True)
        return self.variables.get(name)

    async def exec(self, application: str, args: str = "") -> int:
        self._cmd(f"EXEC {application} {args}")
        if application == "Dial":
            ev = self._next()
            status = ev.status if isinstance(ev, DialOutcome) else "NOANSWER"
            self.variables["DIALSTATUS"] = status
            if status == "ANSWER-THEN-HANGUP":
                self.variables["DIALSTATUS"] = "ANSWER"
                self._hung = True
                raise AgiHangup("Dial ended: caller hung up")
        return 0

    async def hangup(self) -> None:
        self._cmd("HANGUP", dead_ok=True)
        self.hangup_sent = True
        self._hung = True

    def played(self) -> list[str]:
        return [c.split()[2] for c in self.commands if c.startswith("STREAM FILE")]


# ---- speech ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Recognition:
    text: str
    confidence: float
    engine: str
    seconds: float


class SpeechUnavailable(Exception):
    """Named like ivr.speech's error: the engine is not installed or not loaded."""


class BadAudio(Exception):
    """Named like ivr.speech's error: not a WAV or truncated."""


class FakeSpeech:
    """Implements the speech service interface from a side table of what each recording says.

    ``mode``: "ok", "raise" (crashes), "unavailable", "sleep" (never answers before the deadline),
    "check-wav" (raises BadAudio for files that are not WAV, like a real engine).
    """

    def __init__(
        self,
        utterances: dict[str, tuple[str, float]],
        *,
        mode: str = "ok",
        free_ok: bool = True,
        sleeper: Callable[[float], Any] | None = None,
    ) -> None:
        self.utterances = utterances
        self.mode = mode
        self.free_ok = free_ok
        self.sleeper = sleeper or asyncio.sleep
        self.calls: list[tuple[str, Path, tuple[str, ...], float | None]] = []
        self.existed: list[bool] = []

    @property
    def name(self) -> str:
        return "fake"

    @property
    def free_speech_ok(self) -> bool:
        return self.free_ok

    async def _behave(self, wav: Path) -> tuple[str, float]:
        self.existed.append(_exists(wav))
        if self.mode == "raise":
            raise RuntimeError("engine crashed")
        if self.mode == "unavailable":
            raise SpeechUnavailable("no model")
        if self.mode == "sleep":
            await self.sleeper(30)
        data = _read(wav)
        if not data.startswith(b"RIFF") or len(data) < 44:
            raise BadAudio("not a WAV file")
        return self.utterances.get(wav.stem, ("", 0.0))

    async def recognize_grammar(
        self, wav: Path, phrases: Sequence[str], *, deadline: float | None = None
    ) -> Recognition:
        self.calls.append(("grammar", wav, tuple(phrases), deadline))
        text, conf = await self._behave(wav)
        said = normalise(text)
        hit = said if said in phrases else next((p for p in phrases if p in said), "")
        return Recognition(hit, conf if hit else 0.0, "fake", 0.01)

    async def recognize_free(self, wav: Path, *, deadline: float | None = None) -> Recognition:
        self.calls.append(("free", wav, (), deadline))
        text, conf = await self._behave(wav)
        return Recognition(text, conf, "fake", 0.01)

    async def close(self) -> None:
        return None


def _exists(path: Path) -> bool:
    return path.exists()


def _read(path: Path) -> bytes:
    with open(path, "rb") as f:
        return f.read()


# ---- the ACD and callbacks ---------------------------------------------------------------------------
@dataclass
class FakeQueue:
    """Stands in for the ACD's CallQueue; ``fail`` makes it refuse."""

    requests: list[QueueRequest] = field(default_factory=list)
    fail: int = 0

    async def enqueue(self, request: QueueRequest) -> None:
        if self.fail > 0:
            self.fail -= 1
            raise ConnectionError("ACD unavailable")
        self.requests.append(request)


@dataclass
class FakeCallbacks:
    requests: list[CallbackRequest] = field(default_factory=list)

    async def request_callback(self, request: CallbackRequest) -> None:
        self.requests.append(request)


class Kit:
    """Everything one IVR test needs, built around the same spool directories."""

    Press = Press
    write_wav = staticmethod(write_wav)
    Speak = Speak
    Silence = Silence
    Hangup = Hangup
    DialOutcome = DialOutcome
    RawRecording = RawRecording

    def __init__(self, tmp_path: Path) -> None:
        self.spool_dir = tmp_path / "spool"
        self.spool_dir.mkdir()
        self.asterisk_spool_dir = "/var/spool/asterisk/tmp"
        self.utterances: dict[str, tuple[str, float]] = {}
        self.queue = FakeQueue()
        self.callbacks = FakeCallbacks()
        self.flows_dir = FLOWS_DIR

    def channel(self, *script: object, **kw: Any) -> FakeChannel:
        return FakeChannel(
            list(script),
            spool_dir=self.spool_dir,
            asterisk_spool_dir=self.asterisk_spool_dir,
            utterances=self.utterances,
            **kw,
        )

    def speech(self, **kw: Any) -> FakeSpeech:
        return FakeSpeech(self.utterances, **kw)

    def runner(
        self,
        clock: Any,
        *,
        speech: Any = None,
        observer: Any = None,
        recorder: Any = None,
        selfservice: Any = None,
        callbacks: Any = "default",
        **config: Any,
    ) -> FlowRunner:
        config.setdefault("spool_dir", self.spool_dir)
        cfg = RunnerConfig(asterisk_spool_dir=self.asterisk_spool_dir, **config)
        return FlowRunner(
            clock=clock,
            call_queue=self.queue,
            prompts=RenderedPrompts("/var/lib/switchboard/sounds"),
            config=cfg,
            speech=speech,
            selfservice=selfservice,
            recorder=recorder,
            callbacks=self.callbacks if callbacks == "default" else callbacks,
            observer=observer,
        )

    def flows(self, tmp_dir: Path, **texts: str) -> FlowSet:
        """Write flow files named by keyword and load them (failing the test on any flow problem)."""
        tmp_dir.mkdir(parents=True, exist_ok=True)
        for name, text in texts.items():
            (tmp_dir / f"{name.replace('_', '-')}.yaml").write_text(textwrap.dedent(text), encoding="utf-8")
        registry = FlowRegistry(tmp_dir)
        report = registry.reload()
        assert not report.problems, [format_problem(p) for p in report.problems]
        return registry.snapshot()

    def default_flows(self) -> FlowSet:
        registry = FlowRegistry(FLOWS_DIR)
        report = registry.reload()
        assert not report.problems, [format_problem(p) for p in report.problems]
        return registry.snapshot()


@pytest.fixture
def kit(tmp_path: Path) -> Kit:
    return Kit(tmp_path)
