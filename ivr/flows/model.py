"""The flow language: typed, frozen node models that both validate flow files and generate their JSON Schema.

A flow file is a mapping with ``start``, ``prompts`` and ``nodes`` (see ``flows/main.yaml``). Nodes are keyed
by id and chosen by ``kind``. Prompts are referenced by key: a key names an entry of ``prompts:`` (text to
render, and/or a recorded file) or, failing that, an existing recorded sound file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    StringConstraints,
    field_validator,
    model_validator,
)

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
PROMPT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}(/[A-Za-z0-9][A-Za-z0-9_-]{0,63}){0,3}$"
VAR_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
# a dial target from the flow author, never from the caller; still no option separators or spaces
DIAL_PATTERN = r"^[A-Za-z][A-Za-z0-9]{0,15}/[A-Za-z0-9_.@+*#-]{1,80}$"

NodeId = Annotated[str, StringConstraints(pattern=NAME_PATTERN)]
Name = Annotated[str, StringConstraints(pattern=NAME_PATTERN)]
PromptKey = Annotated[str, StringConstraints(pattern=PROMPT_PATTERN)]
VarName = Annotated[str, StringConstraints(pattern=VAR_PATTERN)]
Dtmf = Annotated[str, StringConstraints(pattern=r"^[0-9*#]$")]
Scalar = str | bool | int | float

SPECIAL_VARIABLES = ("skill", "region", "priority", "language", "queue", "vip")
MAX_PRIORITY = 100


def _phrases(value: Any) -> Any:
    """``"restart / reboot / reset"`` and ``["restart", "reboot"]`` both mean a list of alternates."""
    if isinstance(value, str):
        return [p.strip() for p in value.split("/") if p.strip()]
    if isinstance(value, list):
        out: list[Any] = []
        for item in value:
            out.extend(_phrases(item) if isinstance(item, str) else [item])
        return out
    return value


def _digit_text(value: Any) -> Any:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _prompt_def(value: Any) -> Any:
    return {"say": value} if isinstance(value, str) else value


PromptText = Annotated[str, StringConstraints(min_length=1, max_length=2000)]
Phrase = Annotated[str, StringConstraints(min_length=1, max_length=100)]
# the JSON Schema shows what a file may contain (shorthands included), not the normalised form
Phrases = Annotated[
    list[Phrase],
    BeforeValidator(_phrases, json_schema_input_type=Phrase | list[Phrase]),
    Field(max_length=20),
]
DtmfKey = Annotated[
    Dtmf, BeforeValidator(_digit_text, json_schema_input_type=Annotated[int, Field(ge=0, le=9)] | Dtmf)
]


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class PromptDef(_Strict):
    """A prompt: text rendered to speech, a recorded file, or both (the recording wins when it exists)."""

    say: str | None = Field(None, min_length=1, max_length=2000, description="Text rendered to speech")
    file: PromptKey | None = Field(None, description="Recorded sound file name (no extension)")

    @model_validator(mode="after")
    def _something_to_play(self) -> PromptDef:
        if self.say is None and self.file is None:
            raise ValueError("a prompt needs say: text or a file: recording")
        return self


class Defaults(_Strict):
    """Values every interactive node uses unless it sets its own."""

    timeout_ms: int = Field(5000, ge=500, le=60_000, description="Wait for a key after a prompt")
    listen_ms: int = Field(6000, ge=1000, le=30_000, description="Longest caller utterance recorded")
    retries: int = Field(2, ge=0, le=9, description="Extra attempts after no or invalid input")
    invalid_prompt: PromptKey | None = Field(None, description="Played after input that matches nothing")
    timeout_prompt: PromptKey | None = Field(None, description="Played after no input")
    keypad_prompt: PromptKey | None = Field(None, description="Played when speech fails: asks for keys")
    reprompt: PromptKey | None = Field(None, description="Played once when speech was heard but unsure")
    min_confidence: float = Field(0.5, ge=0, le=1, description="Recognitions below this are re-asked")
    speech: bool = Field(True, description="Listen for speech where options have phrases")
    queue: Name | None = Field(None, description="Queue used by queue nodes that name none")
    priority: int = Field(0, ge=0, le=MAX_PRIORITY, description="Starting priority of every call")


class MenuOption(_Strict):
    """One choice: a key, spoken phrases (with alternates), or both."""

    dtmf: DtmfKey | None = Field(None, description="Key that selects this option")
    say: Phrases = Field(default_factory=list, description="Phrases that select it ('restart / reboot')")
    next: NodeId = Field(description="Node run when chosen")
    set: dict[VarName, Scalar] = Field(default_factory=dict, description="Variables set when chosen")
    label: str | None = Field(None, max_length=64, description="Name used in the call record")

    @model_validator(mode="after")
    def _selectable(self) -> MenuOption:
        if self.dtmf is None and not self.say:
            raise ValueError("an option needs a dtmf: key or say: phrases")
        return self


class _Interactive(_Strict):
    timeout_ms: int | None = Field(None, ge=500, le=60_000, description="Overrides defaults.timeout_ms")
    retries: int | None = Field(None, ge=0, le=9, description="Overrides defaults.retries")
    invalid_prompt: PromptKey | None = Field(None, description="Overrides defaults.invalid_prompt")
    timeout_prompt: PromptKey | None = Field(None, description="Overrides defaults.timeout_prompt")


class PlayNode(_Strict):
    """Play one or more prompts, then go on."""

    kind: Literal["play"]
    prompt: PromptKey | list[PromptKey] = Field(description="Prompt key, or keys played in order")
    next: NodeId

    @property
    def prompts(self) -> tuple[str, ...]:
        return (self.prompt,) if isinstance(self.prompt, str) else tuple(self.prompt)


class MenuNode(_Interactive):
    """Offer options by key and by voice; retry on silence or a wrong choice, then give up to on_fail."""

    kind: Literal["menu"]
    prompt: PromptKey
    options: list[MenuOption] = Field(min_length=1, max_length=12)
    keypad_prompt: PromptKey | None = Field(None, description="Keys-only version of the prompt")
    speech: bool | None = Field(None, description="Listen for phrases (default: defaults.speech)")
    on_fail: NodeId | None = Field(None, description="After the last retry (default: the default queue)")


class Validation(_Strict):
    """How collected digits are checked."""

    luhn: bool = Field(False, description="Luhn checksum (card and account numbers)")
    regex: str | None = Field(None, max_length=200, description="Python regex the digits must fully match")

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"regex does not compile: {exc}") from None
        return value


class CollectNode(_Interactive):
    """Collect a number on the keypad into a variable."""

    kind: Literal["collect"]
    prompt: PromptKey
    into: VarName = Field(description="Variable that receives the digits")
    min_digits: int = Field(1, ge=1, le=32)
    max_digits: int = Field(16, ge=1, le=32)
    terminator: Literal["#", "*"] = Field("#", description="Key that ends the input early")
    validate_: Validation | None = Field(None, alias="validate", description="Checks on the digits")
    sensitive: bool | None = Field(None, description="Mask the digits in records (default: on with luhn)")
    read_back: bool = Field(False, description="Say the digits back")
    next: NodeId
    on_fail: NodeId | None = None

    @model_validator(mode="after")
    def _lengths(self) -> CollectNode:
        if self.min_digits > self.max_digits:
            raise ValueError("min_digits is larger than max_digits")
        return self

    @property
    def masked(self) -> bool:
        if self.sensitive is not None:
            return self.sensitive
        return bool(self.validate_ and self.validate_.luhn)


class Intent(_Strict):
    """A reason for calling recognised in free speech."""

    name: Name
    say: Phrases = Field(min_length=1, description="Words or phrases that signal this intent")
    next: NodeId
    set: dict[VarName, Scalar] = Field(default_factory=dict)


class AskNode(_Strict):
    """'Tell us why you are calling': free speech then intent matching; the grammar menu otherwise."""

    kind: Literal["ask"]
    prompt: PromptKey
    intents: list[Intent] = Field(min_length=1, max_length=30)
    fallback: NodeId = Field(description="Node used when free speech is unavailable or not understood")
    min_confidence: float | None = Field(None, ge=0, le=1)
    reprompt: PromptKey | None = Field(None, description="Asked once when unsure")


class ScriptStep(_Strict):
    """One self-service step: an instruction, then 'did that fix it?'."""

    prompt: PromptKey
    check: PromptKey = Field(description="The 'did that fix it?' question (yes ends the script)")


class ScriptNode(_Interactive):
    """Ordered self-service steps; counted for deflection; repeat callers skip it with a priority bump."""

    kind: Literal["script"]
    script: Name | None = Field(None, description="Script id for statistics (default: the node id)")
    steps: list[ScriptStep] = Field(min_length=1, max_length=20)
    yes_dtmf: DtmfKey = "1"
    no_dtmf: DtmfKey = "2"
    yes_say: Phrases = Field(default_factory=lambda: ["yes", "yeah", "it works", "fixed", "that fixed it"])
    no_say: Phrases = Field(default_factory=lambda: ["no", "nope", "not fixed", "still broken"])
    resolved: NodeId = Field(description="Node after a 'yes'")
    unresolved: NodeId = Field(description="Node after the last step without a 'yes'")
    repeat: NodeId | None = Field(None, description="Node for a repeat caller (default: unresolved)")
    repeat_priority_bump: int = Field(1, ge=0, le=MAX_PRIORITY)

    @model_validator(mode="after")
    def _distinct_answers(self) -> ScriptNode:
        if self.yes_dtmf == self.no_dtmf:
            raise ValueError("yes_dtmf and no_dtmf must differ")
        return self


class Predicate(_Strict):
    """A test: exactly one of open, vip, var, all, any, not."""

    open: Name | None = Field(None, description="Business hours name: true while open")
    vip: Name | None = Field(None, description="VIP list name: true when the caller is on it")
    var: VarName | None = Field(
        None, description="Variable tested with one of eq/ne/in/matches/gt/ge/lt/le/set"
    )
    eq: Scalar | None = None
    ne: Scalar | None = None
    in_: list[Scalar] | None = Field(None, alias="in")
    matches: str | None = Field(None, max_length=200)
    gt: float | None = None
    ge: float | None = None
    lt: float | None = None
    le: float | None = None
    set: bool | None = Field(None, description="True when the variable has a non-empty value")
    all: list[Predicate] | None = Field(None, min_length=1)
    any: list[Predicate] | None = Field(None, min_length=1)
    not_: Predicate | None = Field(None, alias="not")

    @model_validator(mode="after")
    def _one_test(self) -> Predicate:
        heads = [n for n in ("open", "vip", "var", "all", "any", "not_") if getattr(self, n) is not None]
        if len(heads) != 1:
            raise ValueError("a condition needs exactly one of open, vip, var, all, any, not")
        ops = [
            n
            for n in ("eq", "ne", "in_", "matches", "gt", "ge", "lt", "le", "set")
            if getattr(self, n) is not None
        ]
        if self.var is not None and len(ops) != 1:
            raise ValueError("a var test needs exactly one of eq, ne, in, matches, gt, ge, lt, le, set")
        if self.var is None and ops:
            raise ValueError(f"'{ops[0].rstrip('_')}' is only allowed with var:")
        if self.matches is not None:
            try:
                re.compile(self.matches)
            except re.error as exc:
                raise ValueError(f"matches: regex does not compile: {exc}") from None
        return self

    def names(self, head: str) -> list[str]:
        """Every hours or VIP list name this predicate (and its parts) refers to."""
        own = getattr(self, head)
        found = [own] if isinstance(own, str) else []
        for part in [*(self.all or []), *(self.any or []), *([self.not_] if self.not_ else [])]:
            found.extend(part.names(head))
        return found


class ConditionNode(_Strict):
    """Branch on business hours, the VIP list, or a variable."""

    kind: Literal["condition"]
    if_: Predicate = Field(alias="if")
    then: NodeId
    else_: NodeId = Field(alias="else")


class SetNode(_Strict):
    """Set skill, region, priority ('+2' bumps), language, queue, vip or any variable."""

    kind: Literal["set"]
    values: dict[VarName, Scalar] = Field(min_length=1)
    next: NodeId

    @field_validator("values")
    @classmethod
    def _special_values(cls, values: dict[str, Scalar]) -> dict[str, Scalar]:
        check_special_values(values)
        return values


class QueueNode(_Strict):
    """Hand the call to the ACD and end the IVR."""

    kind: Literal["queue"]
    queue: Name | None = Field(None, description="Queue (default: defaults.queue, then the site default)")
    skill: Name | None = None
    priority: int | None = Field(None, ge=0, le=MAX_PRIORITY)
    prompt: PromptKey | None = Field(None, description="Played before the hand-off")
    reason: str | None = Field(None, max_length=64)


class TransferNode(_Strict):
    """Dial another destination (an extension or a trunk) from the flow."""

    kind: Literal["transfer"]
    to: Annotated[str, StringConstraints(pattern=DIAL_PATTERN)] = Field(
        description="Dial target, e.g. PJSIP/200"
    )
    timeout_s: int = Field(30, ge=5, le=300)
    prompt: PromptKey | None = None
    on_fail: NodeId | None = Field(None, description="When nobody answers (default: the default queue)")


class CallbackNode(_Strict):
    """Record a callback request for the caller's number (or a collected one) and end the call."""

    kind: Literal["callback"]
    number_var: VarName | None = Field(None, description="Variable holding the number (default: caller ID)")
    queue: Name | None = None
    prompt: PromptKey | None = Field(None, description="Confirmation played after the request is taken")
    on_fail: NodeId | None = Field(None, description="When no valid number or no callback service")


