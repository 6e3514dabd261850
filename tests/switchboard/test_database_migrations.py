"""Database: Alembic migrations on SQLite and PostgreSQL, domain branches, SQLite pragmas, clear errors."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from switchboard import db
from switchboard.errors import DatabaseUnavailableError
from switchboard.orm import Base, UtcDateTime
from switchboard.tables import import_all_tables

WIDGET_BRANCH = {
    "sbtest_0001_widgets.py": '''
        import sqlalchemy as sa
        from alembic import op

        revision = "sbtest_0001"
        down_revision = "0001_base"
        branch_labels = ("sbtest",)
        depends_on = None


        def upgrade():
            op.create_table(
                "sbtest_widgets",
                sa.Column("id", sa.String(26), primary_key=True),
                sa.Column("name", sa.String(80), nullable=True),
            )


        def downgrade():
            op.drop_table("sbtest_widgets")
    ''',
    # Making a column NOT NULL needs batch mode on SQLite (it cannot ALTER COLUMN).
    "sbtest_0002_name_required.py": '''
        import sqlalchemy as sa
        from alembic import op

        revision = "sbtest_0002"
        down_revision = "sbtest_0001"
        branch_labels = None
        depends_on = None


        def upgrade():
            with op.batch_alter_table("sbtest_widgets") as batch:
                batch.alter_column("name", existing_type=sa.String(80), nullable=False)
                batch.add_column(sa.Column("colour", sa.String(20), nullable=True))


        def downgrade():
            with op.batch_alter_table("sbtest_widgets") as batch:
                batch.drop_column("colour")
                batch.alter_column("name", existing_type=sa.String(80), nullable=True)
    ''',
}


@pytest.fixture
def widget_branch(tmp_path: Path) -> Path:
    """A domain branch outside the package, laid out like a real domain's revisions."""
    versions = tmp_path / "extra_versions"
    versions.mkdir()
    for name, body in WIDGET_BRANCH.items():
        (versions / name).write_text(textwrap.dedent(body), encoding="utf-8")
    return versions


async def table_names(url: str) -> set[str]:
    engine = db.create_engine(url)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda c: sa_inspect(c).get_table_names()))
    finally:
        await engine.dispose()


async def test_upgrade_creates_every_registered_domain_table(fresh_database_url: str) -> None:
    import_all_tables()
    await db.upgrade(fresh_database_url)
    tables = await table_names(fresh_database_url)
    assert "alembic_version" in tables
    registered = set(Base.metadata.tables)
    assert registered <= tables, f"tables without a migration: {sorted(registered - tables)}"
    assert await db.current_revisions(fresh_database_url) == db.head_revisions()


async def test_upgrade_is_idempotent_and_downgrade_to_base_then_upgrade_restores(
    fresh_database_url: str,
) -> None:
    await db.upgrade(fresh_database_url)
    before = await table_names(fresh_database_url)
    await db.upgrade(fresh_database_url)  # second run: nothing to do, nothing breaks
    assert await table_names(fresh_database_url) == before
    await db.downgrade(fresh_database_url, "base")
    assert await table_names(fresh_database_url) <= {"alembic_version"}
    assert await db.current_revisions(fresh_database_url) == set()
    await db.upgrade(fresh_database_url)
    assert await table_names(fresh_database_url) == before


async def test_domain_branch_with_batch_alter_upgrades_and_downgrades(
    fresh_database_url: str, widget_branch: Path
) -> None:
    locations = [widget_branch]
    assert "sbtest_0002" in db.head_revisions(version_locations=locations)
    await db.upgrade(fresh_database_url, version_locations=locations)
    assert "sbtest_0002" in await db.current_revisions(fresh_database_url)

    engine = db.create_engine(fresh_database_url)
    try:
        async with engine.connect() as conn:
            columns = await conn.run_sync(lambda c: sa_inspect(c).get_columns("sbtest_widgets"))
        by_name = {c["name"]: c for c in columns}
        assert by_name["name"]["nullable"] is False
        assert "colour" in by_name
        async with engine.begin() as conn:
            with pytest.raises(sa.exc.IntegrityError):
                async with conn.begin_nested():
                    await conn.execute(sa.text("INSERT INTO sbtest_widgets (id, name) VALUES ('1', NULL)"))
    finally:
        await engine.dispose()

    await db.downgrade(fresh_database_url, "sbtest@0001_base", version_locations=locations)
    assert "sbtest_widgets" not in await table_names(fresh_database_url)
    await db.upgrade(fresh_database_url, version_locations=locations)
    assert "sbtest_widgets" in await table_names(fresh_database_url)
    await db.downgrade(fresh_database_url, "base", version_locations=locations)
    assert await table_names(fresh_database_url) <= {"alembic_version"}


