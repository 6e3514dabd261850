"""Admin pages for agents: list, add, edit (skills, regions, languages, time zone, substitutes), delete."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from acd.config_edit import ConfigEditor
from acd.model import AGENT_ID_RE, AcdConfig, Agent
from switchboard.web.admin.common import AdminServices
from switchboard.web.admin.crud import ItemKind, add_item_pages
from switchboard.web.admin.forms import AgentForm, time_zones


def agent_values(config: AcdConfig, form: AgentForm) -> dict[str, Any]:
    """What the agent form offers: declared skills and regions, the other agents, time zones."""
    return {
        "skills": sorted(config.skills),
        "regions": sorted(config.regions),
        "others": [config.agents[a] for a in sorted(config.agents) if a != form.id],
        "time_zones": time_zones(),
    }


# Deleting an agent deletes their absences too; it is refused while another agent names them as substitute.
AGENTS: ItemKind[AgentForm, Agent] = ItemKind(
    word="agent",
    plural="agents",
    key_param="agent_id",
    key_pattern=AGENT_ID_RE.pattern,
    form=AgentForm,
    items=lambda config: config.agents,
    form_values=agent_values,
    add=ConfigEditor.add_agent,
    replace=ConfigEditor.replace_agent,
    delete=ConfigEditor.delete_agent,
)


def add_agent_pages(router: APIRouter, services: AdminServices) -> None:
    """``/admin/agents``: the list, ``/new``, ``/{agent_id}/edit`` and ``/{agent_id}/delete``."""
    add_item_pages(router, services, AGENTS)
