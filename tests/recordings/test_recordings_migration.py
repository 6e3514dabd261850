"""The recordings migration: it creates exactly the declared tables (plus full-text search, which Alembic's
autogenerate must be told to skip), and downgrades without leaving FTS tables or triggers behind."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from recordings.tables import UNMANAGED_NAMES
from switchboard import db
from switchboard.orm import Base, UtcDateTime
from switchboard.tables import import_all_tables


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    """The hook switchboard/migrations/env.py needs: skip objects the ORM does not declare."""
    return name not in Base.metadata.info.get("unmanaged_names", ())


def _compare_type(
    context: Any, inspected: Any, metadata: Any, inspected_type: Any, metadata_type: Any
) -> bool | None:
    if isinstance(metadata_type, UtcDateTime):
        return not isinstance(inspected_type, sa.DateTime)
    return None


async def _recording_diffs(url: str) -> list[Any]:
    import_all_tables()
    engine = db.create_engine(url)
    try:
        async with engine.connect() as conn:

            def diff(sync_conn: sa.Connection) -> list[Any]:
                opts = {"include_name": include_name, "compare_type": _compare_type}
                return compare_metadata(MigrationContext.configure(sync_conn, opts=opts), Base.metadata)

            found = await conn.run_sync(diff)
    finally:
        await engine.dispose()
    return [d for d in found if "recording" in repr(d)]


async def test_migration_matches_the_declared_tables_when_search_objects_are_skipped(
    fresh_database_url: str,
) -> None:
    await db.upgrade(fresh_database_url, "recordings@head")
    assert await _recording_diffs(fresh_database_url) == []


async def test_full_text_objects_exist_and_go_away_on_downgrade(fresh_database_url: str) -> None:
    await db.upgrade(fresh_database_url, "recordings@head")
    engine = db.create_engine(fresh_database_url)
    try:
        async with engine.connect() as conn:
            names = set(await conn.run_sync(lambda c: sa.inspect(c).get_table_names()))
            if engine.dialect.name == "sqlite":
                assert "recording_segments_fts" in names
                triggers = (
                    await conn.execute(sa.text("SELECT name FROM sqlite_master WHERE type='trigger'"))
                ).scalars()
                assert {"recording_segments_fts_insert", "recording_segments_fts_delete"} <= set(triggers)
            else:
                columns = await conn.run_sync(lambda c: sa.inspect(c).get_columns("recording_segments"))
                assert "text_tsv" in {c["name"] for c in columns}
        skipped = {n for n in names if n.startswith("recording_segments_fts")}
        assert skipped <= UNMANAGED_NAMES
    finally:
        await engine.dispose()
    await db.downgrade(fresh_database_url, "recordings@base")
    engine = db.create_engine(fresh_database_url)
    try:
        async with engine.connect() as conn:
            names = set(await conn.run_sync(lambda c: sa.inspect(c).get_table_names()))
    finally:
        await engine.dispose()
    assert not {n for n in names if n.startswith("recording")}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_without_the_hook_autogenerate_would_drop_the_search_index(
    database_url: str, db_engine
) -> None:
    async with db_engine.connect() as conn:

        def diff(sync_conn: sa.Connection) -> list[Any]:
            return compare_metadata(MigrationContext.configure(sync_conn), Base.metadata)

        found = await conn.run_sync(diff)
    assert any("recording_segments_fts" in repr(d) for d in found)  # why env.py needs include_name
