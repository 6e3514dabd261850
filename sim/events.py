"""AMI messages as the emulator emits them: ordered fields, one rendering per wire format, and a bus."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

Fields = tuple[tuple[str, str], ...]


def render_message(pairs: Iterable[tuple[str, str]]) -> bytes:
    """``Key: value`` lines ending with a blank line, as Asterisk writes them (latin-1 keeps any byte)."""
    return "".join(f"{key}: {value}\r\n" for key, value in pairs).encode("utf-8", "replace") + b"\r\n"


@dataclass(frozen=True, slots=True)
class SimEvent:
    """One broadcast AMI event: ``Event``, ``Privilege``, optional ``Timestamp``, then ``fields`` in order."""

    name: str
    privilege: str
    fields: Fields
    timestamp: float
    _rendered: dict[bool, bytes] = field(default_factory=dict, compare=False, repr=False)

    def get(self, key: str, default: str | None = None) -> str | None:
        """The first value of ``key`` (None when absent)."""
        for k, v in self.fields:
            if k == key:
                return v
        return default

    def pairs(self, timestamps: bool) -> list[tuple[str, str]]:
        """All header lines in wire order."""
        head = [("Event", self.name), ("Privilege", self.privilege)]
        if timestamps:
            head.append(("Timestamp", f"{self.timestamp:.6f}"))
        return head + list(self.fields)

    def render(self, timestamps: bool) -> bytes:
        """Wire bytes; computed once per format and shared by every AMI session."""
        cached = self._rendered.get(timestamps)
        if cached is None:
            cached = render_message(self.pairs(timestamps))
            self._rendered[timestamps] = cached
        return cached


Listener = Callable[[SimEvent], None]


class EventBus:
    """Fans each event out to listeners synchronously, so events keep the order the model produced them."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Register ``listener``; returns a function that unsubscribes it."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def publish(self, event: SimEvent) -> None:
        """Deliver ``event`` to every listener; a failing listener is logged and never stops the others."""
        for listener in tuple(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("event listener failed event=%s", event.name)


class EventRecorder:
    """Keeps every event in memory (tests and simulations); ``named`` filters by event name."""

    def __init__(self, bus: EventBus) -> None:
        self.events: list[SimEvent] = []
        self._unsubscribe = bus.subscribe(self.events.append)

    def named(self, *names: str) -> list[SimEvent]:
        """Events whose name is one of ``names`` in emission order."""
        wanted = set(names)
        return [e for e in self.events if e.name in wanted]

    def for_channel(self, channel: str, names: Sequence[str] | None = None) -> list[SimEvent]:
        """Events about ``channel`` (its Channel field, or DestChannel for originate dials)."""
        out = []
        for e in self.events:
            own = e.get("Channel")
            mine = own == channel or (own is None and e.get("DestChannel") == channel)
            if mine and (names is None or e.name in names):
                out.append(e)
        return out

    def close(self) -> None:
        """Stop recording."""
        self._unsubscribe()
