"""Read one flow file: size limit, UTF-8, YAML with line marks, schema check; every error with its line."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ivr.flows.model import NODE_KINDS, Flow, FlowSpec
from ivr.flows.problems import FlowProblem
from ivr.flows.yamlmarks import LineIndex, YamlProblem, load_marked

MAX_FLOW_BYTES = 256 * 1024
FLOW_SUFFIXES = (".yaml", ".yml")


class ParsedFlow:
    """A flow file that passed the schema, with the line index the graph checks report against."""

    def __init__(self, flow: Flow, lines: LineIndex) -> None:
        self.flow = flow
        self.lines = lines


def flow_name_for(path: Path) -> str:
    """A flow's name is its file name without the extension."""
    return path.stem


def parse_flow_file(
    path: Path, *, max_bytes: int = MAX_FLOW_BYTES
) -> tuple[ParsedFlow | None, list[FlowProblem]]:
    """Load and schema-check one file; on any problem return (None, problems)."""
    shown = str(path)
    try:
        size = path.stat().st_size
        if size > max_bytes:
            return None, [
                FlowProblem(shown, None, f"file is too large ({size} bytes; the limit is {max_bytes})")
            ]
        data = path.read_bytes()[: max_bytes + 1]
    except OSError as exc:
        return None, [FlowProblem(shown, None, f"cannot read the file: {exc.strerror or exc}")]
    return parse_flow_bytes(data, path, max_bytes=max_bytes)


def parse_flow_bytes(
    data: bytes, path: Path, *, max_bytes: int = MAX_FLOW_BYTES
) -> tuple[ParsedFlow | None, list[FlowProblem]]:
    """Parse flow text already read (``path`` names it in errors and gives the flow its name)."""
    shown = str(path)
    if len(data) > max_bytes:
        return None, [FlowProblem(shown, None, f"file is too large (over {max_bytes} bytes)")]
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return None, [FlowProblem(shown, line, "the file is not UTF-8 text")]
    if "\x00" in text:
        return None, [
            FlowProblem(shown, text[: text.index("\x00")].count("\n") + 1, "the file contains NUL bytes")
        ]
    try:
        raw, lines = load_marked(text)
    except YamlProblem as exc:
        return None, [FlowProblem(shown, exc.line, exc.reason)]
    if not isinstance(raw, dict):
        return None, [FlowProblem(shown, 1, "a flow file must be a mapping with start:, prompts: and nodes:")]
    try:
        spec = FlowSpec.model_validate(raw)
    except ValidationError as exc:
        return None, _schema_problems(shown, exc, raw, lines)
    name = flow_name_for(path)
    if spec.flow is not None and spec.flow != name:
        line = lines.line_of(("flow",))
        return None, [FlowProblem(shown, line, f"flow: '{spec.flow}' does not match the file name '{name}'")]
    version = hashlib.sha256(data).hexdigest()[:16]
    return ParsedFlow(Flow(name=name, spec=spec, path=path, version=version), lines), []


def _schema_problems(shown: str, exc: ValidationError, raw: Any, lines: LineIndex) -> list[FlowProblem]:
    problems: list[FlowProblem] = []
    seen: set[tuple[int | None, str]] = set()
    for err in exc.errors(include_url=False):
        real = _real_path(raw, err["loc"])
        if err["type"] == "union_tag_invalid":
            real = (*real, "kind")
        reason = _reason(err, real)
        line = lines.line_of(real)
        if (line, reason) in seen:
            continue
        seen.add((line, reason))
        problems.append(FlowProblem(shown, line, reason))
    problems.sort(key=lambda p: (p.line or 0, p.reason))
    return problems


def _real_path(raw: Any, loc: tuple[Any, ...]) -> tuple[str | int, ...]:
    """Drop the parts of pydantic's location that are not in the file (union tags, validator names)."""
    path: list[str | int] = []
    cur = raw
    tag_skipped: set[int] = set()
    for part in loc:
        if isinstance(cur, dict) and cur.get("kind") == part and id(cur) not in tag_skipped:
            tag_skipped.add(id(cur))  # the union tag pydantic puts after a node id, not a key of the file
            continue
        in_dict = isinstance(cur, dict) and isinstance(part, str) and part in cur
        in_list = isinstance(cur, list) and isinstance(part, int) and 0 <= part < len(cur)
        if in_dict or in_list:
            path.append(part)
            cur = cur[part]
        elif isinstance(cur, dict) and isinstance(part, str) and part.rstrip("_") in cur:
            path.append(part.rstrip("_"))
            cur = cur[part.rstrip("_")]
    return tuple(path)


def _where(path: tuple[str | int, ...]) -> str:
    if len(path) >= 2 and path[0] == "nodes":
        rest = " ".join(f"#{p + 1}" if isinstance(p, int) else str(p) for p in path[2:])
        return f"node '{path[1]}'" + (f" {rest}" if rest else "")
    if len(path) >= 2 and path[0] == "prompts":
        return f"prompt '{path[1]}'"
    return ".".join(str(p) for p in path) or "flow"


def _reason(err: Any, real: tuple[str | int, ...]) -> str:
    kind = err["type"]
    loc = err["loc"]
    last = str(loc[-1]).rstrip("_") if loc else ""
    ctx = err.get("ctx") or {}
    if kind == "extra_forbidden":
        return f"{_where(real[:-1])}: unknown key '{last}'"
    if kind == "missing":
        return f"{_where(real)}: missing required key '{last}'"
    if kind == "union_tag_invalid":
        kinds = ", ".join(NODE_KINDS)
        return f"{_where(real[:-1])}: unknown node kind '{ctx.get('tag')}' (expected one of: {kinds})"
    if kind == "union_tag_not_found":
        return f"{_where(real)}: node has no 'kind:' (one of: {', '.join(NODE_KINDS)})"
    if kind == "string_pattern_mismatch":
        value = err.get("input")
        return f"{_where(real)}: '{value}' is not a valid name (letters, digits, '-' and '_', up to 64)"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"{_where(real)}: expected a mapping (key: value), got {_kind_of(err.get('input'))}"
    if kind == "list_type":
        return f"{_where(real)}: expected a list, got {_kind_of(err.get('input'))}"
    if kind == "value_error":
        return f"{_where(real)}: {ctx.get('error') or err['msg']!s}"
    if kind == "literal_error":
        return f"{_where(real)}: {err['msg'].lower()}"
    return f"{_where(real)}: {err['msg'].lower()}"


def _kind_of(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    return "a mapping"
