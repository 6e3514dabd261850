"""A voice problem never hangs a call: missing, slow, crashing and broken engines all fail fast and clearly.

Engines that misbehave on purpose (``ivr.speech.faults``) run in the real worker pools: threads (as Vosk
uses) and processes (as PocketSphinx uses).
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest

from ivr.speech import BadAudio, SpeechError, SpeechTimeout, SpeechUnavailable
from ivr.speech.faults import FaultSpec
from ivr.speech.service import SpeechService, build_speech_service
from switchboard.settings import SpeechSettings

KEYPAD_WITHIN = 1.0  # the caller gets the keypad alternative within a second


@pytest.fixture
def wav(clips) -> Path:
    return clips.say("billing")


async def timed(coro):
    started = time.monotonic()
    try:
        return await coro, time.monotonic() - started
    except SpeechError as exc:
        return exc, time.monotonic() - started


@pytest.fixture
async def services():
    made: list[SpeechService] = []

    def make(spec, **kw) -> SpeechService:
        service = SpeechService(spec, **kw)
        made.append(service)
        return service

    yield make
    for service in made:
        await service.close()


@pytest.mark.parametrize("pool", ["thread", "process"])
async def test_engine_that_raises_gives_a_speech_error_at_once(services, wav, pool) -> None:
    service = services(FaultSpec("raise"), pool=pool, workers=1)
    service.warm_up()
    result, took = await timed(service.recognize_grammar(wav, ["billing"], deadline=5.0))
    assert isinstance(result, SpeechError) and "on purpose" in str(result)
    assert took < KEYPAD_WITHIN + (1.5 if pool == "process" else 0)  # a cold process may still be starting


@pytest.mark.parametrize("pool", ["thread", "process"])
async def test_engine_slower_than_the_deadline_times_out_on_time(services, wav, pool) -> None:
    service = services(FaultSpec("sleep", seconds=30), pool=pool, workers=2)
    service.warm_up()
    result, took = await timed(service.recognize_grammar(wav, ["billing"], deadline=0.3))
    assert isinstance(result, SpeechTimeout)
    assert 0.3 <= took < 0.6


async def test_stuck_threads_are_counted_and_new_work_is_refused_at_once(services, wav) -> None:
    service = services(FaultSpec("sleep", seconds=2.0), pool="thread", workers=2, max_waiting=4)
    first = await asyncio.gather(
        *(timed(service.recognize_grammar(wav, ["billing"], deadline=0.2)) for _ in range(2))
    )
    assert all(isinstance(r, SpeechTimeout) for r, _ in first)
    stats = service.stats()
    assert stats is not None and stats.stuck == 2 and stats.busy == 2
    # every worker is stuck on an abandoned job: no queueing behind them
    result, took = await timed(service.recognize_grammar(wav, ["billing"], deadline=0.8))
    assert isinstance(result, SpeechUnavailable) and "stuck" in str(result)
    assert took < 0.05
    # the stuck jobs end on their own; the pool is whole again
    for _ in range(60):
        await asyncio.sleep(0.1)
        if service.stats().stuck == 0:
            break
    assert service.stats().stuck == 0 and service.stats().busy == 0


async def test_overrunning_process_worker_is_replaced_not_waited_for(services, wav) -> None:
    service = services(FaultSpec("sleep", seconds=60, only_for="hang"), pool="process", workers=1)
    service.warm_up()
    result, _ = await timed(service.recognize_grammar(wav, ["hang"], deadline=2.0))
    assert isinstance(result, SpeechTimeout)
    # the hung worker was killed; a fresh one answers the next call
    result, _ = await timed(service.recognize_grammar(wav, ["billing"], deadline=5.0))
    assert not isinstance(result, SpeechError) and result.text == "billing"
    stats = service.stats()
    assert stats.restarts == 1 and stats.busy == 0


async def test_crashing_engine_costs_one_answer_not_the_controller(services, wav) -> None:
    service = services(FaultSpec("crash", only_for="boom"), pool="process", workers=1)
    service.warm_up()
    result, took = await timed(service.recognize_grammar(wav, ["boom"], deadline=5.0))
    assert isinstance(result, SpeechError) and "died" in str(result)
    assert took < KEYPAD_WITHIN + 1.5
    result, _ = await timed(service.recognize_grammar(wav, ["billing"], deadline=5.0))
    assert result.text == "billing"


@pytest.mark.parametrize("pool", ["thread", "process"])
async def test_engine_that_fails_to_load_is_logged_once_then_refused_fast(
    services, wav, pool, caplog
) -> None:
    service = services(FaultSpec("load-fail"), pool=pool, workers=2)
    with caplog.at_level(logging.ERROR, logger="ivr.speech"):
        first, _ = await timed(service.recognize_grammar(wav, ["billing"], deadline=5.0))
        assert isinstance(first, SpeechUnavailable) and "on purpose" in str(first)
        for _ in range(3):
            again, took = await timed(service.recognize_grammar(wav, ["billing"]))
            assert isinstance(again, SpeechUnavailable)
            assert took < 0.05
    logged = [r for r in caplog.records if "speech engine unavailable" in r.getMessage()]
    assert len(logged) == 1


async def test_engine_still_loading_times_out_then_serves(services, wav) -> None:
    service = services(FaultSpec("slow-load", seconds=0.6), pool="thread", workers=1)
    result, took = await timed(service.recognize_grammar(wav, ["billing"], deadline=0.2))
    assert isinstance(result, SpeechTimeout) and took < 0.4
    await asyncio.sleep(0.8)
    result, _ = await timed(service.recognize_grammar(wav, ["billing"], deadline=0.5))
    assert result.text == "billing"


async def test_waiting_line_is_short_and_bounded(services, wav) -> None:
    service = services(FaultSpec("sleep", seconds=0.5), pool="thread", workers=1, max_waiting=1)
    calls = [timed(service.recognize_grammar(wav, ["billing"], deadline=2.0)) for _ in range(3)]
    results = await asyncio.gather(*calls)
    refused = [took for r, took in results if isinstance(r, SpeechUnavailable)]
    answered = [r for r, _ in results if not isinstance(r, SpeechError)]
    assert len(answered) == 2  # one running, one waited its turn
    assert len(refused) == 1 and refused[0] < 0.05


async def test_waiting_for_a_worker_counts_against_the_deadline(services, wav) -> None:
    service = services(FaultSpec("sleep", seconds=1.0), pool="thread", workers=1, max_waiting=4)
    first = asyncio.ensure_future(timed(service.recognize_grammar(wav, ["billing"], deadline=3.0)))
    await asyncio.sleep(0.05)
    result, took = await timed(service.recognize_grammar(wav, ["billing"], deadline=0.3))
    assert isinstance(result, SpeechTimeout) and took < 0.5
    assert not isinstance((await first)[0], SpeechError)


async def test_no_engine_configured_is_unavailable_at_once(wav) -> None:
    service = build_speech_service(SpeechSettings(engine="none"))
    assert service.name == "none" and not service.free_speech_ok
    result, took = await timed(service.recognize_grammar(wav, ["billing"]))
    assert isinstance(result, SpeechUnavailable) and took < 0.05
    await service.close()


async def test_unusable_recording_is_bad_audio_not_a_timeout(services, tmp_path: Path) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not a wav file at all")
    for pool in ("thread", "process"):
        service = services(FaultSpec("ok"), pool=pool, workers=1)
        result, _ = await timed(service.recognize_grammar(bad, ["billing"], deadline=5.0))
        assert isinstance(result, BadAudio)


async def test_caller_giving_up_early_does_not_leak_a_worker(services, wav) -> None:
    service = services(FaultSpec("sleep", seconds=0.3), pool="thread", workers=1)
    task = asyncio.ensure_future(service.recognize_grammar(wav, ["billing"], deadline=5.0))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0.5)
    assert service.stats().busy == 0
    result = await service.recognize_grammar(wav, ["billing"], deadline=2.0)
    assert result.text == "billing"


async def test_closed_service_refuses_work_and_its_workers_are_gone(wav) -> None:
    service = SpeechService(FaultSpec("ok"), pool="process", workers=2)
    await service.recognize_grammar(wav, ["billing"], deadline=5.0)
    pool = service._pool
    processes = [w.process for w in pool._all]  # type: ignore[union-attr]
    assert processes and all(p.poll() is None for p in processes)
    await service.close()
    assert all(p.poll() is not None for p in processes)
    with pytest.raises(SpeechUnavailable):
        await service.recognize_grammar(wav, ["billing"])


async def test_worker_still_starting_at_the_deadline_is_kept_not_killed(services, wav) -> None:
    service = services(FaultSpec("slow-load", seconds=1.0), pool="process", workers=1)
    result, took = await timed(service.recognize_grammar(wav, ["billing"], deadline=0.3))
    assert isinstance(result, SpeechTimeout) and took < 0.6
    for _ in range(50):  # the abandoned job completes once the worker is up, and frees its slot
        await asyncio.sleep(0.1)
        if service.stats().busy == 0:
            break
    result, took = await timed(service.recognize_grammar(wav, ["billing"], deadline=1.0))
    assert not isinstance(result, SpeechError) and result.text == "billing"
    assert took < 0.5  # the same, now warm, worker answered
    assert service.stats().restarts == 0
