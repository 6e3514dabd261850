"""Alembic environment: runs on the connection switchboard.db hands over, or on its own async engine."""

import asyncio
from typing import Any

from alembic import context
from sqlalchemy.engine import Connection

from switchboard.orm import Base, UtcDateTime
from switchboard.tables import import_all_tables

import_all_tables()
target_metadata = Base.metadata
config = context.config


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    """Render our UTC column type as a plain timezone-aware DateTime, so revisions never import app code."""
    if type_ == "type" and isinstance(obj, UtcDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    # Tables a migration creates by hand (SQLite FTS5 shadow tables) are not the ORM's to drop.
    return name not in target_metadata.info.get("unmanaged_names", ())


def configure(**kwargs: Any) -> None:
    context.configure(
        target_metadata=target_metadata,
        render_item=render_item,
        compare_type=True,
        include_name=include_name,
        **kwargs,
    )


def run_on(connection: Connection) -> None:
    # SQLite cannot ALTER most things: batch mode copies the table, which needs named constraints
    # (orm.NAMING_CONVENTION provides them).
    configure(connection=connection, render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


async def run_with_own_engine(url: str) -> None:
    from switchboard.db import create_engine

    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(run_on)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    url = config.get_main_option("sqlalchemy.url") or ""
    configure(url=url, literal_binds=True, render_as_batch=url.startswith("sqlite"))
    with context.begin_transaction():
        context.run_migrations()
elif (shared := config.attributes.get("connection")) is not None:
    run_on(shared)
else:
    asyncio.run(run_with_own_engine(config.get_main_option("sqlalchemy.url") or ""))
