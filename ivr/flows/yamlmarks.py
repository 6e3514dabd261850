"""YAML to plain values, remembering the line of every key and item so errors can point at the file.

Plain scalars are resolved with the YAML 1.2 core rules, not PyYAML's YAML 1.1 ones: ``yes``/``no``/``on``
stay words (callers say "yes"), ``9:00`` stays a time of day instead of the sexagesimal number 540, and
dates stay text for the schema to check. Aliases are allowed but the number of values built is capped,
so an alias bomb is reported instead of eating memory. Duplicate keys are errors.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

try:
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - libyaml is normally present
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

Path_ = tuple[str | int, ...]

_INT = re.compile(r"^[-+]?(0|[1-9][0-9]*)$")
_FLOAT = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
_NULL = {"", "~", "null", "Null", "NULL"}
_TRUE = {"true", "True", "TRUE"}
_FALSE = {"false", "False", "FALSE"}
_STANDARD_TAG = "tag:yaml.org,2002:"
_ALLOWED_TAGS = {
    _STANDARD_TAG + t for t in ("str", "int", "float", "bool", "null", "map", "seq", "timestamp")
}


class YamlProblem(Exception):
    """The text is not usable YAML for a flow; ``line`` is 1-based or None."""

    def __init__(self, line: int | None, reason: str) -> None:
        super().__init__(reason)
        self.line = line
        self.reason = reason


@dataclass
class LineIndex:
    """Line (1-based) of each key path: ``("nodes", "menu", "options", 0, "next") -> 14``."""

    lines: dict[Path_, int] = field(default_factory=dict)

    def line_of(self, path: Path_) -> int | None:
        """Line of the longest prefix of ``path`` that exists (the file's first line for the root)."""
        probe = tuple(path)
        while probe:
            if probe in self.lines:
                return self.lines[probe]
            probe = probe[:-1]
        return self.lines.get((), None)


def load_marked(text: str, *, max_values: int = 50_000) -> tuple[Any, LineIndex]:
    """Parse one YAML document into dicts/lists/scalars plus a LineIndex; raise YamlProblem."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        reason = exc.problem or exc.context or "invalid YAML"
        raise YamlProblem(line, f"YAML syntax error: {reason}") from None
    except yaml.YAMLError as exc:
        raise YamlProblem(None, f"YAML error: {exc}") from None
    finally:
        loader.dispose()
    if node is None:
        raise YamlProblem(1, "the file is empty")
    index = LineIndex()
    builder = _Builder(index, max_values)
    value = builder.build(node, ())
    return value, index


class _Builder:
    def __init__(self, index: LineIndex, max_values: int) -> None:
        self.index = index
        self.budget = max_values
        self.depth = 0

    def _spend(self, node: Node) -> None:
        self.budget -= 1
        if self.budget < 0:
            raise YamlProblem(
                node.start_mark.line + 1, "the file is too complex (too many values or aliases)"
            )

    def build(self, node: Node, path: Path_) -> Any:
        self._spend(node)
        self.index.lines.setdefault(path, node.start_mark.line + 1)
        if node.tag not in _ALLOWED_TAGS and node.tag != "!":
            raise YamlProblem(node.start_mark.line + 1, f"unsupported YAML tag {node.tag!r}")
        self.depth += 1
        if self.depth > 64:
            raise YamlProblem(node.start_mark.line + 1, "the file nests too deeply")
        try:
            if isinstance(node, ScalarNode):
                return _scalar(node)
            if isinstance(node, SequenceNode):
                out_list: list[Any] = []
                for i, item in enumerate(node.value):
                    self.index.lines[(*path, i)] = item.start_mark.line + 1
                    out_list.append(self.build(item, (*path, i)))
                return out_list
            if isinstance(node, MappingNode):
                return self._mapping(node, path)
        finally:
            self.depth -= 1
        raise YamlProblem(node.start_mark.line + 1, "unsupported YAML node")  # pragma: no cover

    def _mapping(self, node: MappingNode, path: Path_) -> dict[str, Any]:
        out: dict[str, Any] = {}
        first_line: dict[str, int] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if key_node.tag == _STANDARD_TAG + "merge":
                raise YamlProblem(line, "merge keys (<<) are not supported in flow files")
            if not isinstance(key_node, ScalarNode):
                raise YamlProblem(line, "a key must be plain text, not a list or mapping")
            key = key_node.value
            if key in first_line:
                raise YamlProblem(line, f"duplicate key '{key}' (first at line {first_line[key]})")
            first_line[key] = line
            self.index.lines[(*path, key)] = line
            out[key] = self.build(value_node, (*path, key))
            # a key's own line is more useful than its value's when the value starts on the next line
            self.index.lines[(*path, key)] = line
        return out


def _scalar(node: ScalarNode) -> Any:
    raw = node.value
    if node.style not in (None, ""):  # quoted or block scalar: always text (libyaml says "" for plain)
        return raw
    if (
        node.tag
        not in (
            _STANDARD_TAG + "str",
            _STANDARD_TAG + "int",
            _STANDARD_TAG + "float",
            _STANDARD_TAG + "bool",
            _STANDARD_TAG + "null",
            _STANDARD_TAG + "timestamp",
            _STANDARD_TAG + "value",
        )
        and node.tag != "!"
    ):
        return raw
    if raw in _NULL:
        return None
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    if _INT.match(raw):
        return int(raw)
    if _FLOAT.match(raw) and any(c.isdigit() for c in raw):
        return float(raw)
    return raw
