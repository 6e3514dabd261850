"""The node kinds of the flow language (chosen by ``kind``), with the condition predicate."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, field_validator, model_validator

from ivr.flows.types import (
    DIAL_PATTERN,
    MAX_PRIORITY,
    DtmfKey,
    Name,
    NodeId,
    Phrases,
    PromptKey,
    Scalar,
    Strict,
    VarName,
    check_special_values,
)


class MenuOption(Strict):
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


class _Interactive(Strict):
    timeout_ms: int | None = Field(None, ge=500, le=60_000, description="Overrides defaults.timeout_ms")
    retries: int | None = Field(None, ge=0, le=9, description="Overrides defaults.retries")
    invalid_prompt: PromptKey | None = Field(None, description="Overrides defaults.invalid_prompt")
    timeout_prompt: PromptKey | None = Field(None, description="Overrides defaults.timeout_prompt")


class PlayNode(Strict):
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


class Validation(Strict):
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


class Intent(Strict):
    """A reason for calling recognised in free speech."""

    name: Name
    say: Phrases = Field(min_length=1, description="Words or phrases that signal this intent")
    next: NodeId
    set: dict[VarName, Scalar] = Field(default_factory=dict)


class AskNode(Strict):
    """'Tell us why you are calling': free speech then intent matching; the grammar menu otherwise."""

    kind: Literal["ask"]
    prompt: PromptKey
    intents: list[Intent] = Field(min_length=1, max_length=30)
    fallback: NodeId = Field(description="Node used when free speech is unavailable or not understood")
    min_confidence: float | None = Field(None, ge=0, le=1)
    reprompt: PromptKey | None = Field(None, description="Asked once when unsure")


class ScriptStep(Strict):
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


class Predicate(Strict):
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


class ConditionNode(Strict):
    """Branch on business hours, the VIP list, or a variable."""

    kind: Literal["condition"]
    if_: Predicate = Field(alias="if")
    then: NodeId
    else_: NodeId = Field(alias="else")


class SetNode(Strict):
    """Set skill, region, priority ('+2' bumps), language, queue, vip or any variable."""

    kind: Literal["set"]
    values: dict[VarName, Scalar] = Field(min_length=1)
    next: NodeId

    @field_validator("values")
    @classmethod
    def _special_values(cls, values: dict[str, Scalar]) -> dict[str, Scalar]:
        check_special_values(values)
        return values


class QueueNode(Strict):
    """Hand the call to the ACD and end the IVR."""

    kind: Literal["queue"]
    queue: Name | None = Field(None, description="Queue (default: defaults.queue, then the site default)")
    skill: Name | None = None
    priority: int | None = Field(None, ge=0, le=MAX_PRIORITY)
    prompt: PromptKey | None = Field(None, description="Played before the hand-off")
    reason: str | None = Field(None, max_length=64)


class TransferNode(Strict):
    """Dial another destination (an extension or a trunk) from the flow."""

    kind: Literal["transfer"]
    to: Annotated[str, StringConstraints(pattern=DIAL_PATTERN)] = Field(
        description="Dial target, e.g. PJSIP/200"
    )
    timeout_s: int = Field(30, ge=5, le=300)
    prompt: PromptKey | None = None
    on_fail: NodeId | None = Field(None, description="When nobody answers (default: the default queue)")


class CallbackNode(Strict):
    """Record a callback request for the caller's number (or a collected one) and end the call."""

    kind: Literal["callback"]
    number_var: VarName | None = Field(None, description="Variable holding the number (default: caller ID)")
    queue: Name | None = None
    prompt: PromptKey | None = Field(None, description="Confirmation played after the request is taken")
    on_fail: NodeId | None = Field(None, description="When no valid number or no callback service")


class HangupNode(Strict):
    """Optionally play a prompt, then hang up."""

    kind: Literal["hangup"]
    prompt: PromptKey | None = None
    outcome: Literal["ended", "resolved"] | None = Field(
        None, description="Recorded outcome (default: resolved after a self-service 'yes', else ended)"
    )


class GotoNode(Strict):
    """Jump to another node."""

    kind: Literal["goto"]
    target: NodeId


class SubflowNode(Strict):
    """Run another flow from its start; its 'return' node comes back to next."""

    kind: Literal["subflow"]
    flow: Name
    next: NodeId | None = Field(None, description="Where a 'return' in the sub-flow continues (default: end)")


class ReturnNode(Strict):
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
