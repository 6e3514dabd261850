"""The emulated PBX core: channels, their state changes and the AMI events each change produces."""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sim.channels import (
    CAUSE_NORMAL_CLEARING,
    Channel,
    ChannelNamer,
    ChannelState,
    Party,
    cause_text,
)
from sim.dialplan import Dialplan
from sim.events import EventBus, SimEvent
from sim.expressions import substitute
from sim.functions import builtin_variable, parse_call, read_function
from sim.media import SoundCatalog
from sim.media_plane import MediaPlane
from sim.pjsip import PjsipRegistry
from switchboard.clock import Clock

log = logging.getLogger(__name__)

ANSWER_MEDIA_WAIT = 0.5  # __ast_answer waits up to 500 ms for the first media frame


class AppResult(enum.Enum):
    """What a dialplan application tells the PBX loop."""

    CONTINUE = 0  # next priority
    JUMP = 1  # the application moved context/exten/priority itself
    HANGUP = -1  # stop and hang up


@dataclass
class Bridge:
    """A basic two-party bridge created by Dial."""

    uniqueid: str
    members: list[Channel] = field(default_factory=list)

    def fields(self) -> list[tuple[str, str]]:
        return [
            ("BridgeUniqueid", self.uniqueid),
            ("BridgeType", "basic"),
            ("BridgeTechnology", "simple_bridge"),
            ("BridgeCreator", "<unknown>"),
            ("BridgeName", "<unknown>"),
            ("BridgeNumChannels", str(len(self.members))),
            ("BridgeVideoSourceMode", "none"),
        ]


@dataclass(frozen=True)
class AgiTarget:
    """Where an ``agi://host:port`` URL really connects (tests remap fixed addresses)."""

    host: str
    port: int


