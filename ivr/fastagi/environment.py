"""The AGI environment Asterisk sends first (``agi_key: value`` lines up to a blank line), parsed defensively.

Decoding: each line is decoded as UTF-8 with invalid bytes replaced by U+FFFD (never a control character,
quote or backslash), and the parser records a warning naming the key so the server can log it.
A trailing CR is tolerated. Lines that are not ``agi_<name>: value`` are skipped with a warning: they can only
come from a value that held a newline. A key sent twice rejects the whole environment, because a caller ID
carrying ``\\nagi_arg_1: ...`` would otherwise smuggle in a route or an argument.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from ivr.fastagi.errors import AgiProtocolError

_KEY = re.compile(r"agi_[a-z0-9_]{1,64}")

_FIELDS = (
    "network_script", "request", "channel", "language", "type", "uniqueid", "version", "callerid",
    "calleridname", "context", "extension", "priority", "accountcode", "threadid",
)  # fmt: skip


@dataclass(frozen=True)
class AgiEnvironment:
    """What Asterisk told us about the call. callerid, calleridname and args are caller-controlled text."""

    network_script: str = ""
    request: str = ""
    channel: str = ""
    language: str = ""
    type: str = ""
    uniqueid: str = ""
    version: str = ""
    callerid: str = ""
    calleridname: str = ""
    context: str = ""
    extension: str = ""
    priority: str = ""
    accountcode: str = ""
    threadid: str = ""
    args: tuple[str, ...] = ()
    raw: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def route(self) -> str:
        """First path segment of agi_network_script (``ivr/main`` -> ``ivr``)."""
        return split_script(self.network_script)[0]

    @property
    def route_rest(self) -> str:
        """The rest of agi_network_script after the first segment (``ivr/main`` -> ``main``)."""
        return split_script(self.network_script)[1]

    @classmethod
    def from_mapping(cls, values: Mapping[str, str]) -> AgiEnvironment:
        """Build from ``agi_*`` keys (as received); arguments come from agi_arg_1..N up to the first gap."""
        args: list[str] = []
        while (value := values.get(f"agi_arg_{len(args) + 1}")) is not None:
            args.append(value)
        known = {name: values.get(f"agi_{name}", "") for name in _FIELDS}
        return cls(**known, args=tuple(args), raw=MappingProxyType(dict(values)))


def split_script(network_script: str) -> tuple[str, str]:
    """``"/ivr/main?x=1"`` -> ``("ivr", "main")``: the query string is not part of the route."""
    path = network_script.split("?", 1)[0].strip("/")
    first, _, rest = path.partition("/")
    return first, rest


class EnvironmentParser:
    """Incremental parser fed one line (bytes, without its newline) at a time."""

    def __init__(self, max_bytes: int = 65_536) -> None:
        self.max_bytes = max_bytes
        self.received = 0
        self.done = False
        self.warnings: list[str] = []
        self._values: dict[str, str] = {}

    def feed_line(self, raw: bytes) -> bool:
        """Take one line; True once the blank line has ended the environment. AgiProtocolError on abuse."""
        if self.done:
            raise AgiProtocolError("environment already complete")
        self.received += len(raw) + 1
        if self.received > self.max_bytes:
            raise AgiProtocolError(f"AGI environment exceeds {self.max_bytes} bytes")
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        if not raw:
            self.done = True
            return True
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            line = raw.decode("utf-8", "replace")
            self.warnings.append(f"invalid UTF-8 replaced by U+FFFD in {line.split(':', 1)[0][:64]!r}")
        key, sep, value = line.partition(":")
        if not sep or not _KEY.fullmatch(key):
            self.warnings.append(f"skipped malformed environment line {line[:80]!r}")
            return False
        if key in self._values:
            raise AgiProtocolError(f"environment key {key!r} sent twice")
        self._values[key] = value[1:] if value.startswith(" ") else value
        return False

    def environment(self) -> AgiEnvironment:
        """The parsed environment (also usable before the blank line, e.g. for logging)."""
        return AgiEnvironment.from_mapping(self._values)


def parse_environment(data: bytes, max_bytes: int = 65_536) -> AgiEnvironment:
    """Parse a complete environment block (lines up to and including the blank line)."""
    parser = EnvironmentParser(max_bytes)
    *lines, _partial = data.split(b"\n")
    for raw in lines:
        if parser.feed_line(raw):
            return parser.environment()
    raise AgiProtocolError("AGI environment ended without its blank line")
