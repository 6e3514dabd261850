"""Recording files: path mapping that never leaves the recordings directory, WAV checks that name the
problem, resampling, and HTTP Range parsing. Pure functions on real files, no database."""

from __future__ import annotations

import os
import shutil
import struct
import wave
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recordings.audio import (
    BadAudio,
    MissingAudio,
    inspect_wav,
    pcm_8k,
    read_pcm,
    upsample_8k_to_16k,
    write_wav,
)
from recordings.http_range import ByteRange, RangeNotSatisfiable, parse_range
from recordings.model import Speaker, is_recording_id
from recordings.paths import PathMapper, UnsafePath, default_asterisk_path, leg_path
from switchboard.ids import new_id

ASTERISK_DIR = "/var/spool/asterisk/monitor"


@pytest.fixture
def mapper(tmp_path: Path) -> PathMapper:
    local = tmp_path / "monitor"
    local.mkdir()
    return PathMapper(ASTERISK_DIR, local)


# -- path mapping ---------------------------------------------------------------------------------------


def test_golden_mixmonitor_file_name_maps_under_the_local_directory(mapper: PathMapper) -> None:
    path = mapper.to_local("/var/spool/asterisk/monitor/sb-golden-1795396042.6.wav")
    assert path == mapper.local_dir / "sb-golden-1795396042.6.wav"


def test_relative_mixmonitor_name_is_in_the_monitor_directory(mapper: PathMapper) -> None:
    assert mapper.to_local("2026/01/sb-1.wav") == mapper.local_dir / "2026" / "01" / "sb-1.wav"


@pytest.mark.parametrize(
    "hostile",
    [
        "/var/spool/asterisk/monitor/../../../etc/passwd",
        "../secrets.wav",
        "/etc/passwd",
        "/var/spool/asterisk/monitor-evil/x.wav",
        "/var/spool/asterisk/monitor",
        "/var/spool/asterisk/monitor/",
        "/var/spool/asterisk/monitor/a\x00b.wav",
        "/var/spool/asterisk/monitor/a\nb.wav",
        "",
        "/var/spool/asterisk/monitor/" + "a" * 2000,
    ],
)
def test_paths_that_leave_the_recordings_directory_are_refused(mapper: PathMapper, hostile: str) -> None:
    with pytest.raises(UnsafePath):
        mapper.to_local(hostile)


def test_symlink_out_of_the_recordings_directory_is_refused(mapper: PathMapper, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x.wav").write_bytes(b"RIFF")
    os.symlink(outside, mapper.local_dir / "link")
    with pytest.raises(UnsafePath, match="symlink"):
        mapper.to_local(f"{ASTERISK_DIR}/link/x.wav")
    assert not mapper.contains(mapper.local_dir / "link" / "x.wav")


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.text(max_size=80))
def test_any_name_maps_inside_the_directory_or_is_refused(mapper: PathMapper, name: str) -> None:
    for candidate in (name, f"{ASTERISK_DIR}/{name}"):
        try:
            local = mapper.to_local(candidate)
        except UnsafePath:
            continue
        assert local.resolve().is_relative_to(mapper.local_dir.resolve())
        assert local.resolve() != mapper.local_dir.resolve()


def test_leg_and_template_paths() -> None:
    mixed = f"{ASTERISK_DIR}/sb-1.5.wav"
    assert leg_path(mixed, "{stem}-caller.wav") == f"{ASTERISK_DIR}/sb-1.5-caller.wav"
    assert default_asterisk_path(ASTERISK_DIR, "sb-{uniqueid}.wav", "17.3") == f"{ASTERISK_DIR}/sb-17.3.wav"
    hostile = default_asterisk_path(ASTERISK_DIR, "sb-{uniqueid}.wav", "../../etc/x")
    with pytest.raises(UnsafePath):
        PathMapper(ASTERISK_DIR, Path("/tmp/none")).to_local(hostile)


