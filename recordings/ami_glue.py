"""AMI events -> the recordings catalogue.

What the golden capture (acd-connect) shows: ``MixMonitor(<file>,b)`` emits ``VarSet MIXMONITOR_FILENAME``
then ``MixMonitorStart``, which carries only the channel snapshot (no file name). The call's identity comes
from ``VarSet SB_CALL_ID`` (and ``SB_AGENT_ID``, ``SB_QUEUE``) set on the channel before the redirect to the
connect context. A hang-up emits no MixMonitorStop (only StopMixMonitor does); the channel's ``Hangup``
ends the recording. So the glue remembers those variables per channel (by uniqueid), asks Asterisk with
Getvar for any it missed, and falls back to the configured file name template.

After a (re)connection or an overflow, events may have been missed: the resync marker's live channels are
compared with the open recordings, and recordings of vanished channels are closed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final, Protocol

from ami.errors import AmiError
from ami.events import AmiEvent, Hangup, MixMonitorStart, MixMonitorStop, ResyncEvent, VarSet
from recordings.catalogue import RecordingCatalogue
from recordings.model import RecordingStart
from recordings.paths import default_asterisk_path
from switchboard.call_path import gate
from switchboard.clock import Clock

log = logging.getLogger(__name__)

EVENT_NAMES: Final = ("VarSet", "MixMonitorStart", "MixMonitorStop", "Hangup")
WATCHED_VARIABLES: Final = {
    "SB_CALL_ID": "call_id",
    "SB_AGENT_ID": "agent_id",
    "SB_QUEUE": "queue",
    "MIXMONITOR_FILENAME": "filename",
}
MAX_VALUE: Final = 64  # ids and queue names; longer values are cut, never trusted as more
MAX_CHANNELS: Final = 50_000  # remembered channels; a bound against a flood of VarSets for fake channels


class AmiEventSource(Protocol):
    """What the glue needs of ``ami.client.AmiClient``."""

    def subscribe(self, names: Iterable[str] | None = None, maxsize: int | None = None) -> Any: ...

    async def getvar(self, channel: str | None, variable: str) -> str | None: ...


@dataclass
class _ChannelVars:
    call_id: str | None = None
    agent_id: str | None = None
    queue: str | None = None
    filename: str | None = None


def _clean(value: str, limit: int = MAX_VALUE) -> str | None:
    value = "".join(c for c in value if c.isprintable()).strip()
    return value[:limit] or None


class RecordingsAmiGlue:
    """Feeds MixMonitor starts and channel ends from one Asterisk box (``source``) to the catalogue."""

    def __init__(
        self,
        client: AmiEventSource,
        catalogue: RecordingCatalogue,
        clock: Clock,
        *,
        source: str,
        asterisk_dir: str,
        file_template: str,
    ) -> None:
        self.client = client
        self.catalogue = catalogue
        self.clock = clock
        self.source = source
        self.asterisk_dir = asterisk_dir
        self.file_template = file_template
        self._vars: dict[str, _ChannelVars] = {}
        self._recording: set[str] = set()  # uniqueids with an open recording

    async def run(self) -> None:
        """Consume events until the subscription ends or the task is cancelled."""
        subscription = self.client.subscribe(EVENT_NAMES)
        try:
            self._recording = await self.catalogue.open_uniqueids(self.source)
            async for event in subscription:
                try:
                    if not isinstance(event, VarSet):  # remembering a variable is too cheap to defer
                        await gate.quiet()  # the ACD's reactions first (switchboard/call_path.py)
                    await self.handle(event)
                except Exception:
                    # One bad event (or a database hiccup) must not stop the catalogue; the next resync
                    # closes anything this left open.
                    log.exception("recordings: event handling failed event=%s", event.name)
        finally:
            subscription.close()

    async def handle(self, event: AmiEvent) -> None:
        """Act on one event."""
        if isinstance(event, VarSet):
            self._remember(event)
        elif isinstance(event, MixMonitorStart):
            await self._started(event)
        elif isinstance(event, MixMonitorStop | Hangup):
            await self._ended(event)
        elif isinstance(event, ResyncEvent):
            await self._resync(event)

    def _remember(self, event: VarSet) -> None:
        attr = WATCHED_VARIABLES.get(event.variable)
        if attr is None or not event.uniqueid or event.channel == "none":
            return
        known = self._vars.get(event.uniqueid)
        if known is None:
            if len(self._vars) >= MAX_CHANNELS:
                self._vars.pop(next(iter(self._vars)))  # the oldest
            known = self._vars[event.uniqueid] = _ChannelVars()
        limit = 512 if attr == "filename" else MAX_VALUE
        setattr(known, attr, _clean(event.value, limit))

    async def _lookup(self, channel: str, variable: str) -> str | None:
        try:
            value = await self.client.getvar(channel, variable)
        except (AmiError, ValueError) as exc:
            log.info("recordings: getvar failed channel=%s variable=%s error=%s", channel, variable, exc)
            return None
        return _clean(value, 512 if variable == "MIXMONITOR_FILENAME" else MAX_VALUE) if value else None

    async def _started(self, event: MixMonitorStart) -> None:
        if not event.uniqueid:
            log.warning("recordings: MixMonitorStart without Uniqueid channel=%s; ignored", event.channel)
            return
        known = self._vars.get(event.uniqueid) or _ChannelVars()
        call_id = known.call_id or await self._lookup(event.channel, "SB_CALL_ID")
        agent_id = known.agent_id or await self._lookup(event.channel, "SB_AGENT_ID")
        queue = known.queue or await self._lookup(event.channel, "SB_QUEUE")
        filename = known.filename or await self._lookup(event.channel, "MIXMONITOR_FILENAME")
        if not filename:
            filename = default_asterisk_path(self.asterisk_dir, self.file_template, event.uniqueid)
            log.info("recordings: file name not seen, using template call_id=%s path=%s", call_id, filename)
        start = RecordingStart(
            source=self.source,
            uniqueid=event.uniqueid[:MAX_VALUE],
            linkedid=event.linkedid[:MAX_VALUE],
            channel=event.channel,
            call_id=call_id,
            agent_id=agent_id,
            queue=queue,
            caller_number=event.caller_id_num,
            caller_name=event.caller_id_name,
            asterisk_path=filename,
            started_at=self.clock.now(),
        )
        await self.catalogue.recording_started(start)
        self._recording.add(start.uniqueid)

    async def _ended(self, event: AmiEvent) -> None:
        uniqueid = event.get("Uniqueid")
        if isinstance(event, Hangup):
            self._vars.pop(uniqueid, None)
        if uniqueid in self._recording:
            self._recording.discard(uniqueid)
            await self.catalogue.recording_finished(self.source, uniqueid, ended_at=self.clock.now())

    async def _resync(self, event: ResyncEvent) -> None:
        live = {ch.uniqueid for ch in event.channels if ch.uniqueid}
        self._vars = {u: v for u, v in self._vars.items() if u in live}
        self._recording = await self.catalogue.reconcile(self.source, live)
        log.info(
            "recordings: resynchronised reason=%s live_channels=%d open_recordings=%d dropped_events=%d",
            event.reason,
            len(live),
            len(self._recording),
            event.dropped,
        )
