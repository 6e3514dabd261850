"""The feature as the composition root builds it: jobs, router, and the catalogue waking the worker."""

from __future__ import annotations

import asyncio
import contextlib

from recordings.model import RecordingState
from recordings.wiring import build_recordings
from tests.recordings.rec_helpers import finished_recording, header_require_role


async def test_built_feature_runs_its_worker_when_a_call_ends(sessions, rec_settings, clock, queries) -> None:
    settings = rec_settings.model_copy(update={"engine": "none", "poll_interval": 3600})
    recordings = build_recordings(
        settings, sessions, clock, None, source="127.0.0.1:5038", owner="wiring-test"
    )
    jobs = recordings.jobs()
    assert set(jobs) == {"recordings-transcriber", "recordings-retention"}
    assert {r.path for r in recordings.router(header_require_role).routes} >= {"/recordings"}  # type: ignore[attr-defined]
    task = asyncio.create_task(jobs["recordings-transcriber"]())
    try:
        rec_id = await finished_recording(recordings.catalogue, clock, "50.1")
        await asyncio.sleep(0.2)  # woken by the catalogue: the job is not due for settle_seconds yet
        assert (await queries.get(rec_id)).state is RecordingState.READY  # type: ignore[union-attr]
        await clock.advance(settings.settle_seconds)
        for _ in range(100):
            if (await queries.get(rec_id)).state is RecordingState.STORED:  # type: ignore[union-attr]
                break
            await asyncio.sleep(0.02)
        assert (await queries.get(rec_id)).state is RecordingState.STORED  # type: ignore[union-attr]
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await recordings.close()
