"""FastAGI wire format, free of I/O: argument quoting, command encoding and reply parsing.

Quoting rule (matches every ``>>>`` line of the golden transcripts):
- *values* (variable values, messages, escape digits, application options: anything that may carry caller
  text) are written bare only when they are a plain word ``[A-Za-z0-9_]+``, otherwise double-quoted;
- *tokens* chosen by code (sound and recording file names, formats, application and variable names,
  expressions) are written bare unless they hold a space, a quote, a backslash or a non-printable or
  non-ASCII character, otherwise double-quoted.
Inside quotes ``\\`` and ``"`` are backslash-escaped, which is exactly what res_agi.c's ``parse_args`` undoes.
Control characters (CR, LF, NUL, ...) and lone surrogates are replaced by a space before quoting, so no value
can ever end the command line or start a second command. A line longer than Asterisk's 2048-byte read
buffer would be split by Asterisk into two commands, so it is refused with ``AgiArgumentError``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ivr.fastagi.errors import AgiArgumentError, AgiProtocolError

#: res_agi.c reads one command with fgets() into ``char buf[AGI_BUF_LEN]`` (2048): at most 2047 bytes,
#: newline included. A longer line is cut there and its tail runs as a second command.
MAX_COMMAND_BYTES = 2047

_WORD = re.compile(r"[A-Za-z0-9_]+")
_TOKEN = re.compile(r"[!#-\[\]-~]+")  # printable ASCII except space, '"' and '\'
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\([A-Za-z0-9_,.:/-]*\))?")


def clean(text: str) -> str:
    """Replace control characters and lone surrogates by a space (they may never reach the wire)."""
    return _UNSAFE.sub(" ", text)


def quote(text: str) -> str:
    """Double-quote ``text`` for res_agi's parse_args, escaping backslashes and quotes."""
    return '"' + clean(text).replace("\\", "\\\\").replace('"', '\\"') + '"'


def value_arg(value: str) -> str:
    """Encode a value that may carry caller text: bare only when it is a plain word."""
    return value if _WORD.fullmatch(value) else quote(value)


def token_arg(token: str) -> str:
    """Encode a token chosen by code (file name, format, expression): bare unless it needs quotes."""
    return token if _TOKEN.fullmatch(token) else quote(token)


def check_variable_name(name: str) -> str:
    """Return ``name`` if it is a plain channel variable or a function call like ``CALLERID(num)``."""
    if not _VARIABLE_NAME.fullmatch(name):
        raise AgiArgumentError(f"invalid channel variable name {name[:80]!r}")
    return name


def encode_command(*words: str) -> bytes:
    """Join encoded words into one command line: UTF-8, newline-terminated, within Asterisk's limit."""
    line = " ".join(words)
    if "\n" in line or "\r" in line or "\x00" in line:
        # Only a bug in a caller of this function can get here: encoders never emit these.
        raise AgiArgumentError("an AGI command may not contain CR, LF or NUL")
    data = line.encode("utf-8", "replace") + b"\n"
    if len(data) > MAX_COMMAND_BYTES:
        raise AgiArgumentError(
            f"AGI command of {len(data)} bytes exceeds Asterisk's {MAX_COMMAND_BYTES}-byte line"
        )
    return data


def parse_agi_args(line: str) -> list[str]:
    """Split a command line exactly as res_agi.c's ``parse_args`` does (for the emulator and for tests)."""
    args: list[str] = []
    cur: list[str] = []
    quoted = escaped = False
    whitespace = True
    for ch in line:
        if ch == '"' and not escaped:
            quoted = not quoted
            if quoted and whitespace:
                args.append("")  # a quote coming off white space starts a word, even an empty one
                whitespace = False
            continue
        if ch in " \t" and not quoted and not escaped:
            if not whitespace:
                args[-1] = "".join(cur)
                cur = []
            whitespace = True
            continue
        if ch == "\\" and not escaped:
            escaped = True
            continue
        if whitespace:
            args.append("")
            whitespace = False
        cur.append(ch)
        escaped = False
    if args and not whitespace:
        args[-1] = "".join(cur)
    return args


