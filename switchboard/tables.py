"""One registry of the modules that declare tables, so Alembic and tests see every domain's schema."""

from __future__ import annotations

import importlib
import importlib.util

# A domain declares its tables in `<domain>/tables.py` (or in `store.py` when that is its SQL adapter).
# A domain that keeps tables elsewhere adds its module here.
TABLE_MODULES: tuple[str, ...] = tuple(
    f"{domain}.{module}"
    for domain in ("switchboard", "switchboard.users", "ivr", "acd", "recordings", "surveys")
    for module in ("tables", "store")
    if f"{domain}.{module}" != __name__
)


def import_all_tables() -> list[str]:
    """Import every table module that exists, registering its tables on ``Base.metadata``; return the names.

    A module that does not exist is skipped; a module that exists but fails to import raises, because a
    half-registered schema would make Alembic propose dropping tables.
    """
    imported: list[str] = []
    for name in TABLE_MODULES:
        package = name.rpartition(".")[0]
        if importlib.util.find_spec(package) is None or importlib.util.find_spec(name) is None:
            continue
        importlib.import_module(name)
        imported.append(name)
    return imported
