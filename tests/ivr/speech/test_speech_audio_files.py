"""Reading caller recordings: what Asterisk writes is accepted, anything else is a clear BadAudio."""

from __future__ import annotations

import array
import math
import struct
import tracemalloc
import wave
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ivr.speech import BadAudio
from ivr.speech.audio import downsample_2x, read_wav, samples_of, upsample_2x


def write_wav(path: Path, frames: bytes, *, rate: int = 8000, channels: int = 1, width: int = 2) -> Path:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(width)
        wav.setframerate(rate)
        wav.writeframes(frames)
    return path


def tone(freq: float, rate: int, seconds: float, amp: float = 10000.0) -> bytes:
    n = int(rate * seconds)
    return array.array("h", [int(amp * math.sin(2 * math.pi * freq * i / rate)) for i in range(n)]).tobytes()


def level_at(data: bytes, freq: float, rate: int) -> float:
    """Amplitude of the ``freq`` component (edges skipped)."""
    x = samples_of(data)[400:-400]
    s = sum(v * math.sin(2 * math.pi * freq * i / rate) for i, v in enumerate(x))
    c = sum(v * math.cos(2 * math.pi * freq * i / rate) for i, v in enumerate(x))
    return 2 * math.hypot(s, c) / len(x)


def test_recording_written_by_asterisk_is_read_whole(golden_dir: Path) -> None:
    pcm = read_wav(golden_dir / "media" / "record-file-8k.wav")
    assert pcm.samples == 9541  # the golden RECORD FILE reply said endpos=9541
    assert not pcm.capped


def test_wav16_recording_is_brought_to_8khz(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "w16.wav", tone(1000, 16000, 1.0), rate=16000)
    pcm = read_wav(path)
    assert pcm.samples == 8000
    assert level_at(pcm.data, 1000, 8000) == pytest.approx(10000, rel=0.02)


def test_long_recording_is_capped_without_reading_it_all(tmp_path: Path) -> None:
    path = tmp_path / "thirty-minutes.wav"
    minute = tone(440, 8000, 60.0, amp=3000)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        for _ in range(30):
            wav.writeframes(minute)
    assert path.stat().st_size > 28_000_000
    tracemalloc.start()
    try:
        pcm = read_wav(path, max_seconds=30.0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert pcm.capped
    assert pcm.seconds == pytest.approx(30.0)
    assert peak < 3_000_000  # 30 s is 480 KB; the whole file would be 29 MB


def test_empty_recording_is_silence_not_an_error(tmp_path: Path) -> None:
    pcm = read_wav(write_wav(tmp_path / "empty.wav", b""))
    assert pcm.samples == 0


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"channels": 2}, "mono"),
        ({"width": 1}, "16-bit"),
        ({"rate": 44100}, "8000 Hz"),
        ({"rate": 11025}, "8000 Hz"),
    ],
)
def test_wrong_wav_format_is_bad_audio(tmp_path: Path, kwargs: dict[str, int], reason: str) -> None:
    frames = bytes(4000 * kwargs.get("channels", 1) * kwargs.get("width", 2))
    path = write_wav(tmp_path / "odd.wav", frames, **kwargs)
    with pytest.raises(BadAudio, match=reason):
        read_wav(path)


def test_files_that_are_not_wav_are_bad_audio(tmp_path: Path) -> None:
    for name, content in [
        ("text.wav", b"hello, this is not audio at all\n" * 10),
        ("empty-file.wav", b""),
        ("mp3.wav", b"ID3\x03\x00\x00\x00" + bytes(200)),
        ("riff-not-wave.wav", b"RIFF\x10\x00\x00\x00AVI LIST" + bytes(40)),
    ]:
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(BadAudio):
            read_wav(path)


def test_truncated_recordings_are_bad_audio(tmp_path: Path) -> None:
    whole = write_wav(tmp_path / "whole.wav", tone(500, 8000, 1.0)).read_bytes()
    cut_data = tmp_path / "cut-data.wav"
    cut_data.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(BadAudio, match="truncated"):
        read_wav(cut_data)
    cut_header = tmp_path / "cut-header.wav"
    cut_header.write_bytes(whole[:30])
    with pytest.raises(BadAudio):
        read_wav(cut_header)


def test_missing_and_unreadable_recordings_are_bad_audio(tmp_path: Path) -> None:
    with pytest.raises(BadAudio, match="not found"):
        read_wav(tmp_path / "nope.wav")
    with pytest.raises(BadAudio):
        read_wav(tmp_path)  # a directory


def test_compressed_wav_is_bad_audio(tmp_path: Path) -> None:
    # a GSM-in-WAV style header (format tag 49): the wave module refuses it, and so do we
    fmt = struct.pack("<HHIIHH", 49, 1, 8000, 1625, 65, 0)
    body = (
        b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", 650) + bytes(650)
    )
    path = tmp_path / "gsm.wav"
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    with pytest.raises(BadAudio):
        read_wav(path)


@pytest.mark.parametrize("freq", [300, 1000, 2000, 3000, 3400])
def test_upsampling_keeps_the_telephone_band(freq: int) -> None:
    up = upsample_2x(tone(freq, 8000, 0.5))
    assert level_at(up, freq, 16000) == pytest.approx(10000, rel=0.03)


@pytest.mark.parametrize("freq", [300, 1000, 2000, 3000, 3400])
def test_upsampling_suppresses_mirror_images(freq: int) -> None:
    up = upsample_2x(tone(freq, 8000, 0.5))
    image = level_at(up, 8000 - freq, 16000)
    assert 20 * math.log10(max(image, 1e-9) / 10000) < -30


@pytest.mark.parametrize(("freq", "max_db"), [(4600, -30), (5000, -60), (6000, -60)])
def test_downsampling_removes_what_8khz_cannot_hold(freq: int, max_db: float) -> None:
    down = downsample_2x(tone(freq, 16000, 0.5))
    alias = level_at(down, 8000 - freq, 8000)
    assert 20 * math.log10(max(alias, 1e-9) / 10000) < max_db


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=2000))
def test_upsampling_keeps_every_input_sample(data: bytes) -> None:
    x = samples_of(data)
    up = samples_of(upsample_2x(data))
    assert len(up) == 2 * len(x)
    assert up[0::2] == x


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=2000))
def test_downsampling_halves_any_input(data: bytes) -> None:
    n = len(data) // 2
    assert len(samples_of(downsample_2x(data))) == (n + 1) // 2


def test_full_scale_audio_does_not_wrap_around() -> None:
    square = array.array("h", ([32767] * 8 + [-32768] * 8) * 200).tobytes()
    up = samples_of(upsample_2x(square))
    assert max(up) == 32767 and min(up) == -32768
    # overshoot clips instead of wrapping to the other sign
    assert all(v > 0 for v in up[2:14])