@dataclass(frozen=True, slots=True)
class AgiReply:
    """One complete reply from Asterisk."""

    code: int
    result: str = ""  # text after ``result=`` (may be empty: ``200 result= (timeout)``)
    data: str | None = None  # text inside the parentheses, if any
    endpos: int | None = None
    line: str = ""  # the reply's first line, for logs and errors
    usage: str = ""  # the usage text of a 520 reply

    def result_int(self) -> int | None:
        """``result`` as an integer, or None when it is not one."""
        try:
            return int(self.result)
        except ValueError:
            return None


_CODE = re.compile(r"([0-9]{3})(?:[ -]|$)")
# The common shapes in one match (greedy data, so the last ')' closes it, as in the general path).
_FAST_200 = re.compile(r"200 result=([^ ]*)(?: \((.*)\))?(?: endpos=(-?[0-9]{1,18}))?")
_ENDPOS = re.compile(r"endpos=(-?[0-9]{1,18})")


def parse_reply_line(line: str) -> AgiReply:
    """Parse a one-line reply (``200 result=N [(data)] [endpos=N]``, ``510 ...``); AgiProtocolError if bad."""
    fast = _FAST_200.fullmatch(line)
    if fast is not None:
        result, data, endpos = fast.groups()
        return AgiReply(200, result, data, None if endpos is None else int(endpos), line)
    return parse_reply_line_slow(line)


def parse_reply_line_slow(line: str) -> AgiReply:
    """The general reply parser (``parse_reply_line`` tries one regex for the common shapes first)."""
    match = _CODE.match(line)
    if match is None:
        raise AgiProtocolError(f"malformed AGI reply {line[:120]!r}")
    code = int(match.group(1))
    if code not in (100, 200):
        return AgiReply(code=code, line=line)
    rest = line[4:]
    if not rest.startswith("result="):
        raise AgiProtocolError(f"AGI reply without result= {line[:120]!r}")
    rest = rest[7:]
    space = rest.find(" ")
    if space < 0:
        return AgiReply(code=code, result=rest, line=line)
    result, rest = rest[:space], rest[space + 1 :].lstrip(" ")
    data: str | None = None
    if rest.startswith("("):
        close = rest.rfind(")")
        if close < 0:  # a value holding a newline: keep what this line has
            data, rest = rest[1:], ""
        else:
            data, rest = rest[1:close], rest[close + 1 :]
    found = _ENDPOS.search(rest)
    endpos = int(found.group(1)) if found else None
    return AgiReply(code=code, result=result, data=data, endpos=endpos, line=line)


class ReplyAssembler:
    """Turns reply lines into complete replies: joins a ``520-`` block and skips ``100 Trying`` lines."""

    MAX_USAGE_CHARS = 65_536

    def __init__(self) -> None:
        self._usage: list[str] | None = None
        self._usage_chars = 0
        self._first = ""

    @property
    def in_block(self) -> bool:
        """True while inside a multi-line 520 block (where a line is usage text, whatever it says)."""
        return self._usage is not None

    def feed(self, line: str) -> AgiReply | None:
        """Take one line; return the completed reply, or None when more lines are needed."""
        if self._usage is not None:
            if line.startswith("520 "):
                usage = "\n".join(self._usage)
                self._usage = None
                return AgiReply(code=520, line=self._first, usage=usage)
            self._usage_chars += len(line) + 1
            if self._usage_chars > self.MAX_USAGE_CHARS:
                self._usage = None
                raise AgiProtocolError("520 usage block exceeds 64 KiB without its end line")
            self._usage.append(line)
            return None
        if line.startswith("520-"):
            self._usage, self._usage_chars, self._first = [], 0, line
            return None
        reply = parse_reply_line(line)
        if reply.code == 100:
            return None
        return reply
