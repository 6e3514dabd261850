"""Audio in the emulator: 8 kHz 16-bit mono PCM segments, WAV files, and the sounds a channel can play."""

from __future__ import annotations

import array
import logging
import math
import wave
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

RATE = 8000
BYTES_PER_SAMPLE = 2

# Lengths of stock Asterisk sounds (en), in samples; ``beep`` is the 3404 samples the golden capture shows,
# the digits are ~0.83 s each (SAY DIGITS 123 took 2.49 s on the golden Asterisk).
BUILTIN_SOUNDS: dict[str, int] = {
    "beep": 3404,
    "silence/1": 8000,
    "silence/2": 16000,
    "silence/5": 40000,
    "hello-world": 9600,
    "demo-congrats": 60000,
    "vm-goodbye": 6400,
    "goodbye": 6400,
    "pls-hold-while-try": 16000,
    "queue-thankyou": 12000,
    "queue-youarenext": 9600,
    "queue-thereare": 8000,
    "queue-callswaiting": 9600,
    "queue-holdtime": 12000,
    "queue-minutes": 5600,
    "queue-seconds": 5600,
    "auth-thankyou": 6400,
    "invalid": 8800,
    "please-try-again": 9600,
    "agent-loginok": 8000,
    "conf-now-recording": 12000,
    "this-call-may-be-monitored-or-recorded": 24000,
}
for _digit in "0123456789":
    BUILTIN_SOUNDS[f"digits/{_digit}"] = 6640
for _letter in "abcdefghijklmnopqrstuvwxyz":
    BUILTIN_SOUNDS[f"letters/{_letter}"] = 5600
for _n in (*range(10, 21), 30, 40, 50, 60, 70, 80, 90):
    BUILTIN_SOUNDS[f"digits/{_n}"] = 6640
BUILTIN_SOUNDS["digits/hundred"] = 6640
BUILTIN_SOUNDS["digits/thousand"] = 6640

_SOUND_EXTENSIONS = (".wav", ".WAV")


@dataclass(frozen=True, slots=True)
class AudioSegment:
    """PCM that starts at ``start`` (clock seconds); ``voice`` False marks music or tones."""

    start: float
    pcm: bytes
    voice: bool = True

    @property
    def samples(self) -> int:
        return len(self.pcm) // BYTES_PER_SAMPLE

    @property
    def end(self) -> float:
        return self.start + self.samples / RATE


@dataclass(frozen=True, slots=True)
class Sound:
    """A playable sound: its length and, when known, its PCM."""

    name: str
    samples: int
    pcm: bytes | None = None

    @property
    def seconds(self) -> float:
        return self.samples / RATE

    def audio(self) -> bytes:
        """The PCM, or a quiet 440 Hz tone of the right length for sounds known only by their length."""
        if self.pcm is not None:
            return self.pcm
        return tone(self.samples, 440.0, 1500)


def tone(samples: int, freq: float, amplitude: int) -> bytes:
    """A sine tone of ``samples`` samples."""
    step = 2 * math.pi * freq / RATE
    data = array.array("h", (int(amplitude * math.sin(step * i)) for i in range(samples)))
    return data.tobytes()


def silence(samples: int) -> bytes:
    """``samples`` samples of digital silence."""
    return bytes(samples * BYTES_PER_SAMPLE)


def read_wav(path: Path) -> bytes:
    """PCM 16-bit mono 8 kHz from a WAV file (downmixed and resampled naively when needed)."""
    with wave.open(str(path), "rb") as w:
        channels, width, rate, frames = w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()
        raw = w.readframes(frames)
    if width != 2:
        raise ValueError(f"{path}: only 16-bit WAV is supported, got {width * 8}-bit")
    samples = array.array("h")
    samples.frombytes(raw)
    if channels > 1:
        frames = range(0, len(samples), channels)
        samples = array.array("h", (sum(samples[i : i + channels]) // channels for i in frames))
    if rate != RATE:
        ratio = rate / RATE
        count = int(len(samples) / ratio)
        samples = array.array("h", (samples[min(len(samples) - 1, int(i * ratio))] for i in range(count)))
    return samples.tobytes()


def write_wav(path: Path, pcm: bytes) -> None:
    """Write PCM as an 8 kHz 16-bit mono WAV, creating parent directories."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(BYTES_PER_SAMPLE)
        w.setframerate(RATE)
        w.writeframes(pcm)


def mix_timeline(segments: Sequence[AudioSegment], start: float, end: float) -> bytes:
    """Silence from ``start`` to ``end`` with every segment mixed in at its offset (clipped to the window)."""
    total = max(0, round((end - start) * RATE))
    out = array.array("h", bytes(total * BYTES_PER_SAMPLE))
    for seg in segments:
        data = array.array("h")
        data.frombytes(seg.pcm)
        offset = round((seg.start - start) * RATE)
        for i, value in enumerate(data):
            j = offset + i
            if 0 <= j < total:
                out[j] = max(-32768, min(32767, out[j] + value))
            elif j >= total:
                break
    return out.tobytes()


def concat_voice(segments: Sequence[AudioSegment], start: float, end: float) -> bytes:
    """Only the voice inside ``[start, end)``, back to back: what a channel without silence frames records."""
    parts = []
    for seg in sorted(segments, key=lambda s: s.start):
        if seg.end <= start or seg.start >= end:
            continue
        first = max(0, round((start - seg.start) * RATE))
        last = min(seg.samples, round((end - seg.start) * RATE))
        parts.append(seg.pcm[first * BYTES_PER_SAMPLE : last * BYTES_PER_SAMPLE])
    return b"".join(parts)


class SoundCatalog:
    """Resolves the file names that Playback, STREAM FILE and friends receive."""

    def __init__(self, sounds: Mapping[str, Path | float] | None = None, dirs: Sequence[Path] = (),
                 default_seconds: float | None = None) -> None:
        self._explicit = dict(sounds or {})
        self._dirs = [Path(d) for d in dirs]
        self._default_seconds = default_seconds
        self._cache: dict[tuple[str, str], Sound | None] = {}

    def find(self, name: str, language: str = "en") -> Sound | None:
        """The sound called ``name`` (no extension), or None when it does not exist."""
        key = (name, language)
        if key not in self._cache:
            self._cache[key] = self._lookup(name, language)
        return self._cache[key]

    def _lookup(self, name: str, language: str) -> Sound | None:
        if name in self._explicit:
            value = self._explicit[name]
            if isinstance(value, int | float):
                return Sound(name, int(value * RATE))
            return self._from_file(name, Path(value))
        for candidate in self._candidates(name, language):
            if candidate.is_file():
                return self._from_file(name, candidate)
        if name in BUILTIN_SOUNDS:
            return Sound(name, BUILTIN_SOUNDS[name])
        if self._default_seconds is not None and not name.startswith("/"):
            return Sound(name, int(self._default_seconds * RATE))
        return None

    def _candidates(self, name: str, language: str) -> list[Path]:
        if name.startswith("/"):
            bases = [Path(name)]
        else:
            bases = [d / language / name for d in self._dirs] + [d / name for d in self._dirs]
        return [base.with_name(base.name + ext) for base in bases for ext in _SOUND_EXTENSIONS]

    @staticmethod
    def _from_file(name: str, path: Path) -> Sound | None:
        try:
            pcm = read_wav(path)
        except (OSError, ValueError, EOFError, wave.Error) as exc:
            log.warning("sound unreadable name=%s path=%s error=%s", name, path, exc)
            return None
        return Sound(name, len(pcm) // BYTES_PER_SAMPLE, pcm)
