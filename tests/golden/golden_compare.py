"""Reading the golden transcripts and comparing AMI/AGI traffic with them (shared by every golden test).

AMI comparison, as the emulator contract states it:
- every reply to an action (the Response, its list events and Complete, and the OriginateResponse, all tied by
  ActionID) must match field for field, in order;
- broadcast events the controller consumes (``ami.consumed``) are grouped into streams (per channel, bridge,
  device, endpoint, globals, system) and each stream must hold the same events with the same fields and values
  in the same order. Order across streams is not compared: Asterisk's own threads reorder it.
- unique ids, timestamps and durations are blanked, channel names lose their numeric suffix (replaced by the
  order of appearance per base name) and bridge ids become ``bridge-#n``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ami.consumed import is_consumed

Pairs = tuple[tuple[str, str], ...]

BLANKED_FIELDS = frozenset({
    "Uniqueid", "Linkedid", "DestUniqueid", "DestLinkedid", "Timestamp", "Uptime", "LastReload", "Duration",
    "Seconds",
})
_LINE = re.compile(r"^\s*([\d.]+) (<<<|>>>) ?(.*)$")
_CHANNEL = re.compile(r"((?:Local|PJSIP)/[^\s;,|]+?)-([0-9a-f]{8})(?=;[12]|\b)")


def decode_bytes(text: str) -> bytes:
    """Bytes of one transcript line (written like a Python bytes literal without the quotes)."""
    return bytes(text, "ascii").decode("unicode_escape").encode("latin-1")


@dataclass(frozen=True)
class Chunk:
    """One TCP read or write of a transcript."""

    t: float
    direction: str  # "<<<" from Asterisk, ">>>" to Asterisk
    data: bytes


def load_chunks(path: Path) -> list[Chunk]:
    """Every line of a transcript file."""
    chunks = []
    for line in path.read_text(encoding="ascii").splitlines():
        match = _LINE.match(line)
        if match:
            chunks.append(Chunk(float(match.group(1)), match.group(2), decode_bytes(match.group(3))))
    return chunks


@dataclass(frozen=True)
class AmiMessage:
    """One AMI message (a Response or an Event) as ordered fields."""

    pairs: Pairs
    t: float = 0.0

    @property
    def is_response(self) -> bool:
        return bool(self.pairs) and self.pairs[0][0] == "Response"

    @property
    def name(self) -> str:
        return self.pairs[0][1] if self.pairs else ""

    def get(self, key: str, default: str | None = None) -> str | None:
        for k, v in self.pairs:
            if k == key:
                return v
        return default


def parse_ami_stream(data: bytes,
                     times: Sequence[tuple[int, float]] = ()) -> tuple[str | None, list[AmiMessage]]:
    """Split the bytes Asterisk sent into (banner, messages); ``times`` maps byte offsets to chunk times."""
    banner = None
    start = 0
    if data.startswith(b"Asterisk Call Manager"):
        end = data.index(b"\r\n")
        banner = data[:end].decode("latin-1")
        start = end + 2
    messages = []
    pos = start
    while True:
        end = data.find(b"\r\n\r\n", pos)
        if end < 0:
            break
        block = data[pos:end].decode("latin-1")
        if block.strip():
            pairs = []
            for line in block.split("\r\n"):
                key, _, value = line.partition(": ")
                pairs.append((key, value))
            t = next((when for offset, when in times if offset >= end), times[-1][1] if times else 0.0)
            messages.append(AmiMessage(tuple(pairs), t))
        pos = end + 4
    return banner, messages


@dataclass(frozen=True)
class AmiTranscript:
    """A golden AMI scenario: the actions sent (time, bytes) and the messages received."""

    actions: list[Chunk]
    banner: str | None
    messages: list[AmiMessage]

    def action_ids(self) -> list[str]:
        ids = []
        for chunk in self.actions:
            for _, msg in parse_requests(chunk.data):
                if msg.get("ActionID"):
                    ids.append(msg["ActionID"])
        return ids


def parse_requests(data: bytes) -> list[tuple[str, dict[str, str]]]:
    """Actions in bytes we sent: (action name, headers)."""
    out = []
    for block in data.split(b"\r\n\r\n"):
        if not block.strip():
            continue
        headers: dict[str, str] = {}
        for line in block.decode("latin-1").split("\r\n"):
            key, _, value = line.partition(": ")
            headers.setdefault(key, value)
        out.append((headers.get("Action", ""), headers))
    return out


def load_ami_transcript(path: Path) -> AmiTranscript:
    """Parse a golden ``*.ami.txt``."""
    chunks = load_chunks(path)
    received = b""
    times: list[tuple[int, float]] = []
    for chunk in chunks:
        if chunk.direction == "<<<":
            received += chunk.data
            times.append((len(received), chunk.t))
    banner, messages = parse_ami_stream(received, times)
    return AmiTranscript([c for c in chunks if c.direction == ">>>"], banner, messages)


class Canon:
    """Stable names for things whose real names are numbered by the server (channels, bridges)."""

    def __init__(self) -> None:
        self._channels: dict[tuple[str, str], int] = {}
        self._per_base: dict[str, int] = {}
        self._bridges: dict[str, str] = {}

    def text(self, value: str) -> str:
        """Replace every numbered channel name inside ``value``."""
        def repl(match: re.Match[str]) -> str:
            key = (match.group(1), match.group(2))
            if key not in self._channels:
                self._per_base[key[0]] = self._per_base.get(key[0], 0) + 1
                self._channels[key] = self._per_base[key[0]]
            return f"{key[0]}-#{self._channels[key]}"

        return _CHANNEL.sub(repl, value)

    def bridge(self, value: str) -> str:
        if value not in self._bridges:
            self._bridges[value] = f"bridge-#{len(self._bridges) + 1}"
        return self._bridges[value]


def normalize(msg: AmiMessage, canon: Canon, blank: Iterable[str] = ()) -> Pairs:
    """Fields with ids/times blanked and names canonical; ``blank`` adds allowed differences."""
    extra = set(blank)
    out = []
    for key, value in msg.pairs:
        if key in BLANKED_FIELDS or key in extra:
            out.append((key, "*"))
        elif key == "BridgeUniqueid":
            out.append((key, canon.bridge(value)))
        else:
            out.append((key, canon.text(value)))
    return tuple(out)


def stream_key(msg: AmiMessage, canon: Canon) -> str:
    """Which stream a consumed broadcast event belongs to."""
    name = msg.name
    if name in ("FullyBooted", "Shutdown"):
        return "system"
    if name == "DeviceStateChange":
        return f"device:{msg.get('Device')}"
    if name == "PeerStatus":
        return f"endpoint:{msg.get('Peer')}"
    if name == "ContactStatus":
        return f"endpoint:PJSIP/{msg.get('EndpointName')}"
    if name in ("BridgeCreate", "BridgeDestroy"):
        return f"bridge:{canon.bridge(msg.get('BridgeUniqueid') or '')}"
    channel = msg.get("Channel")
    if channel == "none":
        return "globals"
    if channel is None:
        channel = msg.get("DestChannel") or ""
    return f"channel:{canon.text(channel)}"


@dataclass(frozen=True)
class Allowance:
    """A documented difference: ``field`` of ``event`` in streams starting with ``stream`` may differ."""

    stream: str
    event: str
    field: str
    reason: str


@dataclass
class Split:
    """Messages of one side sorted into reply groups (by ActionID) and consumed-event streams."""

    replies: dict[str, list[Pairs]] = field(default_factory=dict)
    streams: dict[str, list[Pairs]] = field(default_factory=dict)


def split_messages(messages: Sequence[AmiMessage], action_ids: Iterable[str],
                   allowances: Sequence[Allowance] = ()) -> Split:
    """Sort messages into replies and consumed streams, normalized for comparison."""
    ids = set(action_ids)
    canon = Canon()
    out = Split()
    for msg in messages:
        action_id = msg.get("ActionID")
        if msg.is_response or (action_id is not None and action_id in ids):
            out.replies.setdefault(action_id or "<none>", []).append(normalize(msg, canon))
            continue
        if not is_consumed(msg.name, msg.get("Variable")):
            continue
        key = stream_key(msg, canon)
        blank = [a.field for a in allowances if key.startswith(a.stream) and a.event == msg.name]
        out.streams.setdefault(key, []).append(normalize(msg, canon, blank))
    return out


def _describe(pairs: Pairs) -> str:
    return " | ".join(f"{k}={v}" for k, v in pairs)


def diff_sequences(label: str, expected: Sequence[Pairs], actual: Sequence[Pairs]) -> list[str]:
    """Human-readable differences between two normalized message sequences."""
    problems = []
    for i in range(max(len(expected), len(actual))):
        want = expected[i] if i < len(expected) else None
        got = actual[i] if i < len(actual) else None
        if want == got:
            continue
        if want is None:
            problems.append(f"{label}[{i}] unexpected: {_describe(got or ())}")
        elif got is None:
            problems.append(f"{label}[{i}] missing: {_describe(want)}")
        else:
            fields = [f"{k}: want {dict(want).get(k)!r} got {dict(got).get(k)!r}"
                      for k in dict.fromkeys([*(k for k, _ in want), *(k for k, _ in got)])
                      if dict(want).get(k) != dict(got).get(k)]
            order = "" if [k for k, _ in want] == [k for k, _ in got] else " (field order differs)"
            problems.append(f"{label}[{i}] {dict(want).get('Event') or dict(want).get('Response')}: "
                            f"{'; '.join(fields)}{order}")
        break  # the first difference per sequence is enough to act on
    return problems


def diff_ami(expected: Split, actual: Split) -> list[str]:
    """Every difference in replies and consumed streams (empty when the two sides match)."""
    problems = []
    for action_id in dict.fromkeys([*expected.replies, *actual.replies]):
        problems += diff_sequences(f"reply {action_id}", expected.replies.get(action_id, []),
                                   actual.replies.get(action_id, []))
    for key in dict.fromkeys([*expected.streams, *actual.streams]):
        problems += diff_sequences(key, expected.streams.get(key, []), actual.streams.get(key, []))
    return problems


# ----- FastAGI -----

@dataclass(frozen=True)
class AgiExchange:
    """One command and the reply lines Asterisk sent for it (HANGUP lines excluded)."""

    command: str
    reply: tuple[str, ...]


@dataclass(frozen=True)
class AgiTranscript:
    """A golden FastAGI session: the environment Asterisk sent and the command/reply exchanges.

    ``hangup_after`` is the index of the exchange after whose reply the bare ``HANGUP`` line arrived (and
    before the next reply), or None.
    """

    env: tuple[tuple[str, str], ...]
    exchanges: tuple[AgiExchange, ...]
    hangup_after: int | None


def is_final_reply(line: str) -> bool:
    """True for the line that ends a reply (``520-`` starts a usage block that ``520 `` ends)."""
    return line[:3].isdigit() and line[3:4] != "-"


def load_agi_transcript(path: Path) -> AgiTranscript:
    """Parse a golden ``*.agi.txt``."""
    env: list[tuple[str, str]] = []
    exchanges: list[AgiExchange] = []
    command: str | None = None
    reply: list[str] = []
    hangup_after: int | None = None
    in_env = True
    for chunk in load_chunks(path):
        line = chunk.data.decode("utf-8").rstrip("\n")
        if chunk.direction == "<<<" and in_env:
            if line == "":
                in_env = False
            else:
                key, _, value = line.partition(": ")
                env.append((key, value))
            continue
        if chunk.direction == ">>>":
            command, reply = line, []
            continue
        if line == "HANGUP":
            hangup_after = len(exchanges) - 1
            continue
        reply.append(line)
        if is_final_reply(line) and command is not None:
            exchanges.append(AgiExchange(command, tuple(reply)))
            command = None
    return AgiTranscript(tuple(env), tuple(exchanges), hangup_after)


AGI_BLANKED_ENV = frozenset({"agi_uniqueid", "agi_threadid"})


def normalize_agi_env(env: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """Environment lines with ids blanked and the channel's numeric suffix removed."""
    canon = Canon()
    return [(k, "*" if k in AGI_BLANKED_ENV else canon.text(v)) for k, v in env]
