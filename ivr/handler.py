"""The FastAGI handler for ``agi://controller/ivr/<flow>``: picks the flow and runs it on the session."""

from __future__ import annotations

import logging
import re

from ivr.fastagi.environment import split_script
from ivr.fastagi.server import AgiHandler
from ivr.fastagi.session import AgiSession
from ivr.flows.registry import FlowRegistry, FlowSet
from ivr.runtime.runner import FlowRunner

log = logging.getLogger(__name__)

_FLOW_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


def flow_name_from_script(network_script: str) -> str | None:
    """``ivr/main`` (or ``/ivr/main?x=1``, or a bare ``main``) -> ``main``; None when no usable name."""
    first, rest = split_script(network_script)
    name = (rest if first == "ivr" or rest else first).strip("/")
    return name if _FLOW_NAME.fullmatch(name) else None


def choose_flow(flows: FlowSet, network_script: str, default_flow: str, call_id: str) -> str:
    """The flow a call runs: the one named in the script when loaded, else the default flow (logged)."""
    wanted = flow_name_from_script(network_script)
    if wanted is not None and wanted in flows:
        return wanted
    log.warning(
        "unknown flow requested, running the default call_id=%s requested=%r default=%s",
        call_id,
        network_script[:80],
        default_flow,
    )
    return default_flow


def make_ivr_handler(registry: FlowRegistry, runner: FlowRunner, *, default_flow: str = "main") -> AgiHandler:
    """An AgiHandler (for ``Router.add("ivr", ...)``) that runs one flow per call and never raises."""

    async def handle(session: AgiSession) -> None:
        flows = registry.snapshot()  # this call keeps these versions to its end
        name = choose_flow(flows, session.env.network_script, default_flow, session.call_id)
        # a missing default flow still runs: the runner apologises and hands the call to the default queue
        await runner.run(session, flows, name)

    return handle