class HangupNode(_Strict):
    """Optionally play a prompt, then hang up."""

    kind: Literal["hangup"]
    prompt: PromptKey | None = None
    outcome: Literal["ended", "resolved"] | None = Field(
        None, description="Recorded outcome (default: resolved after a self-service 'yes', else ended)"
    )


class GotoNode(_Strict):
    """Jump to another node."""

    kind: Literal["goto"]
    target: NodeId


class SubflowNode(_Strict):
    """Run another flow from its start; its 'return' node comes back to next."""

    kind: Literal["subflow"]
    flow: Name
    next: NodeId | None = Field(None, description="Where a 'return' in the sub-flow continues (default: end)")


class ReturnNode(_Strict):
    """Return from a sub-flow (ends the call when the flow was not called as a sub-flow)."""

    kind: Literal["return"]


Node = Annotated[
    PlayNode
    | MenuNode
    | CollectNode
    | AskNode
    | ScriptNode
    | ConditionNode
    | SetNode
    | QueueNode
    | TransferNode
    | CallbackNode
    | HangupNode
    | GotoNode
    | SubflowNode
    | ReturnNode,
    Field(discriminator="kind"),
]
NODE_KINDS = (
    "play",
    "menu",
    "collect",
    "ask",
    "script",
    "condition",
    "set",
    "queue",
    "transfer",
    "callback",
    "hangup",
    "goto",
    "subflow",
    "return",
)
TERMINAL_KINDS = frozenset({"queue", "transfer", "callback", "hangup", "return", "subflow"})

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_RANGE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


