"""Opaque identifiers: ULIDs, sortable by creation time, never a path or a row number."""

from ulid import ULID


def new_id() -> str:
    """A new opaque identifier (26 characters, Crockford base32)."""
    return str(ULID())
