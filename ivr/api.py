"""The flows admin API: list the flow files with their status, check flow text, reload the directory now.

Routes (every one guarded through the ``require_role`` the composition root hands in):

- supervisor: ``GET /api/ivr/flows`` — each file's status (loaded, or failed with its problems), the
  version new calls get and when it was loaded;
- admin: ``POST /api/ivr/flows/validate?name=N`` with the YAML as the body, ``POST
  /api/ivr/flows/{name}/validate`` for the file on disk — problems with line and reason, nothing is loaded
  or run; ``POST /api/ivr/flows/reload`` — re-read the directory now (a bad file never replaces the good
  version running).

A flow is named, never located: no request text becomes a file path.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi import Path as PathParam
from pydantic import BaseModel, Field

from ivr.flows.problems import FlowProblem
from ivr.flows.registry import FlowFileState, FlowRegistry, ReloadReport, UnknownFlowFile
from ivr.flows.types import NAME_PATTERN
from switchboard.users.model import Role

TAG = "IVR flows"
FlowName = Annotated[str, PathParam(pattern=NAME_PATTERN, description="The flow's name (its file name)")]
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
YAML_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "The flow file's text (UTF-8 YAML)",
        "content": {"application/yaml": {"schema": {"type": "string"}}},
    }
}


class FlowProblemOut(BaseModel):
    """One problem: the file (name only), the line (null when the whole file is at fault), the reason."""

    file: str
    line: int | None
    reason: str

    @classmethod
    def of(cls, problem: FlowProblem) -> FlowProblemOut:
        return cls(file=Path(problem.file).name, line=problem.line, reason=problem.reason)


class FlowFileOut(BaseModel):
    """A flow file: ``loaded`` runs as written; ``failed`` has problems (``running``: an older one runs)."""

    name: str
    file: str
    status: Literal["loaded", "failed"]
    running: bool
    version: str | None = Field(description="Content hash of the version new calls get")
    loaded_at: datetime | None = Field(description="When the running version was loaded")
    problems: list[FlowProblemOut]

    @classmethod
    def of(cls, state: FlowFileState) -> FlowFileOut:
        return cls(
            name=state.name,
            file=state.path.name,
            status=state.status.value,
            running=state.running_version is not None,
            version=state.running_version,
            loaded_at=state.loaded_at,
            problems=[FlowProblemOut.of(p) for p in state.problems],
        )


class FlowListOut(BaseModel):
    reloaded_at: datetime | None = Field(description="The last time the directory was read")
    flows: list[FlowFileOut]


class ValidateOut(BaseModel):
    name: str
    valid: bool
    problems: list[FlowProblemOut]


class ReloadOut(BaseModel):
    """What a reload changed, and every file's state after it."""

    loaded: list[str] = Field(description="New or changed flows now running")
    kept: list[str] = Field(description="Changed files with problems: the previous version keeps running")
    rejected: list[str] = Field(description="New files with problems: not running")
    removed: list[str] = Field(description="Deleted files: no longer offered to new calls")
    problems: list[FlowProblemOut]
    flows: list[FlowFileOut]

    @classmethod
    def of(cls, report: ReloadReport, files: list[FlowFileState]) -> ReloadOut:
        return cls(
            loaded=list(report.loaded),
            kept=list(report.kept),
            rejected=list(report.rejected),
            removed=list(report.removed),
            problems=[FlowProblemOut.of(p) for p in report.problems],
            flows=[FlowFileOut.of(f) for f in files],
        )


async def read_bounded(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it passes ``limit`` bytes (never read whole first)."""
    if request.headers.get("content-type", "").startswith(FORM_TYPES):
        # A form body may already have been consumed (the CSRF check reads forms); YAML is text anyway.
        raise HTTPException(415, "send the flow text as the body (Content-Type: application/yaml)")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"the flow text is larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, f"the flow text is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def reload_now(registry: FlowRegistry) -> tuple[ReloadReport, list[FlowFileState]]:
    """Re-read the flows directory in a worker thread (file I/O and parsing stay off the event loop)."""
    report = await asyncio.to_thread(registry.reload)
    return report, registry.files()


def make_flows_router(registry: FlowRegistry, *, require_role: Callable[..., Any]) -> APIRouter:
    """``/api/ivr/flows``: supervisors list; admins validate and reload."""
    router = APIRouter(
        prefix="/api/ivr/flows", tags=[TAG], dependencies=[Depends(require_role(Role.SUPERVISOR))]
    )
    admin = [Depends(require_role(Role.ADMIN))]

    @router.get("", summary="Flow files and their status")
    async def list_flows() -> FlowListOut:
        """Every flow file: loaded or failed, the running version and when it was loaded, the problems."""
        return FlowListOut(
            reloaded_at=registry.reloaded_at, flows=[FlowFileOut.of(f) for f in registry.files()]
        )

    @router.post(
        "/validate",
        dependencies=admin,
        summary="Check flow text without loading it",
        openapi_extra=YAML_BODY,
        responses={
            413: {"description": "The text is larger than a flow file may be"},
            415: {"description": "A form was sent instead of the flow text"},
        },
    )
    async def validate_text(
        request: Request,
        name: Annotated[str, Query(pattern=NAME_PATTERN, description="The flow's name (file name)")],
    ) -> ValidateOut:
        """Parse and check the body as flow ``name``: problems with line and reason. Nothing runs."""
        data = await read_bounded(request, registry.max_bytes)
        problems = await asyncio.to_thread(registry.check, name, data)
        return ValidateOut(name=name, valid=not problems, problems=[FlowProblemOut.of(p) for p in problems])

    @router.post(
        "/{name}/validate",
        dependencies=admin,
        summary="Check a flow file on disk without loading it",
        responses={404: {"description": "No flow file of that name"}},
    )
    async def validate_file(name: FlowName) -> ValidateOut:
        """Check the file as it is on disk now (for example before a reload)."""
        try:
            problems = await asyncio.to_thread(registry.check, name)
        except UnknownFlowFile:
            raise HTTPException(404, f"no flow file named {name!r} in the flows directory") from None
        return ValidateOut(name=name, valid=not problems, problems=[FlowProblemOut.of(p) for p in problems])

    @router.post("/reload", dependencies=admin, summary="Reload the flows directory now")
    async def reload_flows() -> ReloadOut:
        """Re-read changed files; a file with problems keeps its previous good version running."""
        return ReloadOut.of(*await reload_now(registry))

    return router
