"""Retention: expired recordings lose their files and transcripts, legal hold always wins, files that cannot
be removed are retried, and the periodic sweep runs on the injected clock."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta

from recordings.model import AuditAction, RecordingState, Speaker, TranscriptSegment
from recordings.retention import RetentionPolicy, RetentionSweeper
from switchboard.clock import ManualClock
from tests.recordings.rec_helpers import finished_recording, with_transcript

DAY = 86400.0


def test_policy_days_per_queue_default_and_forever() -> None:
    policy = RetentionPolicy(30, {"vip": 365, "sales": 0})
    ended = datetime(2026, 1, 1, tzinfo=UTC)
    assert policy.delete_after("vip", ended) == ended + timedelta(days=365)
    assert policy.delete_after("support", ended) == ended + timedelta(days=30)
    assert policy.delete_after(None, ended) == ended + timedelta(days=30)
    assert policy.delete_after("sales", ended) is None
    assert RetentionPolicy(0).delete_after("x", ended) is None


async def test_expired_recordings_lose_files_and_transcripts_but_keep_their_record(
    catalogue, store, queries, clock: ManualClock
) -> None:
    old = await finished_recording(catalogue, clock, "30.1", queue="support")
    await with_transcript(store, clock, old, [TranscriptSegment(0, 1, Speaker.MIXED, "old words", 0.9)])
    await store.audit(
        old, user_id="u1", role="supervisor", action=AuditAction.LISTEN, client_ip="10.0.0.1", now=clock.now()
    )
    vip = await finished_recording(catalogue, clock, "30.2", queue="vip")
    forever = await finished_recording(catalogue, clock, "30.3", queue="sales")
    sweeper = RetentionSweeper(store, catalogue.mapper, clock)
    await clock.advance(29 * DAY)
    assert (await sweeper.sweep()).deleted == 0
    await clock.advance(1 * DAY)
    result = await sweeper.sweep()
    assert (result.deleted, result.files_removed, result.files_left) == (1, 1, 0)
    rec = await queries.get(old)
    assert rec is not None and rec.state is RecordingState.DELETED and rec.deleted_at == clock.now()
    assert not (catalogue.mapper.local_dir / "sb-30.1.wav").exists()
    assert await queries.transcript(old) == []
    assert [e.action for e in await queries.audit_log(old)] == [AuditAction.LISTEN]
    assert (catalogue.mapper.local_dir / "sb-30.2.wav").exists()
    await clock.advance(400 * DAY)
    assert (await sweeper.sweep()).deleted == 1
    assert (await queries.get(vip)).state is RecordingState.DELETED  # type: ignore[union-attr]
    assert (await queries.get(forever)).state is RecordingState.READY  # type: ignore[union-attr]
    assert (catalogue.mapper.local_dir / "sb-30.3.wav").exists()


async def test_legal_hold_exempts_a_recording_even_when_placed_during_the_sweep(
    catalogue, store, queries, clock: ManualClock
) -> None:
    held = await finished_recording(catalogue, clock, "31.1")
    racing = await finished_recording(catalogue, clock, "31.2")
    await store.set_legal_hold(held, True, clock.now())
    await clock.advance(31 * DAY)
    listed = {r.id for r in await store.expired(clock.now(), 100)}
    assert listed == {racing}
    await store.set_legal_hold(racing, True, clock.now())  # a supervisor acts between listing and deleting
    assert not await store.mark_deleted(racing, clock.now())
    assert (await RetentionSweeper(store, catalogue.mapper, clock).sweep()).deleted == 0
    for rec_id, name in ((held, "sb-31.1.wav"), (racing, "sb-31.2.wav")):
        rec = await queries.get(rec_id)
        assert rec is not None and rec.legal_hold and rec.state is not RecordingState.DELETED
        assert (catalogue.mapper.local_dir / name).exists()
    await store.set_legal_hold(held, False, clock.now())
    assert (await RetentionSweeper(store, catalogue.mapper, clock).sweep()).deleted == 1


async def test_a_file_that_cannot_be_removed_is_noted_and_retried(
    catalogue, store, queries, clock: ManualClock
) -> None:
    rec_id = await finished_recording(catalogue, clock, "32.1", pcm=None)
    blocker = catalogue.mapper.local_dir / "sb-32.1.wav"
    blocker.mkdir()
    (blocker / "keep").write_text("x")  # a directory where the file should be: unlink fails
    sweeper = RetentionSweeper(store, catalogue.mapper, clock)
    await clock.advance(31 * DAY)
    result = await sweeper.sweep()
    assert (result.deleted, result.files_left) == (1, 1)
    rec = await queries.get(rec_id)
    assert rec is not None and rec.state is RecordingState.DELETED
    assert rec.problem is not None and rec.problem.startswith(
        "file could not be deleted, will retry: sb-32.1.wav"
    )
    (blocker / "keep").unlink()
    blocker.rmdir()
    blocker.write_bytes(b"RIFF")
    result = await sweeper.sweep()
    assert (result.deleted, result.files_removed, result.files_left) == (0, 1, 0)
    rec = await queries.get(rec_id)
    assert rec is not None and rec.problem is None and not blocker.exists()


async def test_sweep_runs_every_interval_on_the_clock(catalogue, store, queries, clock: ManualClock) -> None:
    rec_id = await finished_recording(catalogue, clock, "33.1")
    sweeper = RetentionSweeper(store, catalogue.mapper, clock)

    async def sweeps_done(n: int) -> None:
        for _ in range(200):
            if sweeper.sweeps >= n:
                return
            await asyncio.sleep(0.02)
        raise AssertionError(f"sweep {n} did not run")

    task = asyncio.create_task(sweeper.run(10 * DAY))
    try:
        await sweeps_done(1)
        for n in (2, 3):
            await clock.advance(10 * DAY)
            await sweeps_done(n)
        await clock.advance(9 * DAY)
        await asyncio.sleep(0.1)
        assert sweeper.sweeps == 3
        assert (await queries.get(rec_id)).state is not RecordingState.DELETED  # type: ignore[union-attr]
        await clock.advance(1 * DAY)
        await sweeps_done(4)
        assert (await queries.get(rec_id)).state is RecordingState.DELETED  # type: ignore[union-attr]
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
