"""Shared pieces of the ACD routers: path types, tags, documented errors, and the error translation."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import HTTPException, Query
from fastapi import Path as PathParam

from acd.config_edit import ConfigConflict, ConfigNotFound, NoConfigStore
from acd.errors import (
    AcdValidationError,
    AgentUnavailableError,
    InvalidTransitionError,
    StoreError,
    UnknownAgentError,
)
from acd.model import AGENT_ID_RE, NAME_RE

log = logging.getLogger(__name__)

AgentPath = Annotated[str, PathParam(pattern=AGENT_ID_RE.pattern, description="The ACD agent id")]
NamePath = Annotated[str, PathParam(pattern=NAME_RE.pattern)]
AbsencePath = Annotated[str, PathParam(min_length=1, max_length=64)]
Minutes = Annotated[
    int | None,
    Query(ge=1, le=10_080, description="Window: the last N minutes (default: today, from local midnight)"),
]
TAG_AGENT, TAG_SUPERVISOR, TAG_ADMIN, TAG_OPS = (
    "ACD agents",
    "ACD supervision",
    "ACD configuration",
    "operations",
)
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "A value the routing model refuses (the detail says which and why)"},
    401: {"description": "Not signed in (no session cookie or bearer token)"},
    403: {"description": "Signed in, but the role (or, for agents, the agent) does not allow this"},
    503: {"description": "Redis or the database is unavailable; nothing was changed"},
}


@contextmanager
def acd_errors() -> Iterator[None]:
    """Translate the domain's errors into HTTP answers (the one boundary between the two)."""
    try:
        yield
    except (UnknownAgentError, ConfigNotFound) as exc:
        raise HTTPException(404, str(exc)) from None
    except NoConfigStore as exc:
        raise HTTPException(503, str(exc)) from None
    except (InvalidTransitionError, AgentUnavailableError, ConfigConflict) as exc:
        raise HTTPException(409, str(exc)) from None
    except AcdValidationError as exc:
        raise HTTPException(400, str(exc)) from None
    except StoreError as exc:
        log.error("acd api store failure error=%s", exc)
        raise HTTPException(503, "the ACD's Redis or database is unavailable; try again shortly") from None