def test_unmappable_leg_keeps_its_asterisk_path_without_a_local_one(mapper: PathMapper) -> None:
    leg = mapper.leg(Speaker.CALLER, "/etc/shadow")
    assert leg.local_path is None and leg.asterisk_path == "/etc/shadow"


def test_recording_ids_are_ulids_and_nothing_else() -> None:
    assert is_recording_id(new_id())
    bad = ["", "../../etc/passwd", "01ARZ3NDEKTSV4RRFFQ69G5FA", "01ARZ3NDEKTSV4RRFFQ69G5FAVX", "1 OR 1=1"]
    bad += ["01arz3ndektsv4rrffq69g5fav", "01ARZ3NDEKTSV4RRFFQ69G5FA/", "01ARZ3NDEKTSV4RRFFQ69G5FI"]
    for text in bad:
        assert not is_recording_id(text), text


# -- WAV checks -----------------------------------------------------------------------------------------


def test_golden_mixmonitor_recording_is_a_valid_8k_wav(golden_dir: Path) -> None:
    info = inspect_wav(golden_dir / "media" / "mixmonitor-8k.wav")
    assert (info.sample_rate, info.channels, info.bits) == (8000, 1, 16)
    assert info.duration_s == pytest.approx(0.42, abs=0.01)
    pcm, rate = read_pcm(golden_dir / "media" / "mixmonitor-8k.wav", info)
    assert rate == 8000 and len(pcm) == info.data_bytes == 3360 * 2


def _wav_with_header_size(path: Path, declared: int, present: int) -> None:
    header = b"RIFF" + struct.pack("<I", 36 + declared) + b"WAVE"
    header += b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, 8000, 16000, 2, 16)
    header += b"data" + struct.pack("<I", declared)
    path.write_bytes(header + b"\x01\x00" * (present // 2))


def test_truncated_wav_says_how_much_is_missing(tmp_path: Path, golden_dir: Path) -> None:
    path = tmp_path / "cut.wav"
    data = (golden_dir / "media" / "mixmonitor-8k.wav").read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(BadAudio, match=r"truncated: header declares 6720 bytes of audio, \d+ present"):
        inspect_wav(path)


def test_wav_never_finished_by_asterisk_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "open.wav"
    _wav_with_header_size(path, declared=0, present=4000)
    with pytest.raises(BadAudio, match="never finished"):
        inspect_wav(path)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "not a WAV"),
        (b"hello world, not audio at all", "not a WAV"),
        (b"RIFF\x00\x00\x00\x00WAVEdata\x00\x00\x00\x00", "before its format"),
        (b"RIFF\x00\x00\x00\x00WAVEfmt \x02\x00\x00\x00ab", "truncated"),
        (b"RIFF\x00\x00\x00\x00WAVE", "no audio data"),
    ],
)
def test_malformed_wav_is_bad_audio_with_a_reason(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "bad.wav"
    path.write_bytes(content)
    with pytest.raises(BadAudio, match=reason):
        inspect_wav(path)


def test_stereo_or_other_rates_are_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "stereo.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x00" * 400)
    with pytest.raises(BadAudio, match="2 channel"):
        inspect_wav(path)
    write_wav(path, b"\x00" * 400, rate=11025)
    with pytest.raises(BadAudio, match="11025"):
        inspect_wav(path)


def test_missing_file_directory_and_fifo_are_missing_audio_without_blocking(tmp_path: Path) -> None:
    with pytest.raises(MissingAudio, match="not found"):
        inspect_wav(tmp_path / "nope.wav")
    with pytest.raises(MissingAudio):
        inspect_wav(tmp_path)
    fifo = tmp_path / "fifo.wav"
    os.mkfifo(fifo)
    with pytest.raises(MissingAudio, match="regular file"):
        inspect_wav(fifo)


def test_empty_recording_is_valid_and_zero_seconds(tmp_path: Path) -> None:
    path = tmp_path / "empty.wav"
    write_wav(path, b"")
    assert inspect_wav(path).duration_s == 0.0


