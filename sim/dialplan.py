"""A small extensions.conf parser and lookup: contexts, patterns, priorities, labels, includes, globals."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path


class DialplanError(ValueError):
    """extensions.conf text the emulator cannot understand (message names the line)."""


@dataclass(frozen=True, slots=True)
class Step:
    """One priority: ``App(data)``, its optional label and where it came from."""

    priority: int
    app: str
    data: str
    label: str | None
    line: int


@dataclass
class Extension:
    """All priorities of one extension pattern in one context."""

    pattern: str
    steps: dict[int, Step] = field(default_factory=dict)
    labels: dict[str, int] = field(default_factory=dict)
    last_priority: int = 0

    def matches(self, exten: str) -> bool:
        if not self.pattern.startswith("_"):
            return self.pattern == exten
        return _pattern_regex(self.pattern).fullmatch(exten) is not None


@dataclass
class Context:
    """A ``[name]`` section of extensions."""

    name: str
    extensions: dict[str, Extension] = field(default_factory=dict)
    includes: list[str] = field(default_factory=list)


@functools.lru_cache(maxsize=1024)
def _pattern_regex(pattern: str) -> re.Pattern[str]:
    body = pattern[1:]
    out = []
    i = 0
    while i < len(body):
        c = body[i]
        upper = c.upper()
        if upper == "X":
            out.append("[0-9]")
        elif upper == "Z":
            out.append("[1-9]")
        elif upper == "N":
            out.append("[2-9]")
        elif c == ".":
            out.append(".+")
        elif c == "!":
            out.append(".*")
        elif c == "[":
            end = body.find("]", i + 1)
            if end < 0:
                raise DialplanError(f"unterminated character class in pattern {pattern!r}")
            members = body[i + 1 : end].replace("\\", "\\\\").replace("^", "\\^")
            out.append(f"[{members}]")
            i = end
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out))


def _specificity(pattern: str) -> tuple[int, tuple[int, ...]]:
    """Sort key: literal extensions first, then patterns whose positions match fewer characters."""
    if not pattern.startswith("_"):
        return (0, ())
    weights = []
    body = pattern[1:]
    i = 0
    while i < len(body):
        c = body[i].upper()
        if c == "X":
            weights.append(10)
        elif c == "Z":
            weights.append(9)
        elif c == "N":
            weights.append(8)
        elif c in ".!":
            weights.append(100_000 + (c == "!"))
            break
        elif c == "[":
            end = body.find("]", i + 1)
            members = body[i + 1 : end]
            count = 0
            j = 0
            while j < len(members):
                if j + 2 < len(members) and members[j + 1] == "-":
                    count += abs(ord(members[j + 2]) - ord(members[j])) + 1
                    j += 3
                else:
                    count += 1
                    j += 1
            weights.append(count)
            i = end
        else:
            weights.append(1)
        i += 1
    return (1, tuple(weights))


_SECTION = re.compile(r"^\[([^\]]+)\]")
_KEYVAL = re.compile(r"^([A-Za-z_][\w-]*)\s*=>?\s*(.*)$")
_PRIORITY = re.compile(r"^(\d+|n|s|hint)(?:\(([^)]+)\))?$")


def _strip_comment(line: str) -> str:
    out = []
    i = 0
    while i < len(line):
        c = line[i]
        if c == "\\" and i + 1 < len(line) and line[i + 1] == ";":
            out.append(";")
            i += 2
            continue
        if c == ";":
            break
        out.append(c)
        i += 1
    return "".join(out).strip()


def _split_app(text: str) -> tuple[str, str]:
    """``App(data)`` -> (``App``, ``data``); a bare ``App`` has no data."""
    text = text.strip()
    paren = text.find("(")
    if paren < 0:
        parts = text.split(None, 1)
        return (parts[0] if parts else "", parts[1] if len(parts) > 1 else "")
    name = text[:paren].strip()
    data = text[paren + 1 :]
    if data.endswith(")"):
        data = data[:-1]
    return name, data


class Dialplan:
    """Parsed contexts plus ``[globals]``; lookups follow Asterisk's precedence (literal, then specific)."""

    def __init__(self, contexts: dict[str, Context], globals_: dict[str, str], source: str = "") -> None:
        self.contexts = contexts
        self.globals = globals_
        self.source = source

    @classmethod
    def load(cls, path: Path | str) -> Dialplan:
        """Parse an extensions.conf file."""
        path = Path(path)
        return cls.parse(path.read_text(encoding="utf-8"), source=str(path))

    @classmethod
    def parse(cls, text: str, source: str = "<text>") -> Dialplan:
        """Parse extensions.conf text; raises DialplanError naming the offending line."""
        contexts: dict[str, Context] = {}
        globals_: dict[str, str] = {}
        section: str | None = None
        current: Extension | None = None
        in_block_comment = False
        for number, raw in enumerate(text.splitlines(), start=1):
            if in_block_comment:
                if "--;" in raw:
                    in_block_comment = False
                continue
            if raw.lstrip().startswith(";--"):
                in_block_comment = "--;" not in raw[raw.index(";--") + 3 :]
                continue
            line = _strip_comment(raw)
            if not line:
                continue
            header = _SECTION.match(line)
            if header:
                section = header.group(1).strip()
                current = None
                if section not in ("general", "globals"):
                    contexts.setdefault(section, Context(section))
                continue
            match = _KEYVAL.match(line)
            if section is None or match is None:
                raise DialplanError(f"{source}:{number}: cannot parse {raw.strip()!r}")
            key, value = match.group(1).lower(), match.group(2).strip()
            if section == "general":
                continue
            if section == "globals":
                globals_[match.group(1)] = value
                continue
            context = contexts[section]
            if key == "include":
                context.includes.append(value)
            elif key == "exten":
                current = cls._add_exten(context, value, source, number)
            elif key == "same":
                if current is None:
                    raise DialplanError(f"{source}:{number}: 'same =>' before any 'exten =>'")
                cls._add_step(current, value, source, number)
            elif key in ("switch", "ignorepat", "eswitch", "lswitch"):
                continue
            else:
                raise DialplanError(f"{source}:{number}: unknown keyword {key!r}")
        return cls(contexts, globals_, source)

    @classmethod
    def _add_exten(cls, context: Context, value: str, source: str, number: int) -> Extension:
        parts = value.split(",", 1)
        if len(parts) != 2:
            raise DialplanError(f"{source}:{number}: exten needs pattern,priority,application")
        pattern = parts[0].strip().split("/", 1)[0]  # a /callerid match is accepted and ignored
        if pattern.startswith("_"):
            try:
                _pattern_regex(pattern)
            except DialplanError as exc:
                raise DialplanError(f"{source}:{number}: {exc}") from exc
        ext = context.extensions.setdefault(pattern, Extension(pattern))
        cls._add_step(ext, parts[1], source, number)
        return ext

    @staticmethod
    def _add_step(ext: Extension, value: str, source: str, number: int) -> None:
        parts = value.split(",", 1)
        prio_text = parts[0].strip()
        match = _PRIORITY.match(prio_text)
        if match is None:
            raise DialplanError(f"{source}:{number}: bad priority {prio_text!r}")
        kind, label = match.group(1), match.group(2)
        if kind == "hint":
            return
        if kind == "n":
            priority = ext.last_priority + 1
        elif kind == "s":
            priority = ext.last_priority
        else:
            priority = int(kind)
        app, data = _split_app(parts[1] if len(parts) > 1 else "")
        if not app:
            raise DialplanError(f"{source}:{number}: missing application")
        ext.steps[priority] = Step(priority, app, data, label, number)
        if label:
            ext.labels[label] = priority
        ext.last_priority = priority

    def extension(self, context: str, exten: str) -> Extension | None:
        """The best-matching extension for ``exten`` in ``context`` or its includes."""
        return self._extension(context, exten, set())

    def _extension(self, context: str, exten: str, seen: set[str]) -> Extension | None:
        ctx = self.contexts.get(context)
        if ctx is None or context in seen:
            return None
        seen.add(context)
        candidates = [ext for ext in ctx.extensions.values() if ext.matches(exten)]
        if candidates:
            return min(candidates, key=lambda e: _specificity(e.pattern))
        for inc in ctx.includes:
            found = self._extension(inc, exten, seen)
            if found is not None:
                return found
        return None

    def find(self, context: str, exten: str, priority: int) -> Step | None:
        """The step at ``priority`` of the extension matching ``exten``, or None."""
        ext = self.extension(context, exten)
        return None if ext is None else ext.steps.get(priority)

    def exists(self, context: str, exten: str, priority: int = 1) -> bool:
        """True when ``context,exten,priority`` exists (what Originate and Redirect check)."""
        return self.find(context, exten, priority) is not None

    def label(self, context: str, exten: str, label: str) -> int | None:
        """The priority carrying ``label``, or None."""
        ext = self.extension(context, exten)
        return None if ext is None else ext.labels.get(label)