async def test_autogenerated_revision_starts_a_new_branch_and_applies(
    fresh_database_url: str, tmp_path: Path
) -> None:
    versions = tmp_path / "generated"
    versions.mkdir()
    table = sa.Table(
        "sbtest_autogen",
        Base.metadata,
        sa.Column("id", sa.String(26), primary_key=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
    )
    try:
        path = await db.new_revision("gadgets", "sbtest", autogenerate=True, version_locations=[versions])
    finally:
        Base.metadata.remove(table)
    assert path.parent == versions
    assert path.name == "sbtest_0001_gadgets.py"
    source = path.read_text()
    assert "down_revision: str | Sequence[str] | None = '0001_base'" in source
    assert "branch_labels: str | Sequence[str] | None = ('sbtest',)" in source
    assert "op.create_table('sbtest_autogen'" in source
    assert "sa.DateTime(timezone=True)" in source  # no import of application code in a migration
    await db.upgrade(fresh_database_url, version_locations=[versions])
    assert "sbtest_autogen" in await table_names(fresh_database_url)


async def test_sqlite_engine_creates_directory_and_sets_wal_foreign_keys_busy_timeout(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "switchboard.db"
    engine = db.create_engine(f"sqlite:///{path}")  # a plain sqlite:// URL gets the async driver
    try:
        assert path.parent.is_dir()
        async with engine.connect() as conn:
            journal = (await conn.execute(sa.text("PRAGMA journal_mode"))).scalar()
            foreign_keys = (await conn.execute(sa.text("PRAGMA foreign_keys"))).scalar()
            busy = (await conn.execute(sa.text("PRAGMA busy_timeout"))).scalar()
    finally:
        await engine.dispose()
    assert (journal, foreign_keys, busy) == ("wal", 1, db.SQLITE_BUSY_TIMEOUT_MS)


async def test_in_memory_sqlite_is_one_database_across_connections() -> None:
    engine = db.create_engine("sqlite+aiosqlite://")
    try:
        async with engine.begin() as conn:
            await conn.execute(sa.text("CREATE TABLE t (x INTEGER)"))
        async with engine.connect() as conn:
            assert (await conn.execute(sa.text("SELECT count(*) FROM t"))).scalar() == 0
    finally:
        await engine.dispose()


async def test_utc_datetimes_come_back_timezone_aware_on_both_backends(db_engine: AsyncEngine) -> None:
    metadata = sa.MetaData()
    stamps = sa.Table("sbtest_stamps", metadata, sa.Column("at", UtcDateTime(), nullable=False))
    local = datetime(2026, 1, 5, 11, 0, tzinfo=timezone(timedelta(hours=2)))
    async with db_engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
        await conn.execute(stamps.insert().values(at=local))
        got = (await conn.execute(sa.select(stamps.c.at))).scalar_one()
        await conn.run_sync(metadata.drop_all)
    assert got == local
    assert got.tzinfo is not None and got.utcoffset() == timedelta(0)
    assert got == datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


async def test_db_session_fixture_talks_to_a_migrated_database(db_session: AsyncSession) -> None:
    assert (await db_session.execute(sa.text("SELECT 1"))).scalar() == 1
    version = (await db_session.execute(sa.text("SELECT count(*) FROM alembic_version"))).scalar()
    assert version == len(db.head_revisions())


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://sb:pw-123456@127.0.0.1:1/sb", "cannot use the database postgresql://sb:********@127.0.0.1:1/sb"),
        ("mysql://sb@localhost/sb", "unsupported database 'mysql'"),
        ("not a url", "bad database URL"),
    ],
)
async def test_unusable_database_is_one_line_without_password(url: str, expected: str) -> None:
    with pytest.raises(DatabaseUnavailableError) as caught:
        await db.upgrade(url)
    assert expected in str(caught.value)
    assert "pw-123456" not in str(caught.value)
    assert "\n" not in str(caught.value)


async def test_unknown_database_on_a_running_postgresql_is_one_line(postgres_admin_url: str) -> None:
    url = postgres_admin_url.rsplit("/", 1)[0] + "/sb_no_such_database"
    with pytest.raises(DatabaseUnavailableError, match='database "sb_no_such_database" does not exist'):
        await db.upgrade(url)


async def test_database_migrated_by_newer_code_is_reported(tmp_path: Path, widget_branch: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'newer.db'}"
    await db.upgrade(url, version_locations=[widget_branch])
    with pytest.raises(DatabaseUnavailableError, match="newer Switchboard"):
        await db.upgrade(url)  # this code does not know sbtest_0002


def test_migrations_ship_inside_the_package() -> None:
    assert (db.MIGRATIONS_DIR / "env.py").is_file()
    assert (db.MIGRATIONS_DIR / "script.py.mako").is_file()
    assert (db.MIGRATIONS_DIR / "versions" / "0001_base.py").is_file()
