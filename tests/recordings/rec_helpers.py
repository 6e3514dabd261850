"""Helpers for recordings tests: catalogue a call with its file, store a transcript, sign in over HTTP."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from fastapi import Header, HTTPException

from recordings.audio import write_wav
from recordings.catalogue import RecordingCatalogue
from recordings.model import RecordingStart, TranscriptSegment
from recordings.store import RecordingStore
from switchboard.clock import ManualClock

ASTERISK_DIR = "/var/spool/asterisk/monitor"
SOURCE = "127.0.0.1:5038"
ROLE_ORDER = {"agent": 1, "supervisor": 2, "admin": 3}


def start_of(
    clock: ManualClock,
    uniqueid: str,
    *,
    call_id: str | None = None,
    agent_id: str | None = "a1",
    queue: str | None = "billing",
    path: str | None = None,
    caller_name: str = "Caller",
    source: str = SOURCE,
) -> RecordingStart:
    return RecordingStart(
        source=source,
        uniqueid=uniqueid,
        linkedid=uniqueid,
        channel=f"PJSIP/carrier-{uniqueid}",
        call_id=call_id or f"call-{uniqueid}",
        agent_id=agent_id,
        queue=queue,
        caller_number="+15551230002",
        caller_name=caller_name,
        asterisk_path=path or f"{ASTERISK_DIR}/sb-{uniqueid}.wav",
        started_at=clock.now(),
    )


async def finished_recording(
    catalogue: RecordingCatalogue,
    clock: ManualClock,
    uniqueid: str,
    *,
    pcm: bytes | None = b"\x00\x00" * 8000,
    seconds: float = 30.0,
    **kw: Any,
) -> str:
    """A call recorded for ``seconds`` whose file (``pcm``, or none) is in the recordings directory."""
    rec_id = await catalogue.recording_started(start_of(clock, uniqueid, **kw))
    await clock.advance(seconds)
    if pcm is not None:
        local = catalogue.mapper.to_local(kw.get("path") or f"{ASTERISK_DIR}/sb-{uniqueid}.wav")
        local.parent.mkdir(parents=True, exist_ok=True)
        write_wav(local, pcm)
    await catalogue.recording_finished(kw.get("source", SOURCE), uniqueid)
    return rec_id


async def with_transcript(
    store: RecordingStore,
    clock: ManualClock,
    rec_id: str,
    segments: Sequence[TranscriptSegment],
    duration_s: float = 1.0,
) -> None:
    """Store a transcript the way a worker does: claim the job under a lease, then complete it."""
    await clock.advance(10)
    jobs = await store.claim("test-owner", clock.now(), 10_000, 600)
    assert rec_id in {j.recording_id for j in jobs}
    assert await store.complete(
        rec_id, "test-owner", segments, engine="test", size_bytes=44, duration_s=duration_s, now=clock.now()
    )
    await store.release_leases("test-owner", clock.now() - timedelta(seconds=1))


@dataclass(frozen=True)
class HeaderUser:
    id: str
    role: str
    agent_id: str | None = None


def header_require_role(role: str) -> Callable[..., HeaderUser]:
    """The users/roles dependency factory's contract, minimally: header identity, role order enforced."""

    def dependency(x_test_user: str | None = Header(None)) -> HeaderUser:
        if not x_test_user:
            raise HTTPException(status_code=401, detail="not signed in")
        parts = x_test_user.split(":")
        user = HeaderUser(parts[0], parts[1] if len(parts) > 1 else "", parts[2] if len(parts) > 2 else None)
        if ROLE_ORDER.get(user.role, 0) < ROLE_ORDER[role]:
            raise HTTPException(status_code=403, detail="forbidden")
        return user

    return dependency


def as_user(user_id: str, role: str, agent_id: str | None = None) -> dict[str, str]:
    return {"X-Test-User": ":".join(p for p in (user_id, role, agent_id) if p)}
