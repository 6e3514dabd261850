"""HTTP Range requests (RFC 9110 section 14) for one file: a single byte range or the whole file.

Browsers' ``<audio>`` asks for ``bytes=0-`` and then seeks with ``bytes=N-``. Anything we do not serve is
refused with 416 rather than guessed at: a header longer than ``MAX_HEADER`` characters, a unit other than
bytes, several ranges, numbers that are not plain digits or are absurdly long, or a range that starts past
the end of the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

MAX_HEADER: Final = 100
MAX_DIGITS: Final = 18  # below 2**63: Python would cope, the file system would not


class RangeNotSatisfiable(ValueError):
    """The Range header cannot be served (HTTP 416)."""


@dataclass(frozen=True)
class ByteRange:
    """Inclusive byte positions ``start``..``end`` of a file of ``size`` bytes."""

    start: int
    end: int
    size: int

    @property
    def length(self) -> int:
        """Number of bytes in the range."""
        return self.end - self.start + 1

    @property
    def content_range(self) -> str:
        """The Content-Range header value for a 206 response."""
        return f"bytes {self.start}-{self.end}/{self.size}"


def _number(text: str) -> int:
    if not text.isascii() or not text.isdigit() or len(text) > MAX_DIGITS:
        raise RangeNotSatisfiable(f"bad range position {text[:20]!r}")
    return int(text)


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The range to serve (None: the whole file, 200); RangeNotSatisfiable for anything else we refuse."""
    if header is None:
        return None
    if len(header) > MAX_HEADER:
        raise RangeNotSatisfiable("Range header too long")
    unit, sep, spec = header.strip().partition("=")
    if not sep or unit.strip().lower() != "bytes":
        raise RangeNotSatisfiable("only a bytes range is supported")
    if "," in spec:
        raise RangeNotSatisfiable("multiple ranges are not supported")
    first, dash, last = spec.strip().partition("-")
    first, last = first.strip(), last.strip()
    if not dash or (not first and not last):
        raise RangeNotSatisfiable("malformed range")
    if size <= 0:
        raise RangeNotSatisfiable("the file is empty")
    if not first:  # bytes=-N: the last N bytes
        suffix = _number(last)
        if suffix == 0:
            raise RangeNotSatisfiable("empty suffix range")
        return ByteRange(max(0, size - suffix), size - 1, size)
    start = _number(first)
    end = _number(last) if last else size - 1
    if start >= size:
        raise RangeNotSatisfiable("range starts past the end of the file")
    if end < start:
        raise RangeNotSatisfiable("range ends before it starts")
    return ByteRange(start, min(end, size - 1), size)
