"""AMI wire format: an incremental framing parser for what Asterisk sends, and an action encoder.

Framing follows the golden transcripts, not a spec: a message ends at the first ``\\r\\n\\r\\n``; TCP
chunks carry partial or several messages; a value may end in a stray ``\\n`` (``Message: No endpoints
found\\n\\r\\n\\r\\n``); blank lines between messages are skipped. The banner
(``Asterisk Call Manager/11.0.0\\r\\n``) is a single line, not a message.

Decoding: each complete message is decoded as UTF-8 with ``errors="replace"``. Text that crosses chunk
boundaries is decoded only once whole, so a multi-byte character split by TCP survives intact; bytes
that are not UTF-8 (a Latin-1 caller name, junk in a variable) become U+FFFD and the message is kept
and flagged (``AmiMessage.lossy``). We chose "replace" over "surrogateescape" because lone surrogates
are not valid text downstream: redis-py, asyncpg and JSON responses raise on them far from the cause.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final, NamedTuple

TERMINATOR: Final = b"\r\n\r\n"
BANNER_PREFIX: Final = b"Asterisk Call Manager/"
DEFAULT_MAX_MESSAGE_BYTES: Final = 1 << 20
_PREVIEW_BYTES: Final = 60
_FORBIDDEN_IN_VALUE: Final = ("\r", "\n", "\x00")
# Asterisk splits a Variable header on "," and strips quotes and backslashes (man_do_variable_value
# uses AST_STANDARD_APP_ARGS), so these would change which variables get set.
_FORBIDDEN_IN_VARIABLE: Final = (",", '"', "\\")


class AmiMessage(NamedTuple):
    """One parsed message from Asterisk: a response (``Response:``) or an event (``Event:``).

    A NamedTuple rather than a frozen dataclass because one is built per event and this is about
    three times cheaper to construct.
    """

    fields: dict[str, str]
    duplicates: tuple[tuple[str, str], ...] = ()
    body: tuple[str, ...] = ()
    lossy: bool = False

    @property
    def is_event(self) -> bool:
        """True for ``Event:`` messages (OriginateResponse carries both headers and is an event)."""
        return "Event" in self.fields

    @property
    def is_response(self) -> bool:
        """True for replies to an action."""
        return "Event" not in self.fields and "Response" in self.fields

    @property
    def name(self) -> str:
        """The event name, or the response status (``Success``, ``Error``, ``Goodbye``...)."""
        fields = self.fields
        return fields.get("Event") or fields.get("Response", "")

    @property
    def action_id(self) -> str | None:
        """The ActionID header, when present."""
        return self.fields.get("ActionID")

    def get_all(self, key: str) -> list[str]:
        """Every value of a header that may repeat (``ChanVariable``); ``fields`` keeps only the first."""
        first = self.fields.get(key)
        values = [] if first is None else [first]
        values.extend(v for k, v in self.duplicates if k == key)
        return values


@dataclass(frozen=True, slots=True)
class ParseProblem:
    """Something the parser dropped or repaired, for the connection to log with its peer address."""

    reason: str
    preview: bytes


@dataclass(slots=True)
class AmiParser:
    """Incremental parser: ``feed`` TCP chunks as they come, get whole messages back in order."""

    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    expect_banner: bool = True
    # Headers that make a block a message: Asterisk sends Event/Response; a server-side parser
    # (the emulator, test servers) passes ("Action",).
    kinds: tuple[str, ...] = ("Event", "Response")
    banner: str | None = None
    _buffer: bytearray = field(default_factory=bytearray)
    _skipping: bool = False
    _problems: list[ParseProblem] = field(default_factory=list)

    @property
    def pending_bytes(self) -> int:
        """Bytes held back waiting for the rest of a message (non-zero when a socket drops mid-message)."""
        return len(self._buffer)

    def take_problems(self) -> list[ParseProblem]:
        """Problems seen since the last call (garbage, oversize, non-UTF-8), oldest first."""
        problems, self._problems = self._problems, []
        return problems

    def feed(self, data: bytes) -> list[AmiMessage]:
        """Add one chunk; return the messages it completed."""
        buffer = self._buffer
        buf: bytes | bytearray
        if buffer:
            # A terminator cannot start before the last 3 bytes already scanned.
            scan_from = max(0, len(buffer) - 3)
            buffer += data  # in place: appending stays linear however small the chunks
            buf = buffer
        else:
            scan_from = 0
            buf = data
        if self.expect_banner and self.banner is None:
            buf = self._take_banner(buf)
            scan_from = 0
            if self.banner is None:
                self._buffer = bytearray(buf)
                return []
        if buf.find(TERMINATOR, scan_from) < 0:
            if buf is not self._buffer:
                self._buffer = bytearray(buf)
            if len(self._buffer) > self.max_message_bytes:
                self._drop_oversize(self._buffer)
            return []
        blocks = buf.split(TERMINATOR)
        self._buffer = bytearray(blocks.pop())
        if len(self._buffer) > self.max_message_bytes:
            self._drop_oversize(self._buffer)
        messages: list[AmiMessage] = []
        for block in blocks:
            if self._skipping:
                # The tail of a message too large to keep: drop it up to its terminator.
                self._skipping = False
                continue
            message = self._parse_block(block)
            if message is not None:
                messages.append(message)
        return messages

    def _take_banner(self, buf: bytes | bytearray) -> bytes | bytearray:
        if not BANNER_PREFIX.startswith(buf[: len(BANNER_PREFIX)]):
            self._reject_banner(buf)
            return buf
        end = buf.find(b"\n")
        if end < 0:
            if len(buf) > 1024:
                self._reject_banner(buf)
            return buf
        self.banner = buf[:end].rstrip(b"\r").decode("utf-8", "replace")
        return buf[end + 1 :]

    def _reject_banner(self, buf: bytes | bytearray) -> None:
        self._problems.append(ParseProblem("no AMI banner", bytes(buf[:_PREVIEW_BYTES])))
        self.banner = ""  # not an AMI greeting; keep parsing so the caller can decide what to do

    def _drop_oversize(self, buf: bytes | bytearray) -> None:
        reason = f"message longer than {self.max_message_bytes} bytes dropped"
        self._problems.append(ParseProblem(reason, bytes(buf[:_PREVIEW_BYTES])))
        self._buffer = bytearray()
        self._skipping = True

    def _parse_block(self, block: bytes | bytearray) -> AmiMessage | None:
        lossy = False
        try:
            text = block.decode("utf-8")
        except UnicodeDecodeError:
            text = block.decode("utf-8", "replace")
            lossy = True
        lines = text.split("\r\n")
        fields: dict[str, str] | None = None
        duplicates: tuple[tuple[str, str], ...] = ()
        body: tuple[str, ...] = ()
        if text.count("\n") == len(lines) - 1:
            # Fast path, taken by everything Asterisk normally writes: only "Key: value" lines, no
            # repeated key, no empty line, no stray LF. Anything else falls through to the careful path.
            try:
                fields = dict([line.split(": ", 1) for line in lines])
            except ValueError:
                fields = None
            else:
                if len(fields) != len(lines) or "" in fields:
                    fields = None
        else:
            # A bare LF inside the block (the golden "found\n\r\n\r\n" reply): treat it as a line end too.
            lines = text.replace("\r\n", "\n").split("\n")
        if fields is None:
            fields, duplicates, body = _parse_lines(lines)
        for kind in self.kinds:
            if kind in fields:
                break
        else:
            if fields or body:
                self._problems.append(ParseProblem("garbage message dropped", bytes(block[:_PREVIEW_BYTES])))
            return None
        if lossy:
            self._problems.append(ParseProblem("non-UTF-8 bytes replaced", bytes(block[:_PREVIEW_BYTES])))
        return AmiMessage(fields, duplicates, body, lossy)


def _parse_lines(lines: list[str]) -> tuple[dict[str, str], tuple[tuple[str, str], ...], tuple[str, ...]]:
    """Header lines split at the first ": " (or ":" when there is no space); other lines are body."""
    fields: dict[str, str] = {}
    duplicates: list[tuple[str, str]] = []
    body: list[str] = []
    for line in lines:
        if ": " in line:
            key, value = line.split(": ", 1)
        else:
            key, sep, value = line.partition(":")
            if not sep:
                key = ""
        if not key:
            if line:
                body.append(line)
        elif key in fields:
            duplicates.append((key, value))
        else:
            fields[key] = value
    return fields, tuple(duplicates), tuple(body)


def parse_stream(
    chunks: Iterable[bytes], *, expect_banner: bool = True, kinds: tuple[str, ...] = ("Event", "Response")
) -> list[AmiMessage]:
    """Parse a whole byte stream given as chunks (tests, replay tools)."""
    parser = AmiParser(expect_banner=expect_banner, kinds=kinds)
    messages: list[AmiMessage] = []
    for chunk in chunks:
        messages.extend(parser.feed(chunk))
    return messages


def _check_text(what: str, text: str, *, forbidden: tuple[str, ...] = _FORBIDDEN_IN_VALUE) -> str:
    if not isinstance(text, str):
        raise TypeError(f"AMI {what} must be str, not {type(text).__name__}")
    for bad in forbidden:
        if bad in text:
            raise ValueError(f"AMI {what} {text[:40]!r} contains {bad!r}, which cannot be sent")
    return text


def _check_key(key: str) -> str:
    _check_text("header name", key)
    if not key or ":" in key or key != key.strip():
        raise ValueError(f"AMI header name {key[:40]!r} is not a valid header name")
    return key


def encode_action(
    name: str,
    action_id: str,
    fields: Mapping[str, str] | None = None,
    variables: Mapping[str, str] | None = None,
) -> bytes:
    """Bytes for one action; ValueError (before anything is sent) when a name or value holds CR, LF or NUL."""
    _check_key(name)
    _check_text("ActionID", action_id)
    lines = [f"Action: {name}", f"ActionID: {action_id}"]
    for key, value in (fields or {}).items():
        if key in ("Action", "ActionID"):
            raise ValueError(f"AMI header {key!r} is set by the client, not by fields")
        lines.append(f"{_check_key(key)}: {_check_text(key, value)}")
    for var, value in (variables or {}).items():
        _check_text("variable name", var, forbidden=(*_FORBIDDEN_IN_VALUE, *_FORBIDDEN_IN_VARIABLE, "="))
        if not var:
            raise ValueError("AMI variable name is empty")
        _check_text(f"variable {var}", value, forbidden=(*_FORBIDDEN_IN_VALUE, *_FORBIDDEN_IN_VARIABLE))
        lines.append(f"Variable: {var}={value}")
    lines.append("\r\n")
    # A str from Python is valid text except for lone surrogates, which encode() rejects (ValueError).
    return "\r\n".join(lines).encode("utf-8")
