"""WAV files as MixMonitor writes them: header checks that name what is wrong, PCM reads and resampling.

Resampling is the speech helper's (``ivr.speech.audio``); this module adds what whole call recordings need:
checks that name what is wrong with a file, and reads of any length.

Asterisk writes the sizes in a WAV header only when it closes the file, so a file whose header still
says 0 was never finished (Asterisk died mid-call), and a header that promises more audio than the file
holds means the file was cut short. Both are reported as :class:`BadAudio` with a reason a person can act
on; a file that is not there is :class:`MissingAudio`. Nothing here raises anything else for bad input.
"""

from __future__ import annotations

import os
import stat
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from ivr.speech.audio import downsample_2x, upsample_2x

_BLOCK: Final = 16000 * 2 * 10  # 10 s of 16 kHz audio, a whole number of sample pairs
PCM_FORMAT: Final = 1
EXTENSIBLE_FORMAT: Final = 0xFFFE
SUPPORTED_RATES: Final = (8000, 16000)
_MAX_CHUNKS: Final = 64  # a real WAV has a handful; a crafted one must not make us walk forever


class AudioProblem(Exception):
    """A recording file that cannot be used as it is."""


class MissingAudio(AudioProblem):
    """The file does not exist (or is not a regular file)."""


class BadAudio(AudioProblem):
    """The file exists but is not a complete 16-bit mono PCM WAV at 8 or 16 kHz."""


@dataclass(frozen=True)
class WavInfo:
    """What a WAV header says, checked against the file."""

    sample_rate: int
    channels: int
    bits: int
    data_offset: int
    data_bytes: int
    file_size: int

    @property
    def duration_s(self) -> float:
        """Length of the audio in seconds."""
        return self.data_bytes / (self.sample_rate * self.channels * self.bits // 8)


def inspect_wav(path: Path) -> WavInfo:
    """Read and check a WAV header; raise MissingAudio or BadAudio with the reason."""
    try:
        if not stat.S_ISREG(path.stat().st_mode):
            raise MissingAudio("path is not a regular file")
        with path.open("rb") as f:
            size = os.fstat(f.fileno()).st_size
            head = f.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                raise BadAudio("not a WAV file (no RIFF/WAVE header)")
            fmt: tuple[int, int, int, int] | None = None
            offset = 12
            for _ in range(_MAX_CHUNKS):
                f.seek(offset)
                chunk = f.read(8)
                if len(chunk) < 8:
                    break
                chunk_id, chunk_size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
                if chunk_id == b"fmt ":
                    body = f.read(min(chunk_size, 40))
                    if len(body) < 16:
                        raise BadAudio("WAV format chunk is truncated")
                    tag, channels, rate, _, _, bits = struct.unpack("<HHIIHH", body[:16])
                    fmt = (tag, channels, rate, bits)
                elif chunk_id == b"data":
                    if fmt is None:
                        raise BadAudio("WAV data comes before its format chunk")
                    return _checked(fmt, offset + 8, chunk_size, size)
                offset += 8 + chunk_size + (chunk_size & 1)
            raise BadAudio("WAV file has no audio data chunk")
    except FileNotFoundError:
        raise MissingAudio("file not found") from None
    except PermissionError:
        raise MissingAudio("file not readable by the controller (permissions)") from None
    except OSError as exc:
        raise MissingAudio(f"file not readable: {exc.strerror or exc}") from None


def _checked(fmt: tuple[int, int, int, int], data_offset: int, declared: int, file_size: int) -> WavInfo:
    tag, channels, rate, bits = fmt
    if tag not in (PCM_FORMAT, EXTENSIBLE_FORMAT) or bits != 16 or channels != 1:
        raise BadAudio(
            f"unsupported WAV format (tag {tag}, {channels} channel(s), {bits} bit); "
            "MixMonitor should write .wav (16-bit mono PCM)"
        )
    if rate not in SUPPORTED_RATES:
        raise BadAudio(f"unsupported sample rate {rate} Hz (8000 or 16000 expected)")
    present = max(0, file_size - data_offset)
    if declared == 0 and present > 0:
        raise BadAudio(
            f"WAV header was never finished ({present} bytes of audio, header says 0): "
            "Asterisk stopped before closing the file"
        )
    if declared > present:
        raise BadAudio(f"WAV file is truncated: header declares {declared} bytes of audio, {present} present")
    return WavInfo(rate, channels, bits, data_offset, declared - (declared & 1), file_size)


def read_pcm(path: Path, info: WavInfo | None = None) -> tuple[bytes, int]:
    """The 16-bit mono PCM of a checked WAV file and its sample rate."""
    info = info or inspect_wav(path)
    with path.open("rb") as f:
        f.seek(info.data_offset)
        data = f.read(info.data_bytes)
    if len(data) < info.data_bytes:
        raise BadAudio(f"WAV file shrank while being read ({len(data)} of {info.data_bytes} bytes)")
    return data, info.sample_rate


def upsample_8k_to_16k(pcm: bytes) -> bytes:
    """8 kHz -> 16 kHz (the speech helper's half-band filter; PocketSphinx's English model is 16 kHz)."""
    return upsample_2x(pcm)


def pcm_8k(pcm: bytes, rate: int) -> bytes:
    """PCM at 8 kHz, the rate every Transcriber takes (a ``wav16`` recording is filtered down in blocks,
    because the filter holds its whole input as Python floats and a call can last an hour)."""
    if rate == 8000:
        return pcm
    if rate == 16000:
        return b"".join(downsample_2x(pcm[i : i + _BLOCK]) for i in range(0, len(pcm), _BLOCK))
    raise BadAudio(f"unsupported sample rate {rate} Hz")


def write_wav(path: Path, pcm: bytes, rate: int = 8000) -> None:
    """Write 16-bit mono PCM as a WAV file (tests, benchmark and tools)."""
    import wave

    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)
