"""The list / new / edit / delete pages of one kind of configured item (agents, queues), from its description.

    add_item_pages(router, services, AGENTS)   # AGENTS = ItemKind(word="agent", plural="agents", ...)

For agents and queues these pages work alike; the description names what differs: the form, the editor's
calls, what the form's template needs besides the form. Each kind keeps its own URLs, templates
(admin/<word>.html, admin/<plural>.html), flash keys (<word>-added, -saved, -deleted) and path parameter.
"""

# No ``from __future__ import annotations``: the key's path parameter is built per kind when the pages are
# added, and FastAPI must find that object in the signature, not a name to look up in this module.

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Generic, Protocol, Self, TypeVar

from fastapi import APIRouter
from fastapi import Path as PathParam
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from acd.config_edit import ConfigEditor
from acd.errors import AcdError
from acd.model import AcdConfig
from switchboard.web.admin.common import AdminServices, done, flash, lookup, read_form, refusal
from switchboard.web.admin.forms import FormError, text

CONFIRM_DELETION = "Tick the box to confirm the deletion."


class ItemForm(Protocol):
    """What the pages need of an item's form (AgentForm, QueueForm)."""

    @classmethod
    def read(cls, form: FormData) -> Self: ...

    @classmethod
    def of(cls, item: Any) -> Self: ...

    def fields(self) -> Any: ...

    def checked_key(self) -> str: ...

    def for_key(self, key: str) -> Self: ...


F = TypeVar("F", bound=ItemForm)
T = TypeVar("T")


@dataclass(frozen=True)
class ItemKind(Generic[F, T]):
    """One kind of item: its names, its form, where the configuration keeps it, how the editor changes it."""

    word: str  # "agent": the form's template, flash keys, "No such agent"
    plural: str  # "agents": the URLs under /admin, the list's template and its variable
    key_param: str  # the key's name in the URL (what a refused URL reports), e.g. "agent_id"
    key_pattern: str
    form: type[F]
    items: Callable[[AcdConfig], Mapping[str, T]]
    form_values: Callable[[AcdConfig, F], dict[str, Any]]  # what the form's template needs besides it
    add: Callable[[ConfigEditor, str, Any], Awaitable[object]]
    replace: Callable[[ConfigEditor, str, Any], Awaitable[object]]
    delete: Callable[[ConfigEditor, str], Awaitable[object]]


def add_item_pages(router: APIRouter, services: AdminServices, kind: ItemKind[Any, Any]) -> None:
    """``/<plural>`` (the list; POST adds), ``/<plural>/new``, ``/<plural>/{key}/edit`` and ``/delete``."""
    s = services
    base = f"/{kind.plural}"
    one = f"{base}/{{{kind.key_param}}}"
    Key = Annotated[str, PathParam(alias=kind.key_param, pattern=kind.key_pattern)]

    def item_form(
        request: Request,
        config: AcdConfig,
        form: ItemForm,
        *,
        new: bool,
        error: str | None = None,
        status: int = 200,
    ) -> Response:
        values = {"form": form, "new": new, **kind.form_values(config, form)}
        return s.render_form(request, f"admin/{kind.word}.html", values, error=error, status=status)

    async def refused(
        request: Request, form: ItemForm, exc: FormError | AcdError, *, key: str | None
    ) -> Response:
        """The form again, as typed, saying why (the not-found page if the item at ``key`` is gone)."""
        message, status = refusal(exc)
        config = await s.config()
        if key is not None:
            lookup(kind.items(config), key, kind.word)
        return item_form(request, config, form, new=key is None, error=message, status=status)

    @router.get(base, name=f"{kind.plural}_page")
    @s.page
    async def list_page(request: Request) -> Response:
        """Every item, by key."""
        items = kind.items(await s.config())
        values = {kind.plural: [items[k] for k in sorted(items)], "flash": flash(request)}
        return s.render(request, f"admin/{kind.plural}.html", values)

    @router.get(f"{base}/new", name=f"new_{kind.word}_page")
    @s.page
    async def new_page(request: Request) -> Response:
        """An empty form (with the form's defaults)."""
        return item_form(request, await s.config(), kind.form(), new=True)

    @router.post(base, name=f"add_{kind.word}")
    @s.page
    async def add(request: Request) -> Response:
        """Add the item the form describes; on a refusal the form comes back as typed."""
        form = kind.form.read(await read_form(request))
        try:
            await kind.add(s.editor, form.checked_key(), form.fields())
        except (FormError, AcdError) as exc:
            return await refused(request, form, exc, key=None)
        return done(f"/admin{base}", f"{kind.word}-added")

    @router.get(f"{one}/edit", name=f"edit_{kind.word}_page")
    @s.page
    async def edit_page(request: Request, key: Key) -> Response:
        """The item's form, filled in."""
        config = await s.config()
        item = lookup(kind.items(config), key, kind.word)
        return item_form(request, config, kind.form.of(item), new=False)

    @router.post(f"{one}/edit", name=f"save_{kind.word}")
    @s.page
    async def save(request: Request, key: Key) -> Response:
        """Replace the item's configuration with the form's (its live state is the editor's business)."""
        form = kind.form.read(await read_form(request)).for_key(key)
        try:
            await kind.replace(s.editor, key, form.fields())
        except (FormError, AcdError) as exc:
            return await refused(request, form, exc, key=key)
        return done(f"/admin{base}/{key}/edit", f"{kind.word}-saved")

    @router.post(f"{one}/delete", name=f"delete_{kind.word}")
    @s.page
    async def delete(request: Request, key: Key) -> Response:
        """Delete the item once the box is ticked (the editor refuses while something still needs it)."""
        posted = await read_form(request)
        config = await s.config()
        form = kind.form.of(lookup(kind.items(config), key, kind.word))
        if text(posted, "confirm", 5) != "yes":
            return item_form(request, config, form, new=False, error=CONFIRM_DELETION, status=400)
        try:
            await kind.delete(s.editor, key)
        except AcdError as exc:
            return await refused(request, form, exc, key=key)
        return done(f"/admin{base}", f"{kind.word}-deleted")
