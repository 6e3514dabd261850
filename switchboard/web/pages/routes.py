"""The supervisor and agent pages: wallboard, agent desk, call detail, recordings; their live feeds.

Every route states its role. Pages render server-side; the live parts (wallboard, desk) subscribe to an
SSE feed at ``/api/wallboard`` and ``/api/desk`` (the same URLs answer one JSON snapshot to API clients).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse

from acd.store import StreamEvent
from switchboard.users.model import Role
from switchboard.web.auth import CurrentUser, require_role
from switchboard.web.pages.live import CACHE_SECONDS, Live, follow
from switchboard.web.pages.queries import PagesDataError
from switchboard.web.shell import WebShell

STATIC_DIR = Path(__file__).resolve().parent / "static"
STATIC_FILES = {p.name: p for p in STATIC_DIR.iterdir() if p.is_file()} if STATIC_DIR.is_dir() else {}
MEDIA_TYPES = {".js": "text/javascript", ".css": "text/css"}
CALL_ID = r"^[A-Za-z0-9._:@-]{1,64}$"
PAGE_SIZE = 50

Agent = Annotated[CurrentUser, Depends(require_role(Role.AGENT))]
Supervisor = Annotated[CurrentUser, Depends(require_role(Role.SUPERVISOR))]
SSE_HEADERS = {"cache-control": "no-store", "x-accel-buffering": "no"}


def wants_stream(request: Request) -> bool:
    return "text/event-stream" in request.headers.get("accept", "")


def make_page_routers(live: Live, shell: WebShell, recordings: Any | None) -> list[APIRouter]:
    """The pages' routers (``recordings``: the recordings feature's service, or None when not wired)."""
    router = APIRouter(include_in_schema=False)
    api = APIRouter(prefix="/api", tags=["pages"])

    @router.get("/ui/static/{name}")
    async def page_asset(name: Annotated[str, PathParam(max_length=64)], user: Agent) -> FileResponse:
        """The pages' scripts and styles (an allow-list: never a path from the request)."""
        path = STATIC_FILES.get(name)
        if path is None:
            raise HTTPException(404, "no such file")
        return FileResponse(
            path, media_type=MEDIA_TYPES.get(path.suffix, "application/octet-stream"),
            headers={"cache-control": "private, max-age=3600"},
        )  # fmt: skip

    # ---- wallboard ----

    @router.get("/wallboard")
    async def wallboard_page(request: Request, user: Supervisor) -> Response:
        """The wall screen: queues, agents, IVR, self-service; live."""
        return shell.render(request, "wallboard.html", {"board": await live.wallboard()})

    @api.get("/wallboard", summary="Wallboard figures (JSON) or their live feed (text/event-stream)")
    async def wallboard_feed(request: Request, user: Supervisor) -> Response:
        """One snapshot as JSON; with ``Accept: text/event-stream`` a snapshot per batch of ACD events."""
        if not wants_stream(request):
            return JSONResponse(await live.wallboard())

        async def snapshot(last: str, events: list[StreamEvent]) -> tuple[str, Any]:
            # Fresh for every batch of events: a cached board could predate the event it announces.
            return "board", await live.wallboard(last, max_age=0 if events else CACHE_SECONDS)

        return StreamingResponse(
            follow(live, snapshot, request.is_disconnected),
            media_type="text/event-stream",
            headers=SSE_HEADERS,
        )

    # ---- agent desk ----

    def my_agent(user: CurrentUser) -> str:
        if not user.agent_id:
            raise HTTPException(409, "your user is not linked to an ACD agent; ask an admin to link it")
        return user.agent_id

    @router.get("/desk")
    async def desk_page(request: Request, user: Agent) -> Response:
        """The agent's desk: state buttons and the screen pop of the offered call."""
        desk = await live.desk(user.agent_id) if user.agent_id else None
        return shell.render(request, "desk.html", {"desk": desk})

    @api.get("/desk", summary="My desk (JSON) or its live feed (text/event-stream)")
    async def desk_feed(request: Request, user: Agent) -> Response:
        """The signed-in agent's state and screen pop; live with ``Accept: text/event-stream``."""
        agent_id = my_agent(user)
        if not wants_stream(request):
            return JSONResponse(await live.desk(agent_id))

        async def snapshot(last: str, events: list[StreamEvent]) -> tuple[str, Any] | None:
            mine = [e for e in events if e.fields.get("agent") == agent_id]
            if events and not mine:
                return None  # other agents' events: nothing for this desk
            offer = next((e for e in reversed(mine) if e.type == "assigned"), None)
            if offer is None:
                return "desk", await live.desk(agent_id, last)
            return "desk", await live.desk(agent_id, last, offer.fields.get("why"), offer.fields.get("call"))

        return StreamingResponse(
            follow(live, snapshot, request.is_disconnected),
            media_type="text/event-stream",
            headers=SSE_HEADERS,
        )

    # ---- call detail ----

    @router.get("/calls/{call_id}")
    async def call_page(
        request: Request, call_id: Annotated[str, PathParam(pattern=CALL_ID)], user: Agent
    ) -> Response:
        """One call: IVR path, queue wait, routing explanation, agent, recording, transcript, survey."""
        try:
            view = await live.queries.call(call_id)
        except PagesDataError as exc:
            raise HTTPException(503, str(exc)) from None
        # An agent may not even learn that another agent's call exists.
        if not view.found or not user.may_see_agent(view.agent_id):
            raise HTTPException(404, "no such call")
        return shell.render(request, "call.html", {"call": view, "recordings_wired": recordings is not None})

    # ---- recordings ----

    @router.get("/recordings-search")
    async def recordings_page(
        request: Request,
        user: Agent,
        q: Annotated[str | None, Query(max_length=200)] = None,
        offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    ) -> Response:
        """Search transcripts, list recordings (agents: their own), play them in the page."""
        items: list[Any] = []
        matches: dict[str, Any] = {}
        total = 0
        problem = None
        if recordings is None:
            problem = "Recordings are not enabled on this controller."
        else:
            from recordings.queries import RecordingFilter
            from recordings.service import Viewer

            viewer = Viewer(user_id=user.id, role=user.role.value, agent_id=user.agent_id)
            text = (q or "").strip() or None
            page = await recordings.search(viewer, RecordingFilter(text=text), limit=PAGE_SIZE, offset=offset)
            items, matches, total = page.items, page.matches, page.total
        return shell.render(
            request,
            "recordings.html",
            {
                "q": q or "",
                "items": items,
                "matches": matches,
                "total": total,
                "offset": offset,
                "page_size": PAGE_SIZE,
                "problem": problem,
                "may_hold": user.has_role(Role.SUPERVISOR),
            },
        )

    return [router, api]
