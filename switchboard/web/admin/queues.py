"""Admin pages for queues: list, add, edit (targets, timings, strategy, relaxation steps), delete."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from acd.config_edit import ConfigEditor
from acd.model import NAME_RE, AcdConfig, Queue
from switchboard.web.admin.common import AdminServices
from switchboard.web.admin.crud import ItemKind, add_item_pages
from switchboard.web.admin.forms import STEP_ACTIONS, STRATEGIES, QueueForm


def queue_values(config: AcdConfig, form: QueueForm) -> dict[str, Any]:
    """What the queue form offers: declared skills, the other queues (to overflow to), strategies, actions."""
    return {
        "skills": sorted(config.skills),
        "queues": sorted(q for q in config.queues if q != form.name),
        "strategies": STRATEGIES,
        "actions": STEP_ACTIONS,
    }


# Saving keeps the calls waiting in the queue in their place; deleting is refused while calls wait in it
# or another queue overflows into it.
QUEUES: ItemKind[QueueForm, Queue] = ItemKind(
    word="queue",
    plural="queues",
    key_param="name",
    key_pattern=NAME_RE.pattern,
    form=QueueForm,
    items=lambda config: config.queues,
    form_values=queue_values,
    add=ConfigEditor.add_queue,
    replace=ConfigEditor.replace_queue,
    delete=ConfigEditor.delete_queue,
)


def add_queue_pages(router: APIRouter, services: AdminServices) -> None:
    """``/admin/queues``: the list, ``/new``, ``/{name}/edit`` and ``/{name}/delete``."""
    add_item_pages(router, services, QUEUES)
