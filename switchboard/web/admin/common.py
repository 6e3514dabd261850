"""What every admin page shares: its services, error pages, flash messages by key, redirects, refusals."""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from acd.config_edit import ConfigConflict, ConfigEditor, ConfigNotFound, NoConfigStore
from acd.errors import AcdError, StoreError, UnknownAgentError
from acd.model import AcdConfig
from ivr.flows.registry import FlowRegistry
from switchboard.clock import Clock
from switchboard.web.admin.forms import FormError
from switchboard.web.shell import WebShell

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC_DIR = HERE / "static"
MAX_FORM_FIELDS = 1000  # an agent form has a field per declared skill and region
UNAVAILABLE = "The database or Redis is unavailable; nothing was changed. Try again shortly."

# Messages after a redirect are chosen from this table by key: nothing the request says is echoed.
FLASH = {
    "agent-added": "Agent added.",
    "agent-saved": "Agent saved.",
    "agent-deleted": "Agent deleted.",
    "skill-added": "Skill added.",
    "skill-deleted": "Skill deleted.",
    "region-added": "Region added.",
    "region-deleted": "Region deleted.",
    "queue-added": "Queue added.",
    "queue-saved": "Queue saved.",
    "queue-deleted": "Queue deleted.",
    "absence-added": "Absence planned.",
    "absence-deleted": "Absence cancelled.",
}
PageRoute = Callable[..., Awaitable[Response]]
T = TypeVar("T")

# The editor's messages end with hints for API users ("; POST /api/..."): pages have buttons instead.
_API_HINT = re.compile(r";?\s*(?:add it first with )?(?:POST|PUT|DELETE) /api/[^\s;]+(?: adds one)?")


class PageError(Exception):
    """The page cannot be shown: the error page with this heading, message and status is shown instead."""

    def __init__(self, heading: str, message: str, status: int) -> None:
        super().__init__(message)
        self.heading = heading
        self.message = message
        self.status = status


def lookup(items: Mapping[str, T], key: str, what: str) -> T:
    """``items[key]``; PageError "No such ``what``" (404) when there is none."""
    item = items.get(key)
    if item is None:
        raise PageError(f"No such {what}", f"That {what} does not exist.", 404)
    return item


@dataclass
class AdminServices:
    """What the admin pages work with."""

    shell: WebShell
    editor: ConfigEditor
    flows: FlowRegistry
    clock: Clock

    def render(
        self, request: Request, name: str, values: Mapping[str, Any], *, status: int = 200
    ) -> Response:
        """The template ``name`` (of these pages or the shell's) with ``values``."""
        return self.shell.render(request, name, values, status_code=status)

    def render_form(
        self,
        request: Request,
        name: str,
        values: Mapping[str, Any],
        *,
        error: str | None = None,
        status: int = 200,
    ) -> Response:
        """A page with forms: ``error`` when one was refused, else the message a redirect asked for."""
        shown = {**values, "flash": None if error else flash(request), "error": error}
        return self.render(request, name, shown, status=status)

    def page(self, route: PageRoute) -> PageRoute:
        """``route`` showing a PageError it raises as the error page (apply below ``@router.get``)."""

        # wraps: FastAPI reads the parameters (and their annotations' module) through __wrapped__
        @functools.wraps(route)
        async def shown(request: Request, *args: Any, **kwargs: Any) -> Response:
            try:
                return await route(request, *args, **kwargs)
            except PageError as exc:
                values = {"heading": exc.heading, "message": exc.message}
                return self.render(request, "error.html", values, status=exc.status)

        return shown

    async def config(self) -> AcdConfig:
        """The stored configuration; PageError (503) when the database or Redis is down."""
        try:
            return await self.editor.current()
        except StoreError:
            raise PageError("Configuration unavailable", UNAVAILABLE, 503) from None


def flash(request: Request) -> str | None:
    """The message a redirect asked for (``?done=key``), if it is one of ours."""
    return FLASH.get(request.query_params.get("done", ""))


def done(path: str, key: str) -> RedirectResponse:
    """POST-redirect-GET with a flash key from FLASH."""
    assert key in FLASH, key
    return RedirectResponse(f"{path}?done={key}", status_code=303)


async def read_form(request: Request) -> FormData:
    """The posted form (no files)."""
    return await request.form(max_files=0, max_fields=MAX_FORM_FIELDS)


def sentence(text: str) -> str:
    """A message as a sentence: capital first, a full stop at the end, no API hints."""
    text = _API_HINT.sub("", text).strip()
    if not text:
        return "That did not work."
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def refusal(exc: FormError | AcdError) -> tuple[str, int]:
    """What to tell the admin about a refused edit, and the HTTP status of the re-rendered form."""
    if isinstance(exc, FormError):
        return str(exc), 400
    if isinstance(exc, StoreError | NoConfigStore):
        log.error("admin edit failed: store unavailable error=%s", exc)
        return UNAVAILABLE, 503
    if isinstance(exc, ConfigConflict):
        return sentence(str(exc)), 409
    if isinstance(exc, UnknownAgentError | ConfigNotFound):
        return sentence(str(exc)), 404
    return sentence(str(exc)), 400
