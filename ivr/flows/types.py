"""Shared pieces of the flow language: name patterns, annotated field types, the strict base model."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

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


class Strict(BaseModel):
    """Frozen, and unknown keys are errors."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


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
