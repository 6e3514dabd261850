"""Telephone speech made palatable to a 16 kHz acoustic model: trimmed, upsampled, with a steady noise floor.

Band-limited 8 kHz audio upsampled to 16 kHz has nothing above 4 kHz, where PocketSphinx's US English
model expects energy: its top filterbank channels sit near log(0) and swing wildly with rounding noise.
A steady Gaussian floor a fixed distance under the speech level turns that into a constant that cepstral
mean normalisation removes. The floor comes from a fixed table, so the same recording always decodes the
same way. Leading and trailing silence (RECORD FILE keeps up to the silence that ended it) is trimmed to a
margin, because long silences skew the utterance-level normalisation.
"""

from __future__ import annotations

import functools
import math
import random

from ivr.speech.audio import RATE, bytes_of, frame_energies, samples_of, upsample_2x

FRAME = 160  # 20 ms at 8 kHz
SILENT_RMS = 30.0  # about -60 dBFS: nothing a caller said
NOISE_TABLE = 16_000


@functools.cache
def _unit_noise() -> tuple[float, ...]:
    """A fixed table of Gaussian samples (seeded: reproducible across processes and runs)."""
    rnd = random.Random(0x5B0A)
    return tuple(rnd.gauss(0.0, 1.0) for _ in range(NOISE_TABLE))


def condition(
    pcm16_8k: bytes, *, noise_snr_db: float = 22.0, trim_db: float = 35.0, trim_margin_s: float = 0.3
) -> bytes | None:
    """8 kHz PCM -> 16 kHz PCM trimmed to the speech, with the noise floor; None when nothing was said."""
    samples = samples_of(pcm16_8k)
    energies = frame_energies(samples, FRAME)
    if not energies:
        return None
    peak = max(energies)
    if peak < SILENT_RMS * SILENT_RMS:
        return None
    threshold = peak * 10 ** (-trim_db / 10)
    active = [i for i, e in enumerate(energies) if e > threshold]
    margin = int(trim_margin_s * RATE / FRAME)
    first, last = max(0, active[0] - margin), min(len(energies), active[-1] + 1 + margin)
    loud = [e for e in energies if e > peak / 1000]
    level = math.sqrt(sum(loud) / len(loud))
    up = samples_of(upsample_2x(bytes_of(samples[first * FRAME : last * FRAME])))
    sigma = max(level * 10 ** (-noise_snr_db / 20), 5.0)
    noise = [sigma * n for n in _unit_noise()]
    reps = len(up) // len(noise) + 1
    mixed = [v + n for v, n in zip(up, noise * reps, strict=False)]
    out = samples_of(b"")
    out.fromlist([-32768 if v < -32768 else 32767 if v > 32767 else int(v) for v in mixed])
    return bytes_of(out)