class Pbx(MediaPlane):
    """Holds every live channel and applies the dialplan; all time comes from ``clock``."""

    def __init__(self, clock: Clock, dialplan: Dialplan, *, sounds: SoundCatalog | None = None,
                 agi_redirects: dict[str, AgiTarget] | None = None, agi_client_factory: Any = None,
                 file_root: Path | None = None, agi_connect_timeout: float = 2.0) -> None:
        self.clock = clock
        self.dialplan = dialplan
        self.sounds = sounds or SoundCatalog()
        self.bus = EventBus()
        self.channels: dict[str, Channel] = {}
        self.bridges: dict[str, Bridge] = {}
        self.globals: dict[str, str] = dict(dialplan.globals)
        self.astdb: dict[str, str] = {}
        self.namer = ChannelNamer()
        self.pjsip = PjsipRegistry(self)
        self.agents: dict[str, Any] = {}  # endpoint name -> ScriptedAgent answering calls to it
        self.agi_redirects = dict(agi_redirects or {})
        self.agi_client_factory = agi_client_factory
        self.agi_connect_timeout = agi_connect_timeout
        self.file_root = file_root
        self._tasks: set[asyncio.Task[Any]] = set()
        self._silent = False
        self._bridge_seq = 0

    # ----- time, events, tasks -----

    def now(self) -> float:
        return self.clock.monotonic()

    def epoch(self) -> float:
        return self.clock.now().timestamp()

    def emit(self, name: str, privilege: str, fields: list[tuple[str, str]]) -> None:
        """Publish one broadcast event (suppressed while the emulator is being torn down)."""
        if self._silent:
            return
        self.bus.publish(SimEvent(name, privilege, tuple(fields), self.epoch()))

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Run ``coro`` supervised: its failure is logged with the task name, never lost."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("emulator task failed task=%s", task.get_name(), exc_info=task.exception())

    async def reset(self) -> None:
        """Drop every channel and task without events (an Asterisk process going away)."""
        self._silent = True
        try:
            tasks = list(self._tasks)
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            self.channels.clear()
            self.bridges.clear()
        finally:
            self._silent = False

    def host_path(self, path: str) -> Path:
        """Where a file Asterisk would write at ``path`` really goes (under ``file_root`` when set)."""
        if self.file_root is None:
            return Path(path)
        return self.file_root / path.lstrip("/")

    # ----- channel creation -----

    def _register(self, ch: Channel) -> None:
        self.channels[ch.name] = ch
        self.emit("Newchannel", "call,all", ch.std_fields())

    def new_local_pair(self, exten: str, context: str,
                       linkedid: str | None = None) -> tuple[Channel, Channel]:
        """A Local channel pair; ``;2`` will run ``exten@context``. Emits both Newchannel events."""
        name1, name2 = self.namer.local_pair(exten, context)
        uid1 = self.namer.uniqueid(self.epoch())
        uid2 = self.namer.uniqueid(self.epoch())
        link = linkedid or uid1
        device = f"Local/{exten}@{context}"
        common = {"tech": "Local", "linkedid": link, "context": context, "exten": exten, "priority": 1,
                  "created_at": self.now(), "device": device}
        one = Channel(name=name1, uniqueid=uid1, state=ChannelState.DOWN, **common)
        two = Channel(name=name2, uniqueid=uid2, state=ChannelState.RING, **common)
        one.partner, two.partner = two, one
        self._register(one)
        self._register(two)
        return one, two

    def new_pjsip(self, endpoint: str, *, context: str, exten: str, state: ChannelState,
                  linkedid: str | None = None, caller: Party | None = None) -> Channel:
        """A PJSIP channel on ``endpoint``. Emits Newchannel."""
        uid = self.namer.uniqueid(self.epoch())
        ch = Channel(name=self.namer.pjsip(endpoint), tech="PJSIP", uniqueid=uid, linkedid=linkedid or uid,
                     state=state, context=context, exten=exten, priority=1, created_at=self.now(),
                     device=f"PJSIP/{endpoint}", endpoint=endpoint, caller=caller or Party())
        self._register(ch)
        self.pjsip.refresh(endpoint)
        return ch

    def find_channel(self, name: str) -> Channel | None:
        """A live channel by exact name."""
        ch = self.channels.get(name)
        return None if ch is None or ch.destroyed else ch

    # ----- state -----

    def set_state(self, ch: Channel, state: ChannelState) -> None:
        """Change state: Newstate, then the device state the change implies."""
        if ch.state == state or ch.destroyed:
            return
        ch.state = state
        self.emit("Newstate", "call,all", ch.std_fields())
        if ch.is_local:
            self.emit("DeviceStateChange", "call,all", [("Device", ch.device), ("State", "INUSE")])
        elif ch.endpoint:
            self.pjsip.refresh(ch.endpoint)
        if state == ChannelState.UP and ch.answered_at is None:
            ch.answered_at = self.now()
            hook = getattr(ch.party, "on_answer", None)
            if hook is not None:
                hook(self, ch)
        ch.notify()

    def answer(self, ch: Channel) -> bool:
        """Answer ``ch`` (and the outbound half of a Local pair); True when it was not up before."""
        if ch.state == ChannelState.UP:
            return False
        self.set_state(ch, ChannelState.UP)
        if ch.is_local and ch.partner is not None and ch.name.endswith(";2"):
            self.set_state(ch.partner, ChannelState.UP)
        return True

    def indicate_ringing(self, ch: Channel) -> None:
        """Ringing() on a Local ``;2`` shows as Ringing on its ``;1``."""
        partner = ch.partner
        if ch.is_local and partner is not None and ch.name.endswith(";2") and partner.state not in (
            ChannelState.UP, ChannelState.RINGING
        ):
            self.set_state(partner, ChannelState.RINGING)

    async def answer_settle(self, ch: Channel) -> None:
        """After answering, wait for the first media frame from the far end (at most 500 ms)."""
        deadline = self.now() + ANSWER_MEDIA_WAIT
        while not ch.interrupted:
            now = self.now()
            if now >= deadline:
                return
            wake = deadline
            if ch.media_at is not None:
                if ch.media_at <= now:
                    return
                wake = min(wake, ch.media_at)
            await ch.signal.wait(self.clock, wake - now)

    # ----- variables and caller id -----

    def set_var(self, ch: Channel | None, name: str, value: str) -> None:
        """Set a channel (or global, ``ch`` None) variable and emit VarSet."""
        name = name.lstrip("_") or name
        if ch is None:
            self.globals[name] = value
            self.emit("VarSet", "dialplan,all",
                      [("Channel", "none"), ("Uniqueid", "none"), ("Variable", name), ("Value", value)])
            return
        ch.variables[name] = value
        self.emit("VarSet", "dialplan,all", [*ch.std_fields(), ("Variable", name), ("Value", value)])

    def get_var(self, ch: Channel | None, name: str) -> str | None:
        """A variable as ``${name}`` sees it: built-ins, then the channel, then globals."""
        value = builtin_variable(self, ch, name)
        if value is not None:
            return value
        if ch is not None and name in ch.variables:
            return ch.variables[name]
        return self.globals.get(name)

    def resolve(self, ch: Channel | None, text: str) -> str | None:
        """Value of a ``${...}`` body: a function call or a variable."""
        call = parse_call(text)
        if call is not None:
            return read_function(self, ch, call[0], call[1])
        return self.get_var(ch, text)

    def substitute(self, ch: Channel | None, text: str) -> str:
        """Expand variables, functions and expressions in ``text`` for ``ch``."""
        return substitute(text, lambda body: self.resolve(ch, body))

    def set_caller(self, ch: Channel, party: Party, mirror: bool = True) -> None:
        """Set caller id; a Local pair mirrors it as the other half's connected line."""
        ch.caller = party.copy()
        if mirror and ch.partner is not None:
            ch.partner.connected = party.copy()

    def set_connected(self, ch: Channel, party: Party, mirror: bool = True) -> None:
        """Set connected line; a Local pair mirrors it as the other half's caller id."""
        ch.connected = party.copy()
        if mirror and ch.partner is not None:
            ch.partner.caller = party.copy()

    # ----- hang-up and redirect -----

    def request_hangup(self, ch: Channel, cause: int | None = None) -> None:
        """Ask ``ch`` to hang up; whoever drives it (its PBX loop or a Dial) completes the hang-up."""
        if ch.destroyed:
            return
        if cause is not None:
            ch.hangupcause = cause
        ch.hangup_requested = True
        ch.notify()
        if not ch.has_pbx and not ch.owned:
            self.destroy(ch)

    def destroy(self, ch: Channel) -> None:
        """Complete the hang-up: recordings closed, Hangup event, device state, the Local partner told."""
        if ch.destroyed:
            return
        ch.destroyed = True
        ch.hangup_requested = True
        if ch.mixmonitors:
            from sim.recording import stop_mixmonitors

            stop_mixmonitors(self, ch, emit_stop=False)
        self.emit("Hangup", "call,all",
                  [*ch.std_fields(), ("Cause", str(ch.hangupcause)),
                   ("Cause-txt", cause_text(ch.hangupcause))])
        self.channels.pop(ch.name, None)
        if ch.is_local:
            self.emit("DeviceStateChange", "call,all", [("Device", ch.device), ("State", "NOT_INUSE")])
        elif ch.endpoint:
            self.pjsip.refresh(ch.endpoint)
        ch.notify()
        hook = getattr(ch.party, "on_hangup", None)
        if hook is not None:
            hook(self, ch)
        if ch.partner is not None and not ch.partner.destroyed:
            self.request_hangup(ch.partner, ch.hangupcause)

    def redirect(self, ch: Channel, context: str, exten: str, priority: int) -> bool:
        """An async goto (AMI Redirect): the running application stops and the dialplan continues there."""
        if ch.destroyed:
            return False
        if ch.has_pbx or ch.owned:
            ch.pending_goto = (context, exten, priority)
            ch.notify()
        else:
            ch.context, ch.exten, ch.priority = context, exten, priority
            self.start_pbx(ch)
        return True

    # ----- the dialplan loop -----

    def start_pbx(self, ch: Channel) -> None:
        """Run the dialplan on ``ch`` from its current context/exten/priority."""
        ch.has_pbx = True
        ch.owned = False
        self.spawn(self.run_pbx(ch), name=f"pbx {ch.name}")

    async def run_pbx(self, ch: Channel) -> None:
        from sim.apps import run_app  # the applications import this module

        ch.has_pbx = True
        try:
            while not ch.hangup_requested:
                if ch.pending_goto is not None:
                    ch.context, ch.exten, ch.priority = ch.pending_goto
                    ch.pending_goto = None
                step = self.dialplan.find(ch.context, ch.exten, ch.priority)
                if step is None:
                    if ch.hangupcause == 0:
                        ch.hangupcause = CAUSE_NORMAL_CLEARING
                    break
                data = self.substitute(ch, step.data)
                ch.application, ch.appdata = step.app, data
                result = await run_app(self, ch, step.app, data)
                await asyncio.sleep(0)  # a dialplan loop without waits must not starve everything else
                if ch.pending_goto is not None and not ch.hangup_requested:
                    continue
                if result is AppResult.HANGUP:
                    break
                if result is AppResult.CONTINUE:
                    ch.priority += 1
        finally:
            ch.has_pbx = False
            if not self._silent:
                self.destroy(ch)

    def new_bridge_id(self) -> str:
        """A bridge unique id (a UUID in Asterisk; opaque here)."""
        self._bridge_seq += 1
        return f"00000000-0000-4000-8000-{self._bridge_seq:012x}"
