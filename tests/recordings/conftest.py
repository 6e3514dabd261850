"""Recordings fixtures: real speech audio (espeak-ng + sox, 8 kHz), the recordings domain on the shared
SQLite/PostgreSQL test databases, and a trivial stand-in for the users/roles dependency factory.

The stand-in authenticates from an ``X-Test-User: <id>:<role>[:<agent_id>]`` header and enforces the role
order agent < supervisor < admin, which is what ``recordings.api.make_router`` expects of the real one.
"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from recordings.catalogue import RecordingCatalogue
from recordings.queries import RecordingQueries
from recordings.store import RecordingStore
from switchboard.clock import ManualClock
from switchboard.db import session_factory
from switchboard.settings import RecordingsSettings
from tests.recordings.rec_helpers import ASTERISK_DIR


@pytest.fixture(scope="session")
def speech_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("speech")


@pytest.fixture(scope="session")
def tts(require_tool: Callable[..., str], speech_dir: Path) -> Callable[..., Path]:
    """``tts("hello", voice="en-us")`` -> an 8 kHz 16-bit mono WAV of espeak-ng saying it (cached)."""
    espeak = require_tool("espeak-ng")
    sox = require_tool("sox")

    def speak(text: str, voice: str = "en-us", speed: int = 140) -> Path:
        key = hashlib.sha1(f"{voice}|{speed}|{text}".encode()).hexdigest()[:16]
        out = speech_dir / f"{key}.wav"
        if not out.exists():
            raw = speech_dir / f"{key}-raw.wav"
            subprocess.run(
                [espeak, "-v", voice, "-s", str(speed), "-w", str(raw), text], check=True, timeout=60
            )
            subprocess.run(
                [sox, str(raw), "-r", "8000", "-c", "1", "-b", "16", str(out)], check=True, timeout=60
            )
        return out

    return speak


@pytest.fixture
def local_dir(tmp_path: Path) -> Path:
    path = tmp_path / "monitor"
    path.mkdir()
    return path


@pytest.fixture
def rec_settings(local_dir: Path) -> RecordingsSettings:
    return RecordingsSettings(
        asterisk_dir=ASTERISK_DIR,
        local_dir=local_dir,
        retention_days=30,
        retention_days_by_queue={"vip": 365, "sales": 0},
        settle_seconds=2.0,
        retry_initial=10.0,
        retry_max=60.0,
        max_attempts=3,
    )


@pytest.fixture
def sessions(db_engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return session_factory(db_engine)


@pytest.fixture
def store(sessions: async_sessionmaker[AsyncSession]) -> RecordingStore:
    return RecordingStore(sessions)


@pytest.fixture
def queries(sessions: async_sessionmaker[AsyncSession]) -> RecordingQueries:
    return RecordingQueries(sessions)


@pytest.fixture
def catalogue(
    store: RecordingStore, rec_settings: RecordingsSettings, clock: ManualClock
) -> RecordingCatalogue:
    return RecordingCatalogue.from_settings(store, rec_settings, clock)