class Holiday(_Strict):
    """A closed day, or a day with special hours."""

    date: date
    hours: list[str] = Field(default_factory=list, description="Open ranges that day; empty = closed")
    name: str | None = Field(None, max_length=64)


class BusinessHours(_Strict):
    """Weekly opening hours in a time zone, with holidays."""

    timezone: str = Field(description="IANA zone, e.g. Europe/Paris")
    weekly: dict[str, str | list[str]] = Field(
        description="Day or day range ('mon-fri', 'sat', 'mon,wed') to 'HH:MM-HH:MM' range(s); 'closed'"
    )
    holidays: list[date | Holiday] = Field(default_factory=list)
    _days: dict[int, tuple[tuple[int, int], ...]] = PrivateAttr(default_factory=dict)
    _special: dict[date, tuple[tuple[int, int], ...]] = PrivateAttr(default_factory=dict)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone '{value}'") from None
        return value

    @model_validator(mode="after")
    def _parse(self) -> BusinessHours:
        days: dict[int, list[tuple[int, int]]] = {}
        for spec, ranges in self.weekly.items():
            for day in parse_days(spec):
                days.setdefault(day, []).extend(parse_ranges(ranges))
        self._days = {d: tuple(sorted(r)) for d, r in days.items()}
        special: dict[date, tuple[tuple[int, int], ...]] = {}
        for item in self.holidays:
            if isinstance(item, date):
                special[item] = ()
            else:
                special[item.date] = tuple(sorted(parse_ranges(item.hours)))
        self._special = special
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def ranges_for(self, day: date) -> tuple[tuple[int, int], ...]:
        """Open ranges (minutes from local midnight) on a local date, holidays applied."""
        if day in self._special:
            return self._special[day]
        return self._days.get(day.weekday(), ())


