"""HTTP routes for recordings: list and search, detail with transcript, playback and download with Range,
legal hold, audit log, re-transcription.

``require_role(role)`` comes from the users/roles module: it returns a FastAPI dependency that yields the
signed-in user (``.id``, ``.role``, ``.agent_id`` for agents) when the user holds ``role`` or a higher one
(agent < supervisor < admin), and refuses otherwise. Each route states the least role it needs.
Recordings are addressed by id only; the id never becomes part of a file path.

No ``from __future__ import annotations`` here: FastAPI must evaluate the route annotations, which refer to
dependencies made inside ``make_router``.
"""

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Annotated, Any, BinaryIO, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel

from recordings.model import AuditAction, Recording, RecordingState, Speaker, TranscriptSegment
from recordings.queries import RecordingFilter
from recordings.service import (
    AuditUnavailable,
    OpenedAudio,
    RangeRefused,
    RecordingGone,
    RecordingNotFound,
    RecordingNotReady,
    RecordingsService,
    Viewer,
)

CHUNK = 64 * 1024
SortKey = Literal[
    "started_at",
    "-started_at",
    "ended_at",
    "-ended_at",
    "duration",
    "-duration",
    "state",
    "-state",
    "caller_number",
    "-caller_number",
]
PRINTABLE = r"^[^\x00-\x1f\x7f]*$"  # control characters are never a valid id, queue or number
RecordingId = Annotated[str, Path(description="The recording's id (a ULID); anything else is 404")]


class SegmentOut(BaseModel):
    """A transcript segment; ``text`` is exactly what the engine produced (escape it when rendering)."""

    start_s: float
    end_s: float
    speaker: Speaker
    text: str
    confidence: float

    @classmethod
    def of(cls, s: TranscriptSegment) -> "SegmentOut":
        return cls(start_s=s.start_s, end_s=s.end_s, speaker=s.speaker, text=s.text, confidence=s.confidence)


class RecordingOut(BaseModel):
    """A recording's metadata (never its file path)."""

    id: str
    call_id: str | None
    state: RecordingState
    problem: str | None
    started_at: datetime
    ended_at: datetime | None
    duration_s: float | None
    size_bytes: int | None
    queue: str | None
    agent_id: str | None
    caller_number: str
    caller_name: str
    separate_legs: bool
    engine: str | None
    transcribed_at: datetime | None
    attempts: int
    legal_hold: bool
    delete_after: datetime | None
    deleted_at: datetime | None

    @classmethod
    def of(cls, r: Recording) -> "RecordingOut":
        return cls(
            id=r.id,
            call_id=r.call_id,
            state=r.state,
            problem=r.problem,
            started_at=r.started_at,
            ended_at=r.ended_at,
            duration_s=r.duration_s,
            size_bytes=r.size_bytes,
            queue=r.queue,
            agent_id=r.agent_id,
            caller_number=r.caller_number,
            caller_name=r.caller_name,
            separate_legs=bool(r.legs),
            engine=r.engine,
            transcribed_at=r.transcribed_at,
            attempts=r.attempts,
            legal_hold=r.legal_hold,
            delete_after=r.delete_after,
            deleted_at=r.deleted_at,
        )


class RecordingHit(RecordingOut):
    """A search result: the recording and (for a text search) the first segments that matched."""

    matches: list[SegmentOut] = []


class RecordingPage(BaseModel):
    """One page of results."""

    items: list[RecordingHit]
    total: int
    limit: int
    offset: int


class RecordingDetail(RecordingOut):
    """A recording with its transcript."""

    transcript: list[SegmentOut]


class LegalHoldIn(BaseModel):
    """Place (true) or lift (false) a legal hold."""

    hold: bool


class AuditOut(BaseModel):
    """One audit log entry."""

    user_id: str
    role: str
    action: AuditAction
    at: datetime
    client_ip: str | None


def _viewer(user: Any) -> Viewer:
    agent_id = getattr(user, "agent_id", None)
    return Viewer(user_id=str(user.id), role=str(user.role), agent_id=str(agent_id) if agent_id else None)


