"""AsteriskEmulator: an Asterisk 22 stand-in with an AMI port, FastAGI calls, scripted callers and agents."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sim.ami_server import AmiConfig, AmiServer
from sim.channels import Channel, ChannelNamer, ChannelState, Party
from sim.dialplan import Dialplan
from sim.events import EventRecorder
from sim.media import SoundCatalog
from sim.pbx import AgiTarget, Pbx
from sim.pjsip import Endpoint
from sim.scripts import CallerRuntime, ScriptedAgent, ScriptedCaller
from switchboard.clock import Clock

log = logging.getLogger(__name__)

DEFAULT_DIALPLAN = Path(__file__).resolve().parents[1] / "asterisk-conf" / "extensions.conf"


class AsteriskEmulator:
    """Runs on an injectable clock, so tests (ManualClock) and demos (ScaledClock) go faster than real time.

    ``local_counter_start`` is the number of the first Local channel (Asterisk counts from process start).
    ``agi_host``/``agi_port`` become the ``SB_CONTROLLER`` global that the shipped dialplan uses in its
    ``AGI(agi://${SB_CONTROLLER}/...)`` calls; ``agi_redirects`` maps fixed ``host:port`` strings found in a
    dialplan (the golden one hard-codes 127.0.0.1:4573) to where the test's FastAGI server really listens.
    """

    def __init__(self, clock: Clock, *, dialplan_path: Path | str | None = None, agi_host: str = "127.0.0.1",
                 agi_port: int = 4573, ami_username: str = "switchboard", ami_secret: str = "switchboard",
                 timestamp_events: bool = False, ami_host: str = "127.0.0.1", ami_port: int = 0,
                 pjsip_config: Path | str | None = None, sounds: Mapping[str, Path | float] | None = None,
                 sound_dirs: Sequence[Path] = (), default_sound_seconds: float | None = None,
                 agi_redirects: Mapping[str, tuple[str, int]] | None = None, file_root: Path | None = None,
                 global_vars: Mapping[str, str] | None = None, agi_client_factory: Any = None,
                 local_counter_start: int = 1) -> None:
        self.clock = clock
        dialplan = Dialplan.load(dialplan_path or DEFAULT_DIALPLAN)
        redirects = {key: AgiTarget(host, port) for key, (host, port) in (agi_redirects or {}).items()}
        self.pbx = Pbx(clock, dialplan, sounds=SoundCatalog(sounds, sound_dirs, default_sound_seconds),
                       agi_redirects=redirects, agi_client_factory=agi_client_factory, file_root=file_root)
        self.pbx.namer = ChannelNamer(local_start=local_counter_start)
        self.pbx.globals["SB_CONTROLLER"] = f"{agi_host}:{agi_port}"
        self.pbx.globals.update(global_vars or {})
        if pjsip_config is not None:
            self.pbx.pjsip.load_config(Path(pjsip_config))
        self._ami = AmiServer(self.pbx, AmiConfig(ami_username, ami_secret, timestamp_events), self._uptime,
                              host=ami_host, port=ami_port)
        self._booted_at = clock.monotonic()
        self._running = False

    # ----- life cycle -----

    async def start(self) -> None:
        """Open the AMI port."""
        self._booted_at = self.clock.monotonic()
        await self._ami.start()
        self._running = True

    async def stop(self) -> None:
        """Close the AMI port and drop every channel (no further events)."""
        self._running = False
        await self._ami.close()
        await self.pbx.reset()

    async def restart(self, downtime: float = 0.0) -> None:
        """``core restart``: Shutdown event, sockets closed, channels gone; back on the same port later.

        Registrations survive (Asterisk keeps contacts in its database); FullyBooted then shows a new Uptime.
        """
        self.pbx.emit("Shutdown", "system,all", [("Shutdown", "Cleanly"), ("Restart", "True")])
        await self._ami.close()
        await self.pbx.reset()
        if downtime > 0:
            await self.clock.sleep(downtime)
        self._booted_at = self.clock.monotonic()
        await self._ami.start()

    def _uptime(self) -> int:
        return max(0, int(self.clock.monotonic() - self._booted_at))

    @property
    def ami_port(self) -> int:
        """The AMI TCP port actually bound."""
        return self._ami.port

    @property
    def ami_host(self) -> str:
        return self._ami.host

    @property
    def ami_clients(self) -> int:
        """How many AMI connections are open."""
        return len(self._ami.sessions)

    # ----- calls, agents, endpoints -----

    async def place_call(self, caller: ScriptedCaller, context: str = "sb-inbound", exten: str = "s") -> str:
        """A call arrives on the caller's trunk into ``context``/``exten``; returns the channel name."""
        trunk = self.pbx.pjsip.get(caller.trunk)
        if trunk is None:
            trunk = self.pbx.pjsip.add(Endpoint(caller.trunk, context=context, trunk=True))
        ch = self.pbx.new_pjsip(trunk.name, context=context, exten=exten, state=ChannelState.RING,
                                caller=Party(caller.number, caller.name))
        ch.dnid = exten
        ch.far_end_media = caller.sends_media
        ch.party = CallerRuntime(caller)
        log.info("emulated call placed channel=%s caller=%s context=%s exten=%s", ch.name, caller.number,
                 context, exten)
        self.pbx.start_pbx(ch)
        return ch.name

    def add_endpoint(self, name: str, context: str = "sb-agents", trunk: bool = False) -> None:
        """Configure a PJSIP endpoint (agents start unregistered)."""
        if self.pbx.pjsip.get(name) is None:
            self.pbx.pjsip.add(Endpoint(name, context=context, aors="" if trunk else name, trunk=trunk))

    def add_agent(self, agent: ScriptedAgent) -> None:
        """An agent softphone: calls to ``PJSIP/<endpoint>`` follow the script; registers if asked to."""
        self.add_endpoint(agent.endpoint)
        self.pbx.agents[agent.endpoint] = agent
        if agent.registered:
            self.register(agent.endpoint, agent.contact)

    def register(self, endpoint: str, contact: str | None = None) -> None:
        """The endpoint's phone registers (created on the fly when unknown)."""
        self.add_endpoint(endpoint)
        self.pbx.pjsip.register(endpoint, contact)

    def unregister(self, endpoint: str) -> None:
        """The endpoint's registration is removed."""
        self.pbx.pjsip.unregister(endpoint)

    def hangup(self, channel: str, cause: int = 16) -> bool:
        """Hang up a channel from outside (as if its far end did); False when it does not exist."""
        ch = self.pbx.find_channel(channel)
        if ch is None:
            return False
        self.pbx.request_hangup(ch, cause)
        return True

    def set_global(self, name: str, value: str) -> None:
        """Set a dialplan global (emits VarSet like Setvar without a channel)."""
        self.pbx.set_var(None, name, value)

    # ----- inspection -----

    def channel(self, name: str) -> Channel | None:
        """A live channel by name."""
        return self.pbx.find_channel(name)

    def channels(self) -> list[Channel]:
        """Every live channel, oldest first."""
        return [ch for ch in self.pbx.channels.values() if not ch.destroyed]

    def record_events(self) -> EventRecorder:
        """Start keeping every emitted event in memory (``recorder.close()`` stops)."""
        return EventRecorder(self.pbx.bus)
