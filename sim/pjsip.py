"""PJSIP endpoints: configuration, registrations and the device states Asterisk reports for them."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sim.channels import ChannelState

if TYPE_CHECKING:
    from sim.pbx import Pbx

log = logging.getLogger(__name__)

# ast_devstate_str(): what PJSIPShowEndpoints prints for each device state.
DEVICE_STATE_TEXT = {
    "NOT_INUSE": "Not in use",
    "INUSE": "In use",
    "BUSY": "Busy",
    "UNAVAILABLE": "Unavailable",
    "RINGING": "Ringing",
    "RINGINUSE": "Ring+Inuse",
    "ONHOLD": "On Hold",
    "UNKNOWN": "Unknown",
}


@dataclass
class Endpoint:
    """A configured endpoint; agents register, trunks are reachable without registering."""

    name: str
    context: str = "default"
    aors: str = ""
    auth: str = ""
    transport: str = ""
    trunk: bool = False
    contact: str | None = None
    device_state: str = "UNAVAILABLE"

    @property
    def reachable(self) -> bool:
        return self.trunk or self.contact is not None


_SECTION = re.compile(r"^\[([^\]]+)\](?:\(([^)]*)\))?\s*$")


def parse_pjsip_conf(text: str) -> list[Endpoint]:
    """Endpoints of a pjsip.conf (templates applied; endpoints with an ``identify`` count as trunks)."""
    sections: list[tuple[str, dict[str, str], bool]] = []
    templates: dict[str, dict[str, str]] = {}
    for raw in text.splitlines():
        line = raw.split(";", 1)[0].strip()
        if not line:
            continue
        match = _SECTION.match(line)
        if match:
            name, inherit = match.group(1).strip(), (match.group(2) or "")
            options: dict[str, str] = {}
            is_template = False
            for parent in (p.strip() for p in inherit.split(",") if p.strip()):
                if parent == "!":
                    is_template = True
                elif parent in templates:
                    options.update(templates[parent])
            sections.append((name, options, is_template))
            if is_template:
                templates[name] = options
            continue
        if "=" in line and sections:
            key, value = (part.strip() for part in line.split("=", 1))
            sections[-1][1][key.lstrip(">").strip()] = value.lstrip(">").strip()
    identified = {opts.get("endpoint", "") for _, opts, tmpl in sections
                  if not tmpl and opts.get("type") == "identify"}
    endpoints = []
    for name, opts, is_template in sections:
        if is_template or opts.get("type") != "endpoint":
            continue
        endpoints.append(Endpoint(name=name, context=opts.get("context", "default"),
                                  aors=opts.get("aors", ""),
                                  auth=opts.get("auth", ""), transport=opts.get("transport", ""),
                                  trunk=name in identified or not opts.get("aors")))
    return endpoints


class PjsipRegistry:
    """Endpoints by name; registering and unregistering emits what res_pjsip emits."""

    def __init__(self, pbx: Pbx) -> None:
        self._pbx = pbx
        self.endpoints: dict[str, Endpoint] = {}

    def load_config(self, path: Path) -> None:
        """Add every endpoint of a pjsip.conf."""
        for ep in parse_pjsip_conf(Path(path).read_text(encoding="utf-8")):
            self.add(ep)

    def add(self, endpoint: Endpoint) -> Endpoint:
        """Add (or replace) an endpoint; trunks start NOT_INUSE, agents UNAVAILABLE until they register."""
        endpoint.device_state = "NOT_INUSE" if endpoint.trunk else "UNAVAILABLE"
        self.endpoints[endpoint.name] = endpoint
        return endpoint

    def get(self, name: str) -> Endpoint | None:
        return self.endpoints.get(name)

    def register(self, name: str, contact: str | None = None) -> None:
        """A softphone registers: device NOT_INUSE, PeerStatus Reachable, ContactStatus NonQualified."""
        ep = self.endpoints.get(name)
        if ep is None:
            raise KeyError(f"no PJSIP endpoint {name!r}")
        if ep.contact is not None:
            return
        ep.contact = contact or f"sip:{name}@127.0.0.1:5070"
        self.refresh(name)
        self._pbx.emit("PeerStatus", "system,all",
                       [("ChannelType", "PJSIP"), ("Peer", f"PJSIP/{name}"), ("PeerStatus", "Reachable")])
        self._contact_status(ep, ep.contact, "NonQualified")

    def unregister(self, name: str) -> None:
        """The contact goes: PeerStatus Unreachable, device UNAVAILABLE, ContactStatus Removed."""
        ep = self.endpoints.get(name)
        if ep is None or ep.contact is None:
            return
        contact, ep.contact = ep.contact, None
        self._pbx.emit("PeerStatus", "system,all",
                       [("ChannelType", "PJSIP"), ("Peer", f"PJSIP/{name}"), ("PeerStatus", "Unreachable")])
        self.refresh(name)
        self._contact_status(ep, contact, "Removed")

    def _contact_status(self, ep: Endpoint, uri: str, status: str) -> None:
        self._pbx.emit("ContactStatus", "system,all", [
            ("URI", uri), ("ContactStatus", status), ("AOR", ep.aors or ep.name), ("EndpointName", ep.name),
            ("RoundtripUsec", "0"),
        ])

    def active_channels(self, name: str) -> list[str]:
        return [ch.name for ch in self._pbx.channels.values() if ch.endpoint == name and not ch.destroyed]

    def compute_state(self, name: str) -> str:
        """Aggregate device state from registration and the endpoint's channels (ast_state_chan2dev)."""
        ep = self.endpoints.get(name)
        states = [ch.state for ch in self._pbx.channels.values() if ch.endpoint == name and not ch.destroyed]
        if not states:
            return "NOT_INUSE" if ep is None or ep.reachable else "UNAVAILABLE"
        ringing = any(s == ChannelState.RINGING for s in states)
        inuse = any(s not in (ChannelState.DOWN, ChannelState.RINGING, ChannelState.BUSY) for s in states)
        if ringing and inuse:
            return "RINGINUSE"
        if ringing:
            return "RINGING"
        if inuse:
            return "INUSE"
        if any(s == ChannelState.BUSY for s in states):
            return "BUSY"
        return "NOT_INUSE"

    def refresh(self, name: str) -> None:
        """Emit DeviceStateChange when the endpoint's aggregate state changed."""
        ep = self.endpoints.get(name)
        state = self.compute_state(name)
        if ep is not None:
            if ep.device_state == state:
                return
            ep.device_state = state
        self._pbx.emit("DeviceStateChange", "call,all", [("Device", f"PJSIP/{name}"), ("State", state)])
