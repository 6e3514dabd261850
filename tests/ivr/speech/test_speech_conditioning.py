"""Telephone audio prepared for the 16 kHz model: trimmed, upsampled, a steady noise floor, reproducibly."""

from __future__ import annotations

import array
import math

import pytest

from ivr.speech.audio import samples_of
from ivr.speech.conditioning import condition


def burst(seconds_before: float, seconds_on: float, seconds_after: float, amp: int = 8000) -> bytes:
    on = [int(amp * math.sin(2 * math.pi * 440 * i / 8000)) for i in range(int(8000 * seconds_on))]
    return array.array("h", [0] * int(8000 * seconds_before) + on + [0] * int(8000 * seconds_after)).tobytes()


def test_silence_and_near_silence_are_nothing_said() -> None:
    assert condition(b"") is None
    assert condition(bytes(16000)) is None
    assert condition(array.array("h", [10, -10] * 4000).tobytes()) is None


def test_long_silences_are_trimmed_to_a_margin() -> None:
    out = samples_of(condition(burst(3.0, 0.5, 4.0), trim_margin_s=0.3) or b"")
    seconds = len(out) / 16000
    assert 1.0 <= seconds <= 1.2  # 0.5 s of speech + 0.3 s either side


def test_noise_floor_sits_the_requested_distance_under_the_speech() -> None:
    out = samples_of(condition(burst(1.0, 0.5, 1.0), noise_snr_db=20.0, trim_margin_s=0.3) or b"")
    quiet = out[: int(0.25 * 16000)]  # inside the leading margin: only the floor
    rms = math.sqrt(sum(v * v for v in quiet) / len(quiet))
    speech_rms = 8000 / math.sqrt(2)
    assert 20 * math.log10(speech_rms / rms) == pytest.approx(20.0, abs=1.5)


def test_same_recording_is_conditioned_identically() -> None:
    pcm = burst(0.5, 1.0, 0.5)
    assert condition(pcm) == condition(pcm)