def parse_days(spec: str) -> list[int]:
    """'mon-fri' -> [0..4]; 'sat,sun' -> [5, 6]; 'daily' -> all."""
    out: list[int] = []
    text = spec.strip().lower()
    if text in ("daily", "every day", "all"):
        return list(range(7))
    for part in text.split(","):
        part = part.strip()
        if "-" in part:
            first, _, last = part.partition("-")
            a, b = _day(first), _day(last)
            out.extend(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
        else:
            out.append(_day(part))
    return out


def _day(text: str) -> int:
    key = text.strip()[:3]
    if key not in DAY_NAMES:
        raise ValueError(f"unknown day '{text.strip()}' (use mon, tue, wed, thu, fri, sat, sun)")
    return DAY_NAMES.index(key)


def parse_ranges(ranges: str | list[str]) -> list[tuple[int, int]]:
    """'08:00-18:00' -> [(480, 1080)]; an overnight '22:00-06:00' ends after midnight (1320, 1800)."""
    items = [ranges] if isinstance(ranges, str) else list(ranges)
    out: list[tuple[int, int]] = []
    for item in items:
        if item.strip().lower() == "closed":
            continue
        m = _RANGE.match(item)
        if not m:
            raise ValueError(f"bad time range '{item}' (use HH:MM-HH:MM)")
        h1, m1, h2, m2 = (int(g) for g in m.groups())
        if h1 > 23 or m1 > 59 or h2 > 24 or m2 > 59 or (h2 == 24 and m2 != 0):
            raise ValueError(f"bad time in range '{item}'")
        start, end = h1 * 60 + m1, h2 * 60 + m2
        if end == start:
            raise ValueError(f"empty time range '{item}'")
        out.append((start, end if end > start else end + 24 * 60))
    return out


def check_special_values(values: dict[str, Scalar]) -> None:
    """Reject values the hand-off cannot use: a non-numeric priority, a non-boolean vip, odd names."""
    for key, value in values.items():
        if key == "priority":
            text = str(value)
            if isinstance(value, bool) or not re.fullmatch(r"[+-]?\d{1,3}", text):
                raise ValueError(f"priority must be a number or a '+N'/'-N' bump, not '{value}'")
        elif key == "vip":
            if not isinstance(value, bool):
                raise ValueError("vip must be true or false")
        elif key in ("skill", "region", "queue") and not re.fullmatch(NAME_PATTERN, str(value)):
            raise ValueError(f"{key} '{value}' is not a valid name (letters, digits, '-', '_')")
        elif key == "language" and not re.fullmatch(r"[a-z]{2,3}([-_][A-Za-z]{2,4})?", str(value)):
            raise ValueError(f"language '{value}' is not a language code such as en or pt-BR")


class FlowSpec(_Strict):
    """A whole flow file."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        populate_by_name=True,
        title="Switchboard call flow",
        json_schema_extra={"$schema": "https://json-schema.org/draft/2020-12/schema"},
    )

    flow: Name | None = Field(None, description="Flow name; must match the file name when given")
    description: str = Field("", max_length=500)
    language: str = Field("en", pattern=r"^[a-z]{2,3}([-_][A-Za-z]{2,4})?$")
    start: NodeId = Field(description="First node")
    defaults: Defaults = Field(default_factory=Defaults)
    apology: PromptKey | None = Field(None, description="Played when the flow fails (default: built-in text)")
    prompts: dict[
        PromptKey,
        Annotated[
            PromptDef,
            BeforeValidator(
                _prompt_def,
                json_schema_input_type=PromptText | PromptDef,
            ),
        ],
    ] = Field(default_factory=dict, description="Prompt key to text (shorthand for say:) or say:/file:")
    hours: dict[Name, BusinessHours] = Field(default_factory=dict, description="Named business hours")
    vip_lists: dict[Name, list[Annotated[str, StringConstraints(max_length=32)]]] = Field(
        default_factory=dict, description="Named lists of caller numbers (E.164 or national)"
    )
    nodes: dict[NodeId, Node] = Field(min_length=1, max_length=500)


@dataclass(frozen=True)
class Flow:
    """A loaded, checked flow: its spec plus where it came from and a version (content hash)."""

    name: str
    spec: FlowSpec
    path: Path
    version: str

    def node(self, node_id: str) -> Any:
        return self.spec.nodes[node_id]

    def prompt(self, key: str) -> PromptDef | None:
        return self.spec.prompts.get(key)
