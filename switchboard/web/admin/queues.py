"""Admin pages for queues: list, add, edit (targets, timings, strategy, relaxation steps), delete."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter
from fastapi import Path as PathParam
from starlette.requests import Request
from starlette.responses import Response

from acd.errors import AcdError, StoreError
from acd.model import NAME_RE, AcdConfig
from switchboard.web.admin.common import UNAVAILABLE, AdminServices, done, flash, read_form, refusal
from switchboard.web.admin.forms import STEP_ACTIONS, STRATEGIES, FormError, QueueForm, text

QueueName = Annotated[str, PathParam(pattern=NAME_RE.pattern)]


def add_queue_pages(router: APIRouter, services: AdminServices) -> None:
    """``/admin/queues``: the list, ``/new``, ``/{name}/edit`` and ``/{name}/delete``."""
    s = services

    def queue_form(
        request: Request,
        config: AcdConfig,
        form: QueueForm,
        *,
        new: bool,
        error: str | None = None,
        status: int = 200,
    ) -> Response:
        values: dict[str, Any] = {
            "form": form,
            "new": new,
            "skills": sorted(config.skills),
            "queues": sorted(q for q in config.queues if q != form.name),
            "strategies": STRATEGIES,
            "actions": STEP_ACTIONS,
            "flash": None if error else flash(request),
            "error": error,
        }
        return s.render(request, "admin/queue.html", values, status=status)

    def unavailable(request: Request) -> Response:
        return s.error_page(request, "Configuration unavailable", UNAVAILABLE, 503)

    def no_queue(request: Request) -> Response:
        return s.error_page(request, "No such queue", "That queue does not exist.", 404)

    async def refused(request: Request, form: QueueForm, exc: FormError | AcdError, *, new: bool) -> Response:
        message, status = refusal(exc)
        try:
            config = await s.config()
        except StoreError:
            return unavailable(request)
        if not new and form.name not in config.queues:
            return no_queue(request)
        return queue_form(request, config, form, new=new, error=message, status=status)

    @router.get("/queues")
    async def queues_page(request: Request) -> Response:
        """Every queue with its target, timings, strategy and relaxation steps."""
        try:
            config = await s.config()
        except StoreError:
            return unavailable(request)
        values = {"queues": [config.queues[q] for q in sorted(config.queues)], "flash": flash(request)}
        return s.render(request, "admin/queues.html", values)

    @router.get("/queues/new")
    async def new_queue_page(request: Request) -> Response:
        """A queue form with the defaults filled in."""
        try:
            config = await s.config()
        except StoreError:
            return unavailable(request)
        return queue_form(request, config, QueueForm(), new=True)

    @router.post("/queues")
    async def add_queue(request: Request) -> Response:
        """Add the queue the form describes; on a refusal the form comes back as typed."""
        form = QueueForm.read(await read_form(request))
        try:
            if not NAME_RE.fullmatch(form.name):
                raise FormError(
                    "Queue name: lower-case letters, digits and '_.-', up to 64, "
                    "starting with a letter or digit."
                )
            await s.editor.add_queue(form.name, form.fields())
        except (FormError, AcdError) as exc:
            return await refused(request, form, exc, new=True)
        return done("/admin/queues", "queue-added")

    @router.get("/queues/{name}/edit")
    async def edit_queue_page(request: Request, name: QueueName) -> Response:
        """The queue's form, filled in."""
        try:
            config = await s.config()
        except StoreError:
            return unavailable(request)
        queue = config.queues.get(name)
        if queue is None:
            return no_queue(request)
        return queue_form(request, config, QueueForm.of(queue), new=False)

    @router.post("/queues/{name}/edit")
    async def save_queue(request: Request, name: QueueName) -> Response:
        """Replace the queue's configuration (calls waiting in it keep their place)."""
        form = QueueForm.read(await read_form(request))
        form.name = name
        try:
            await s.editor.replace_queue(name, form.fields())
        except (FormError, AcdError) as exc:
            return await refused(request, form, exc, new=False)
        return done(f"/admin/queues/{name}/edit", "queue-saved")

    @router.post("/queues/{name}/delete")
    async def delete_queue(request: Request, name: QueueName) -> Response:
        """Delete the queue once the box is ticked (refused while calls wait or a queue overflows here)."""
        posted = await read_form(request)
        try:
            config = await s.config()
        except StoreError:
            return unavailable(request)
        queue = config.queues.get(name)
        if queue is None:
            return no_queue(request)
        form = QueueForm.of(queue)
        if text(posted, "confirm", 5) != "yes":
            error = "Tick the box to confirm the deletion."
            return queue_form(request, config, form, new=False, error=error, status=400)
        try:
            await s.editor.delete_queue(name)
        except AcdError as exc:
            return await refused(request, form, exc, new=False)
        return done("/admin/queues", "queue-deleted")
