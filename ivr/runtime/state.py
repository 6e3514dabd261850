"""Per-call runtime state: who is calling, the routing attributes the flow builds up, and the path so far."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from ivr.flows.model import MAX_PRIORITY, Flow, Scalar
from ivr.flows.registry import FlowSet
from ivr.runtime.intents import safe_text
from ivr.runtime.record import CallStart, IvrPath, IvrStep, Outcome

MAX_CALLER_NUMBER = 64
MAX_CALLER_NAME = 128
MAX_VARIABLES = 64
MAX_VALUE_CHARS = 256


def capped(text: str, limit: int) -> str:
    """Caller-controlled text as received, but bounded and storable (no NUL, valid UTF-8)."""
    return text[:limit].replace("\x00", "").encode("utf-8", "replace").decode("utf-8")


@dataclass
class CallState:
    """Everything one call's flow run knows and has decided."""

    call_id: str
    uniqueid: str
    channel: str
    caller_number: str
    caller_name: str
    caller_e164: str | None
    flows: FlowSet
    flow: Flow | None
    started: datetime
    started_mono: float
    language: str = "en"
    region: str | None = None
    skill: str | None = None
    queue: str | None = None
    priority: int = 0
    vip: bool = False
    repeat_caller: bool = False
    resolved_by: str | None = None
    speech_down: bool = False
    variables: dict[str, str] = field(default_factory=dict)
    sensitive: set[str] = field(default_factory=set)
    steps: list[IvrStep] = field(default_factory=list)
    node: str | None = None
    node_kind: str = ""
    node_begun: tuple[datetime, float] | None = None  # when the current node started (wall, monotonic)
    outcome: Outcome | None = None
    detail: str = ""
    recordings: int = 0

    @property
    def flow_name(self) -> str:
        return self.flow.name if self.flow is not None else ""

    def next_recording(self) -> int:
        self.recordings += 1
        return self.recordings

    def lookup(self, name: str) -> str | None:
        """A variable as text: routing attributes and caller facts first, then flow variables."""
        builtins: dict[str, str | None] = {
            "skill": self.skill, "region": self.region, "queue": self.queue, "language": self.language,
            "priority": str(self.priority), "vip": "true" if self.vip else "false",
            "repeat_caller": "true" if self.repeat_caller else "false",
            "caller_number": self.caller_e164 or self.caller_number, "caller_name": self.caller_name,
            "flow": self.flow_name, "resolved_by": self.resolved_by,
        }  # fmt: skip
        if name in builtins:
            return builtins[name]
        return self.variables.get(name)

    def apply(self, values: dict[str, Scalar]) -> None:
        """Apply a set: node's or an option's values (validated by the schema)."""
        for key, value in values.items():
            if key == "priority":
                text = str(value)
                base = self.priority if text[0] in "+-" else 0
                self.priority = max(0, min(MAX_PRIORITY, base + int(text)))
            elif key == "vip":
                self.vip = bool(value)
            elif key == "skill":
                self.skill = str(value)
            elif key == "region":
                self.region = str(value)
            elif key == "queue":
                self.queue = str(value)
            elif key == "language":
                self.language = str(value)
            else:
                self.set_var(key, _text(value))

    def set_var(self, name: str, value: str, *, sensitive: bool = False) -> None:
        if name not in self.variables and len(self.variables) >= MAX_VARIABLES:
            return
        self.variables[name] = safe_text(value, MAX_VALUE_CHARS)
        if sensitive:
            self.sensitive.add(name)
        else:
            self.sensitive.discard(name)

    def shareable_variables(self) -> dict[str, str]:
        """Flow variables fit to leave the IVR (sensitive ones, such as card numbers, stay behind)."""
        return {k: v for k, v in self.variables.items() if k not in self.sensitive}

    def finish(self, outcome: Outcome, detail: str) -> None:
        """Set the outcome once; the first decision wins (a hang-up after a hand-off stays a hand-off)."""
        if self.outcome is None:
            self.outcome = outcome
            self.detail = detail[:256]

    def start_record(self) -> CallStart:
        return CallStart(
            call_id=self.call_id, uniqueid=self.uniqueid, channel=self.channel,
            caller_number=self.caller_number, caller_name=self.caller_name,
            flow=self.flow_name, flow_version=self.flow.version if self.flow else "",
            started=self.started, region=self.region,
        )  # fmt: skip

    def to_path(self, start: CallStart, ended: datetime) -> IvrPath:
        return IvrPath(
            start=start, ended=ended, outcome=self.outcome or Outcome.ERROR, detail=self.detail,
            steps=tuple(self.steps), region=self.region, priority=self.priority, skill=self.skill,
            queue=self.queue, language=self.language, vip=self.vip, resolved_by=self.resolved_by,
            variables=self.shareable_variables(),
        )  # fmt: skip


def _text(value: Scalar) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