def test_resampling_keeps_duration_and_a_16k_recording_comes_down_to_8k_in_blocks() -> None:
    pcm = struct.pack("<4h", 0, 100, -100, 32767)
    assert len(upsample_8k_to_16k(pcm)) == 2 * len(pcm)
    assert upsample_8k_to_16k(b"") == b""
    long_16k = struct.pack("<h", 1000) * (16000 * 25 + 1)  # 25 s and an odd sample: three blocks
    down = pcm_8k(long_16k, 16000)
    assert len(down) == 2 * (8000 * 25 + 1)
    middle = struct.unpack(f"<{len(down) // 2}h", down)[100:-100]
    assert all(abs(v - 1000) <= 2 for v in middle[::997])  # DC passes the low-pass filter unchanged
    assert pcm_8k(pcm, 8000) == pcm
    with pytest.raises(BadAudio):
        pcm_8k(pcm, 44100)


def test_sox_agrees_on_duration(tmp_path: Path, tts) -> None:
    path = tts("one two three")
    info = inspect_wav(path)
    with wave.open(str(path)) as w:
        assert info.duration_s == pytest.approx(w.getnframes() / 8000)
    assert shutil.which("sox")


# -- HTTP Range -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        (None, 1000, None),
        ("bytes=0-", 1000, ByteRange(0, 999, 1000)),
        ("bytes=0-0", 1000, ByteRange(0, 0, 1000)),
        ("bytes=500-", 1000, ByteRange(500, 999, 1000)),
        ("bytes=100-199", 1000, ByteRange(100, 199, 1000)),
        ("bytes=900-5000", 1000, ByteRange(900, 999, 1000)),
        ("bytes=-100", 1000, ByteRange(900, 999, 1000)),
        ("bytes=-5000", 1000, ByteRange(0, 999, 1000)),
        ("BYTES = 1-2", 1000, ByteRange(1, 2, 1000)),
    ],
)
def test_satisfiable_ranges(header: str | None, size: int, expected: ByteRange | None) -> None:
    assert parse_range(header, size) == expected


@pytest.mark.parametrize(
    ("header", "size"),
    [
        ("bytes=1000-", 1000),
        ("bytes=5-4", 1000),
        ("bytes=-0", 1000),
        ("bytes=-", 1000),
        ("bytes=abc-def", 1000),
        ("bytes=0x10-", 1000),
        ("bytes=+1-2", 1000),
        ("bytes=1-2,5-6", 1000),
        ("items=0-1", 1000),
        ("bytes 0-1", 1000),
        ("bytes=" + "9" * 40 + "-", 1000),
        ("bytes=0-" + "1" * 200, 1000),
        ("bytes=٣-", 1000),
        ("bytes=0-", 0),
    ],
)
def test_oversized_or_malformed_ranges_are_not_satisfiable(header: str, size: int) -> None:
    with pytest.raises(RangeNotSatisfiable):
        parse_range(header, size)


@settings(max_examples=300)
@given(header=st.text(max_size=120), size=st.integers(min_value=0, max_value=10**12))
def test_any_range_header_is_served_inside_the_file_or_refused(header: str, size: int) -> None:
    try:
        result = parse_range(header, size)
    except RangeNotSatisfiable:
        return
    assert result is not None
    assert 0 <= result.start <= result.end < size
    assert result.length == result.end - result.start + 1


@settings(max_examples=200)
@given(start=st.integers(0, 10**6), end=st.integers(0, 10**6) | st.none(), size=st.integers(1, 10**6))
def test_well_formed_ranges_round_trip(start: int, end: int | None, size: int) -> None:
    header = f"bytes={start}-{'' if end is None else end}"
    if start >= size or (end is not None and end < start):
        with pytest.raises(RangeNotSatisfiable):
            parse_range(header, size)
        return
    result = parse_range(header, size)
    assert result == ByteRange(start, min(size - 1, end if end is not None else size - 1), size)
