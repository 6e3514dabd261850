"""The flow language: typed, frozen node models that both validate flow files and generate their JSON Schema.

A flow file is a mapping with ``start``, ``prompts`` and ``nodes`` (see ``flows/main.yaml``). Nodes are keyed
by id and chosen by ``kind``. Prompts are referenced by key: a key names an entry of ``prompts:`` (text to
render, and/or a recorded file) or, failing that, an existing recorded sound file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator, ConfigDict, Field, StringConstraints, model_validator

from ivr.flows.hours import BusinessHours, Holiday, parse_days, parse_ranges
from ivr.flows.nodes import (
    NODE_KINDS,
    TERMINAL_KINDS,
    AskNode,
    CallbackNode,
    CollectNode,
    ConditionNode,
    GotoNode,
    HangupNode,
    Intent,
    MenuNode,
    MenuOption,
    Node,
    PlayNode,
    Predicate,
    QueueNode,
    ReturnNode,
    ScriptNode,
    ScriptStep,
    SetNode,
    SubflowNode,
    TransferNode,
    Validation,
)
from ivr.flows.types import (
    MAX_PRIORITY,
    SPECIAL_VARIABLES,
    Name,
    NodeId,
    PromptKey,
    PromptText,
    Scalar,
    Strict,
    check_special_values,
)

__all__ = [
    "MAX_PRIORITY",
    "NODE_KINDS",
    "SPECIAL_VARIABLES",
    "TERMINAL_KINDS",
    "AskNode",
    "BusinessHours",
    "CallbackNode",
    "CollectNode",
    "ConditionNode",
    "Defaults",
    "Flow",
    "FlowSpec",
    "GotoNode",
    "HangupNode",
    "Holiday",
    "Intent",
    "MenuNode",
    "MenuOption",
    "Node",
    "PlayNode",
    "Predicate",
    "PromptDef",
    "QueueNode",
    "ReturnNode",
    "Scalar",
    "ScriptNode",
    "ScriptStep",
    "SetNode",
    "SubflowNode",
    "TransferNode",
    "Validation",
    "check_special_values",
    "parse_days",
    "parse_ranges",
]


class PromptDef(Strict):
    """A prompt: text rendered to speech, a recorded file, or both (the recording wins when it exists)."""

    say: str | None = Field(None, min_length=1, max_length=2000, description="Text rendered to speech")
    file: PromptKey | None = Field(None, description="Recorded sound file name (no extension)")

    @model_validator(mode="after")
    def _something_to_play(self) -> PromptDef:
        if self.say is None and self.file is None:
            raise ValueError("a prompt needs say: text or a file: recording")
        return self


class Defaults(Strict):
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


def _prompt_def(value: Any) -> Any:
    return {"say": value} if isinstance(value, str) else value


class FlowSpec(Strict):
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