def _utc(value: datetime | None) -> datetime | None:
    # A time without a zone is taken as UTC (pages send the viewer's times with their offset).
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def _client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def _not_found() -> HTTPException:
    return HTTPException(status_code=404, detail="recording not found")


def _gone(exc: RecordingGone) -> JSONResponse:
    return JSONResponse(
        {"detail": str(exc), "state": exc.state.value, "problem": exc.problem}, status_code=410
    )


def _stream(file: BinaryIO, start: int, length: int) -> Iterator[bytes]:
    # A plain generator: Starlette runs it in a worker thread, so file reads never block the event loop.
    try:
        file.seek(start)
        remaining = length
        while remaining > 0:
            chunk = file.read(min(CHUNK, remaining))
            if not chunk:  # the file shrank under us: end the body (the client sees a short read)
                break
            remaining -= len(chunk)
            yield chunk
    finally:
        file.close()


def _audio_response(opened: OpenedAudio, disposition: str) -> Response:
    headers = {
        "Accept-Ranges": "bytes",
        "Cache-Control": "private, no-store",
        "X-Content-Type-Options": "nosniff",
        "Content-Disposition": f'{disposition}; filename="recording-{opened.recording.id}.wav"',
    }
    byte_range = opened.byte_range
    if byte_range is None:
        headers["Content-Length"] = str(opened.size)
        return StreamingResponse(
            _stream(opened.file, 0, opened.size), media_type="audio/wav", headers=headers
        )
    headers["Content-Length"] = str(byte_range.length)
    headers["Content-Range"] = byte_range.content_range
    return StreamingResponse(
        _stream(opened.file, byte_range.start, byte_range.length),
        status_code=206,
        media_type="audio/wav",
        headers=headers,
    )


