"""Caller recordings in, 8 kHz 16-bit mono PCM out: WAV checks, a length cap, and 2x resampling.

``read_wav`` reads at most ``max_seconds`` of audio (a 30-minute file costs what its first seconds cost),
accepts what Asterisk writes (``wav``: 8 kHz, ``wav16``: 16 kHz, 16-bit mono PCM) and raises ``BadAudio``
for anything else, a truncated file included.

Resampling is pure Python (the standard ``array`` module; ``audioop`` is deprecated and numpy is not a
dependency): a half-band windowed-sinc FIR in polyphase form. Doubling the rate keeps every input sample
and computes the in-between ones from 2 x ``HALF_TAPS`` neighbours, which costs a few milliseconds per
second of audio and needs no ``sox`` process per recognition. Its response is checked in the tests: flat to
3.4 kHz, images above 4.6 kHz attenuated by more than 40 dB.
"""

from __future__ import annotations

import array
import math
import struct
import sys
import wave
from dataclasses import dataclass
from pathlib import Path

from ivr.speech.engine import BadAudio

RATE = 8000
SUPPORTED_RATES = (8000, 16000)
HALF_TAPS = 12  # taps on each side of an interpolated sample


@dataclass(frozen=True)
class Pcm:
    """Signed 16-bit little-endian mono samples at 8 kHz."""

    data: bytes
    capped: bool = False  # the recording was longer than the cap; only its start is here

    @property
    def samples(self) -> int:
        return len(self.data) // 2

    @property
    def seconds(self) -> float:
        return self.samples / RATE


def read_wav(path: Path | str, *, max_seconds: float = 30.0) -> Pcm:
    """Read a caller recording as 8 kHz PCM, at most ``max_seconds`` of it."""
    try:
        with wave.open(str(path), "rb") as wav:
            channels, width, rate, frames = (
                wav.getnchannels(),
                wav.getsampwidth(),
                wav.getframerate(),
                wav.getnframes(),
            )
            if wav.getcomptype() != "NONE":
                raise BadAudio(f"compressed WAV ({wav.getcomptype()}) is not supported")
            if channels != 1:
                raise BadAudio(f"{channels} channels; recordings must be mono")
            if width != 2:
                raise BadAudio(f"{8 * width}-bit samples; recordings must be 16-bit PCM")
            if rate not in SUPPORTED_RATES:
                raise BadAudio(
                    f"{rate} Hz; recordings must be 8000 Hz (Asterisk 'wav') or 16000 Hz ('wav16')"
                )
            want = min(frames, int(max_seconds * rate))
            data = wav.readframes(want)
    except BadAudio:
        raise
    except FileNotFoundError:
        raise BadAudio("recording not found") from None
    except (wave.Error, EOFError, struct.error) as exc:
        raise BadAudio(f"not a usable WAV file: {exc or type(exc).__name__}") from None
    except OSError as exc:
        raise BadAudio(f"cannot read recording: {exc.strerror or exc}") from None
    if len(data) < want * 2:
        raise BadAudio(f"truncated WAV: header promises {want} frames, file holds {len(data) // 2}")
    capped = frames > want
    if rate == 16000:
        data = downsample_2x(data)
    return Pcm(data, capped=capped)


def _halfband_taps(half: int = HALF_TAPS) -> tuple[float, ...]:
    """Odd-phase coefficients of a half-band lowpass: sinc at half-sample offsets, Blackman-windowed."""
    taps = []
    span = half + 0.5
    for k in range(half):
        t = k + 0.5
        sinc = math.sin(math.pi * t) / (math.pi * t)
        x = (t + span) / (2 * span)  # window position in 0..1
        window = 0.42 - 0.5 * math.cos(2 * math.pi * x) + 0.08 * math.cos(4 * math.pi * x)
        taps.append(sinc * window)
    total = 2 * sum(taps)
    return tuple(c / total for c in taps)  # odd phase sums to 1: DC passes unchanged


TAPS = _halfband_taps()


def _samples(data: bytes) -> array.array[int]:
    samples = array.array("h")
    samples.frombytes(data[: len(data) - len(data) % 2])
    if sys.byteorder == "big":
        samples.byteswap()
    return samples


def _to_bytes(samples: array.array[int]) -> bytes:
    if sys.byteorder == "big":
        samples = array.array("h", samples)
        samples.byteswap()
    return samples.tobytes()


def _clip(values: list[float]) -> array.array[int]:
    return array.array("h", [-32768 if v < -32768 else 32767 if v > 32767 else round(v) for v in values])


def _odd_phase(x: array.array[int]) -> list[float]:
    """Values halfway between x[i] and x[i+1] for every i (edges padded with zeros)."""
    n = len(x)
    pad = [0] * HALF_TAPS
    padded = pad + list(x) + pad
    acc = [0.0] * n
    for k, c in enumerate(TAPS):
        left = padded[HALF_TAPS - k : HALF_TAPS - k + n]  # x[i - k]
        right = padded[HALF_TAPS + 1 + k : HALF_TAPS + 1 + k + n]  # x[i + 1 + k]
        acc = [a + c * (p + q) for a, p, q in zip(acc, left, right, strict=True)]
    return acc


def upsample_2x(data: bytes) -> bytes:
    """8 kHz PCM -> 16 kHz PCM (half-band interpolation)."""
    x = _samples(data)
    if not x:
        return b""
    out = array.array("h", bytes(4 * len(x)))
    out[0::2] = x
    out[1::2] = _clip(_odd_phase(x))
    return _to_bytes(out)


def downsample_2x(data: bytes) -> bytes:
    """16 kHz PCM -> 8 kHz PCM (half-band lowpass, then every other sample)."""
    x = _samples(data)
    if not x:
        return b""
    even = x[0::2]
    odd = x[1::2]
    if len(odd) < len(even):
        odd.append(0)
    # y[n] = 0.5 x[2n] + sum_k c_k / 2 (x[2n-2k-1] + x[2n+2k+1]); odd[j] = x[2j+1]
    n = len(even)
    pad = [0] * (HALF_TAPS + 1)
    padded = pad + list(odd) + pad
    acc = [0.5 * v for v in even]
    base = len(pad)
    for k, c in enumerate(TAPS):
        left = padded[base - 1 - k : base - 1 - k + n]  # odd[n - 1 - k] = x[2n - 2k - 1]
        right = padded[base + k : base + k + n]  # odd[n + k] = x[2n + 2k + 1]
        half = 0.5 * c
        acc = [a + half * (p + q) for a, p, q in zip(acc, left, right, strict=True)]
    return _to_bytes(_clip(acc))


def frame_energies(samples: array.array[int], frame: int) -> list[float]:
    """Mean square of each whole frame of ``frame`` samples."""
    return [
        sum(v * v for v in samples[i : i + frame]) / frame for i in range(0, len(samples) - frame + 1, frame)
    ]


def samples_of(data: bytes) -> array.array[int]:
    """PCM bytes as a signed 16-bit sample array (native order)."""
    return _samples(data)


def bytes_of(samples: array.array[int]) -> bytes:
    """A signed 16-bit sample array as little-endian PCM bytes."""
    return _to_bytes(samples)
