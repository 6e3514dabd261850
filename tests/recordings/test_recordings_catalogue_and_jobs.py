"""The catalogue and its job queue on SQLite and PostgreSQL: opening and closing recordings, retention dates,
refused paths, reconciliation after missed events, and job claiming/leases across processes and restarts."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from recordings.catalogue import RecordingCatalogue
from recordings.model import RecordingState, Speaker, TranscriptSegment
from recordings.queries import RecordingFilter, RecordingQueries
from recordings.store import RecordingStore
from switchboard.clock import ManualClock
from tests.recordings.rec_helpers import SOURCE, finished_recording, start_of, with_transcript


async def test_started_recording_is_catalogued_with_its_local_path_and_call(
    catalogue: RecordingCatalogue, queries: RecordingQueries, clock: ManualClock
) -> None:
    rec_id = await catalogue.recording_started(start_of(clock, "1795396042.6", call_id="golden-0001"))
    rec = await queries.get(rec_id)
    assert rec is not None
    assert rec.state is RecordingState.RECORDING
    assert rec.call_id == "golden-0001" and rec.agent_id == "a1" and rec.queue == "billing"
    assert rec.local_path == str(catalogue.mapper.local_dir / "sb-1795396042.6.wav")
    assert rec.ended_at is None and rec.delete_after is None


async def test_hangup_makes_it_a_pending_job_after_the_settle_time_with_queue_retention(
    catalogue: RecordingCatalogue, queries: RecordingQueries, store: RecordingStore, clock: ManualClock
) -> None:
    vip = await finished_recording(catalogue, clock, "1.1", queue="vip", seconds=42)
    other = await finished_recording(catalogue, clock, "1.2", queue="unknown-queue")
    forever = await finished_recording(catalogue, clock, "1.3", queue="sales")
    rec = await queries.get(vip)
    assert rec is not None and rec.state is RecordingState.READY
    assert rec.duration_s == 42.0
    assert rec.delete_after == rec.ended_at + timedelta(days=365)
    other_rec = await queries.get(other)
    assert other_rec is not None and other_rec.delete_after == other_rec.ended_at + timedelta(days=30)
    forever_rec = await queries.get(forever)
    assert forever_rec is not None and forever_rec.delete_after is None
    # The last call just hung up: MixMonitor may still be closing its file, so it is not due yet.
    assert {j.recording_id for j in await store.claim("w1", clock.now(), 10, 60)} == {vip, other}
    await clock.advance(2)
    assert [j.recording_id for j in await store.claim("w1", clock.now(), 10, 60)] == [forever]


async def test_second_mixmonitor_on_the_same_file_continues_the_recording_for_the_new_agent(
    catalogue: RecordingCatalogue, queries: RecordingQueries, clock: ManualClock
) -> None:
    first = await catalogue.recording_started(start_of(clock, "2.1", agent_id="noans"))
    again = await catalogue.recording_started(start_of(clock, "2.1", agent_id="ans"))
    assert first == again
    rec = await queries.get(first)
    assert rec is not None and rec.agent_id == "ans"


async def test_path_outside_the_recordings_directory_is_kept_as_missing_with_the_reason(
    catalogue: RecordingCatalogue, queries: RecordingQueries, store: RecordingStore, clock: ManualClock
) -> None:
    rec_id = await catalogue.recording_started(
        start_of(clock, "3.1", path="/var/spool/asterisk/monitor/../../x")
    )
    await catalogue.recording_finished(SOURCE, "3.1")
    rec = await queries.get(rec_id)
    assert rec is not None
    assert rec.state is RecordingState.MISSING and rec.local_path is None
    assert rec.problem is not None and "'..'" in rec.problem
    await clock.advance(60)
    assert await store.claim("w1", clock.now(), 10, 60) == []


async def test_separate_legs_are_catalogued_for_caller_and_agent(
    store: RecordingStore, queries: RecordingQueries, rec_settings, clock: ManualClock
) -> None:
    settings = rec_settings.model_copy(update={"separate_legs": True})
    catalogue = RecordingCatalogue.from_settings(store, settings, clock)
    rec_id = await catalogue.recording_started(start_of(clock, "4.1"))
    rec = await queries.get(rec_id)
    assert rec is not None
    legs = {leg.speaker.value: leg for leg in rec.legs}
    assert legs["caller"].asterisk_path == "/var/spool/asterisk/monitor/sb-4.1-caller.wav"
    assert legs["agent"].local_path == str(catalogue.mapper.local_dir / "sb-4.1-agent.wav")


async def test_reconcile_closes_recordings_whose_channel_vanished_while_events_were_missed(
    catalogue: RecordingCatalogue, queries: RecordingQueries, clock: ManualClock
) -> None:
    gone = await catalogue.recording_started(start_of(clock, "5.1"))
    alive = await catalogue.recording_started(start_of(clock, "5.2"))
    elsewhere = await catalogue.recording_started(start_of(clock, "5.3", source="10.0.0.9:5038"))
    still_open = await catalogue.reconcile(SOURCE, {"5.2", "9.9"})
    assert still_open == {"5.2"}
    states = {rid: (await queries.get(rid)).state for rid in (gone, alive, elsewhere)}  # type: ignore[union-attr]
    assert states == {
        gone: RecordingState.READY,
        alive: RecordingState.RECORDING,
        elsewhere: RecordingState.RECORDING,
    }


async def test_a_job_is_claimed_by_exactly_one_worker(
    catalogue: RecordingCatalogue, store: RecordingStore, clock: ManualClock
) -> None:
    ids = {await finished_recording(catalogue, clock, f"6.{i}") for i in range(5)}
    await clock.advance(5)
    first = await store.claim("host-a", clock.now(), 3, 600)
    second = await store.claim("host-b", clock.now(), 10, 600)
    assert len(first) == 3 and len(second) == 2
    assert {j.recording_id for j in first} | {j.recording_id for j in second} == ids
    assert not {j.recording_id for j in first} & {j.recording_id for j in second}
    assert await store.claim("host-c", clock.now(), 10, 600) == []


async def test_pending_jobs_survive_a_restart_and_a_dead_workers_lease_expires(
    catalogue: RecordingCatalogue, store: RecordingStore, queries: RecordingQueries, clock: ManualClock
) -> None:
    mine = await finished_recording(catalogue, clock, "7.1")
    theirs = await finished_recording(catalogue, clock, "7.2")
    await clock.advance(5)
    assert len(await store.claim("host-a", clock.now(), 1, 600)) == 1
    assert len(await store.claim("host-b", clock.now(), 1, 600)) == 1
    # host-a restarts: its half-done job is back in the queue at once.
    assert await store.release_leases("host-a", clock.now()) == 1
    again = await store.claim("host-a2", clock.now(), 10, 3600)
    assert len(again) == 1
    # host-b died: its job becomes claimable when the lease runs out, not before.
    assert await store.claim("host-c", clock.now(), 10, 600) == []
    await clock.advance(601)
    taken = await store.claim("host-c", clock.now(), 10, 600)
    assert len(taken) == 1
    assert {again[0].recording_id, taken[0].recording_id} == {mine, theirs}
    rec = await queries.get(taken[0].recording_id)
    assert rec is not None and rec.state is RecordingState.TRANSCRIBING


async def test_a_worker_that_lost_its_lease_cannot_overwrite_the_new_owners_result(
    catalogue: RecordingCatalogue, store: RecordingStore, clock: ManualClock
) -> None:
    rec_id = await finished_recording(catalogue, clock, "8.1")
    await clock.advance(5)
    await store.claim("slow", clock.now(), 1, 10)
    await clock.advance(11)
    await store.claim("fast", clock.now(), 1, 600)
    assert not await store.complete(
        rec_id, "slow", [], engine="x", size_bytes=1, duration_s=1, now=clock.now()
    )
    assert await store.complete(rec_id, "fast", [], engine="x", size_bytes=1, duration_s=1, now=clock.now())


async def test_two_controllers_on_one_asterisk_catalogue_one_recording(
    store: RecordingStore, rec_settings, queries: RecordingQueries, clock: ManualClock
) -> None:
    first = RecordingCatalogue.from_settings(store, rec_settings, clock)
    second = RecordingCatalogue.from_settings(RecordingStore(store.sessions), rec_settings, clock)
    ids = await asyncio.gather(
        *(c.recording_started(start_of(clock, "9.1")) for c in (first, second, first, second))
    )
    assert len(set(ids)) == 1
    assert (await queries.search(RecordingFilter())).total == 1


async def test_a_new_mixmonitor_on_a_finished_file_restarts_that_recording(
    catalogue: RecordingCatalogue, store: RecordingStore, queries: RecordingQueries, clock: ManualClock
) -> None:
    rec_id = await finished_recording(catalogue, clock, "9.2", agent_id="first")
    await with_transcript(store, clock, rec_id, [TranscriptSegment(0, 1, Speaker.MIXED, "old audio", 0.5)])
    again = await catalogue.recording_started(start_of(clock, "9.2", agent_id="second"))
    assert again == rec_id
    rec = await queries.get(rec_id)
    assert rec is not None and rec.state is RecordingState.RECORDING and rec.agent_id == "second"
    assert rec.ended_at is None and rec.engine is None and rec.started_at == clock.now()
    assert await queries.transcript(rec_id) == []  # MixMonitor truncated the file: the old words are gone