def make_router(service: RecordingsService, *, require_role: Callable[[str], Any]) -> APIRouter:
    """The /recordings routes on ``service``, guarded by ``require_role``."""
    router = APIRouter(prefix="/recordings", tags=["recordings"])
    any_user = require_role("agent")
    supervisor = require_role("supervisor")

    @router.get("", response_model=RecordingPage)
    async def list_recordings(
        user: Annotated[Any, Depends(any_user)],
        q: Annotated[str | None, Query(max_length=200, description="Words in the transcript")] = None,
        state: RecordingState | None = None,
        call_id: Annotated[str | None, Query(max_length=64, pattern=PRINTABLE)] = None,
        agent_id: Annotated[str | None, Query(max_length=64, pattern=PRINTABLE)] = None,
        queue: Annotated[str | None, Query(max_length=64, pattern=PRINTABLE)] = None,
        caller_number: Annotated[str | None, Query(max_length=80, pattern=PRINTABLE)] = None,
        started_from: datetime | None = None,
        started_to: datetime | None = None,
        legal_hold: bool | None = None,
        sort: SortKey = "-started_at",
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    ) -> RecordingPage:
        """Recordings the user may see (agents: their own calls), filtered, sorted, paged; q searches text."""
        flt = RecordingFilter(
            state=state,
            call_id=call_id,
            agent_id=agent_id,
            queue=queue,
            caller_number=caller_number,
            started_from=_utc(started_from),
            started_to=_utc(started_to),
            legal_hold=legal_hold,
            text=q,
        )
        page = await service.search(_viewer(user), flt, sort=sort, limit=limit, offset=offset)
        items = [
            RecordingHit(
                **RecordingOut.of(r).model_dump(),
                matches=[SegmentOut.of(s) for s in page.matches.get(r.id, [])],
            )
            for r in page.items
        ]
        return RecordingPage(items=items, total=page.total, limit=limit, offset=offset)

    @router.get("/{recording_id}", response_model=RecordingDetail)
    async def get_recording(
        recording_id: RecordingId, user: Annotated[Any, Depends(any_user)]
    ) -> RecordingDetail:
        """A recording with its transcript (timestamps and speakers)."""
        try:
            rec, segments = await service.detail(_viewer(user), recording_id)
        except RecordingNotFound:
            raise _not_found() from None
        return RecordingDetail(
            **RecordingOut.of(rec).model_dump(), transcript=[SegmentOut.of(s) for s in segments]
        )

    async def _audio(
        recording_id: str, user: Any, request: Request, action: AuditAction, disposition: str
    ) -> Response:
        try:
            opened = await service.open_audio(
                _viewer(user),
                recording_id,
                action=action,
                client_ip=_client_ip(request),
                range_header=request.headers.get("range"),
            )
        except RecordingNotFound:
            raise _not_found() from None
        except RecordingGone as exc:
            return _gone(exc)
        except RecordingNotReady:
            raise HTTPException(status_code=409, detail="the call is still being recorded") from None
        except RangeRefused as exc:
            return JSONResponse(
                {"detail": f"range not satisfiable: {exc}"},
                status_code=416,
                headers={"Content-Range": f"bytes */{exc.size}", "Accept-Ranges": "bytes"},
            )
        except AuditUnavailable:
            raise HTTPException(status_code=503, detail="audit log unavailable; try again later") from None
        return _audio_response(opened, disposition)

    @router.get(
        "/{recording_id}/audio",
        response_class=StreamingResponse,
        responses={206: {"description": "Partial content"}, 410: {}, 416: {}},
    )
    async def play_recording(
        recording_id: RecordingId, request: Request, user: Annotated[Any, Depends(any_user)]
    ) -> Response:
        """The recording for the browser's audio element (HTTP Range for seeking); audited as a listen."""
        return await _audio(recording_id, user, request, AuditAction.LISTEN, "inline")

    @router.get(
        "/{recording_id}/download",
        response_class=StreamingResponse,
        responses={206: {"description": "Partial content"}, 410: {}, 416: {}},
    )
    async def download_recording(
        recording_id: RecordingId, request: Request, user: Annotated[Any, Depends(any_user)]
    ) -> Response:
        """The recording as a file download; audited as a download."""
        return await _audio(recording_id, user, request, AuditAction.DOWNLOAD, "attachment")

    @router.put("/{recording_id}/legal-hold", response_model=RecordingOut)
    async def set_legal_hold(
        recording_id: RecordingId,
        body: LegalHoldIn,
        request: Request,
        user: Annotated[Any, Depends(supervisor)],
    ) -> RecordingOut:
        """Place or lift a legal hold: a held recording is exempt from retention."""
        try:
            rec = await service.set_legal_hold(
                _viewer(user), recording_id, body.hold, client_ip=_client_ip(request)
            )
        except RecordingNotFound:
            raise _not_found() from None
        except RecordingGone:
            raise HTTPException(status_code=410, detail="recording already deleted") from None
        except AuditUnavailable:
            raise HTTPException(status_code=503, detail="audit log unavailable; try again later") from None
        return RecordingOut.of(rec)

    @router.get("/{recording_id}/audit", response_model=list[AuditOut])
    async def recording_audit(
        recording_id: RecordingId, user: Annotated[Any, Depends(supervisor)]
    ) -> list[AuditOut]:
        """Who listened to, downloaded or held the recording, newest first."""
        try:
            entries = await service.audit_log(_viewer(user), recording_id)
        except RecordingNotFound:
            raise _not_found() from None
        return [
            AuditOut(user_id=e.user_id, role=e.role, action=e.action, at=e.at, client_ip=e.client_ip)
            for e in entries
        ]

    @router.post("/{recording_id}/transcribe", response_model=RecordingOut, status_code=202)
    async def retranscribe(
        recording_id: RecordingId, user: Annotated[Any, Depends(supervisor)]
    ) -> RecordingOut:
        """Queue the recording for transcription again (after a failure, or another engine)."""
        try:
            rec = await service.retranscribe(_viewer(user), recording_id)
        except RecordingNotFound:
            raise _not_found() from None
        except RecordingNotReady:
            raise HTTPException(
                status_code=409, detail="recording cannot be transcribed in its state"
            ) from None
        return RecordingOut.of(rec)

    return router
