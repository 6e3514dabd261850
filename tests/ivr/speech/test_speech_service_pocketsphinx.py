"""The default service (PocketSphinx in worker processes) as the flows use it."""

from __future__ import annotations

import asyncio
import time
import wave
from pathlib import Path

import pytest

from ivr.speech.service import build_speech_service
from switchboard.settings import SpeechSettings

MENU = ["technical support", "billing", "speak to an agent", "restart"]


@pytest.fixture
async def service():
    service = build_speech_service(SpeechSettings(engine="pocketsphinx", workers=2))
    yield service
    await service.close()


async def test_default_service_recognises_within_the_default_deadline(service, clips) -> None:
    assert service.name == "pocketsphinx"
    assert not service.free_speech_ok  # "tell us why you are calling" needs Vosk and a site model
    await service.recognize_grammar(clips.say("billing"), MENU, deadline=10.0)  # workers are up
    result = await service.recognize_grammar(clips.say("speak to an agent", "en-gb", 175), MENU)
    assert result.text == "speak to an agent"
    assert result.engine == "pocketsphinx" and result.confidence >= 0.5 and result.seconds > 0


async def test_callers_at_once_are_served_in_parallel(service, clips) -> None:
    await service.recognize_grammar(clips.say("billing"), MENU, deadline=10.0)
    said = ["billing", "restart", "technical support", "billing"]
    results = await asyncio.gather(
        *(service.recognize_grammar(clips.say(s, "en-us", 150), MENU, deadline=5.0) for s in said)
    )
    assert [r.text for r in results] == said


def _long_recording(clips, path: Path, seconds: float) -> Path:
    """A long caller recording: speech repeated with gaps (what a stuck RECORD FILE could leave)."""
    parts = [clips.say(s, pad=(0.5, 0.5)) for s in ("billing", "technical support", "restart please")]
    frames = b""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        while len(frames) < seconds * 16000:
            for part in parts:
                with wave.open(str(part), "rb") as w:
                    frames += w.readframes(w.getnframes())
        out.writeframes(frames)
    return path


@pytest.mark.slow
async def test_event_loop_keeps_serving_while_a_long_recording_is_decoded(
    service, clips, tmp_path: Path
) -> None:
    long = _long_recording(clips, tmp_path / "long.wav", 40.0)
    await service.recognize_grammar(clips.say("billing"), MENU, deadline=10.0)
    lags: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        while not stop.is_set():
            before = time.monotonic()
            await asyncio.sleep(0.01)
            lags.append(time.monotonic() - before - 0.01)

    tick = asyncio.ensure_future(ticker())
    try:
        result = await service.recognize_grammar(long, MENU, deadline=20.0)
    finally:
        stop.set()
        await tick
    assert isinstance(result.text, str)
    assert max(lags) < 0.1  # decoding happens in another process; the loop never waits on it


async def test_recording_longer_than_the_cap_is_cut_not_refused(clips, tmp_path: Path) -> None:
    long = _long_recording(clips, tmp_path / "long.wav", 12.0)
    service = build_speech_service(SpeechSettings(max_audio_seconds=2.0, workers=1))
    try:
        result = await service.recognize_grammar(long, MENU, deadline=10.0)
        assert result.text == "billing"  # only the first two seconds were decoded
    finally:
        await service.close()
