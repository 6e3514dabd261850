"""Speech test audio, generated with espeak-ng and sox at test time (never committed), cached between runs."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from ivr.prompts import espeak_version, render_wav


class Clips:
    """Telephone-band 8 kHz clips of spoken text, rendered once and kept in pytest's cache directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)

    def say(
        self,
        text: str,
        voice: str = "en-us",
        speed: int = 140,
        *,
        pad: tuple[float, float] = (0.0, 0.0),
        telephone: bool = True,
    ) -> Path:
        key = f"{espeak_version()}|{text}|{voice}|{speed}|{pad}|{telephone}"
        path = self.root / f"{hashlib.sha256(key.encode()).hexdigest()[:20]}.wav"
        if not path.is_file():
            render_wav(text, path, voice=voice, speed=speed, telephone=telephone, pad=pad)
        return path


@pytest.fixture(scope="session")
def clips(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Clips:
    if shutil.which("espeak-ng") is None or shutil.which("sox") is None:
        pytest.fail("espeak-ng and sox are needed to generate speech test audio")
    cache = getattr(request.config, "cache", None)
    root = (
        Path(cache.mkdir("sb-speech-audio")) if cache is not None else tmp_path_factory.mktemp("speech-audio")
    )
    return Clips(root)
