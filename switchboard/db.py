"""Database wiring: async engines and sessions, and Alembic migrations run from code (no alembic.ini)."""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import event, exc, make_url
from sqlalchemy.engine import URL, Connection
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool, StaticPool

from switchboard.errors import DatabaseUnavailableError, UserFacingError, describe, one_line
from switchboard.settings import mask_url_password

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
BASE_REVISION = "0001_base"
SQLITE_BUSY_TIMEOUT_MS = 5000

_ASYNC_DRIVERS = {
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "sqlite": "sqlite+aiosqlite",
}


def normalize_url(url: str) -> URL:
    """Parse a database URL, giving plain ``postgresql://`` and ``sqlite://`` URLs their async driver."""
    try:
        parsed = make_url(url)
    except exc.ArgumentError:
        raise DatabaseUnavailableError(
            f"bad database URL {mask_url_password(url)!r}; expected e.g. postgresql://user@host/db or "
            "sqlite:///var/switchboard.db (SWITCHBOARD_DATABASE_URL)"
        ) from None
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise DatabaseUnavailableError(
            f"unsupported database {parsed.get_backend_name()!r} in SWITCHBOARD_DATABASE_URL; "
            "use postgresql://... or sqlite:///..."
        )
    driver = _ASYNC_DRIVERS.get(parsed.drivername)
    return parsed.set(drivername=driver) if driver else parsed


def _is_memory(url: URL) -> bool:
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def create_engine(
    url: str, *, echo: bool = False, connect_timeout: float = 10.0, **kwargs: Any
) -> AsyncEngine:
    """An async engine; SQLite gets its directory created, WAL, foreign keys and a busy timeout."""
    parsed = normalize_url(url)
    if parsed.get_backend_name() == "sqlite":
        if _is_memory(parsed):
            # One shared connection: with several, each would see its own empty database.
            kwargs.setdefault("poolclass", StaticPool)
        else:
            directory = Path(parsed.database or "").expanduser().parent
            try:
                directory.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise DatabaseUnavailableError(
                    f"cannot create {directory} for the SQLite database: {e.strerror or e}; "
                    "set SWITCHBOARD_GENERAL_VAR_DIR or SWITCHBOARD_DATABASE_URL"
                ) from e
        engine = create_async_engine(parsed, echo=echo, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    connect_args = kwargs.pop("connect_args", {})
    connect_args.setdefault("timeout", connect_timeout)
    kwargs.setdefault("pool_pre_ping", True)
    return create_async_engine(parsed, echo=echo, connect_args=connect_args, **kwargs)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        # WAL lets the HTTP pages read while a call record is being written; busy_timeout rides out the
        # short write locks of a second process instead of failing with "database is locked".
        cursor.execute("PRAGMA journal_mode=WAL")
        # In WAL mode NORMAL never corrupts the database; a power cut (not a crash of the process) may undo
        # the last commits. FULL would fsync every commit: each call's records would wait for the disk.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    finally:
        cursor.close()


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions whose objects stay readable after commit (no implicit reload on attribute access)."""
    return async_sessionmaker(engine, expire_on_commit=False)


@contextlib.contextmanager
def database_errors(url: str) -> Iterator[None]:
    """Translate driver and Alembic failures into one clear line naming the (password-masked) database."""
    shown = mask_url_password(url)
    try:
        yield
    except UserFacingError:
        raise
    except CommandError as e:
        hint = "; was it upgraded by a newer Switchboard?" if "Can't locate revision" in str(e) else ""
        raise DatabaseUnavailableError(f"cannot migrate the database {shown}: {_reason(e)}{hint}") from e
    except (OSError, TimeoutError, exc.OperationalError, exc.InterfaceError) as e:
        raise DatabaseUnavailableError(
            f"cannot use the database {shown}: {_reason(e)}; check it runs and SWITCHBOARD_DATABASE_URL"
        ) from e
    except exc.DBAPIError as e:  # the server answered but refused a statement (a migration that cannot apply)
        raise DatabaseUnavailableError(f"database {shown} refused a statement: {_reason(e)}") from e
    except Exception as e:
        # asyncpg raises its own errors (bad password, unknown database) that SQLAlchemy does not wrap
        # during connect; they all derive from asyncpg.PostgresError / InterfaceError.
        if type(e).__module__.startswith("asyncpg"):
            raise DatabaseUnavailableError(
                f"cannot use the database {shown}: {one_line(str(e))}; check SWITCHBOARD_DATABASE_URL"
            ) from e
        raise


def _reason(e: BaseException) -> str:
    if isinstance(e, exc.DBAPIError) and e.orig is not None:
        e = e.orig
    return describe(e)


def alembic_config(*, version_locations: Sequence[Path] = ()) -> Config:
    """The Alembic configuration, built in code; ``version_locations`` adds directories of extra revisions."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("path_separator", "os")
    locations = [MIGRATIONS_DIR / "versions", *version_locations]
    # ConfigParser treats % as interpolation: escape it in paths.
    cfg.set_main_option("version_locations", os.pathsep.join(str(p).replace("%", "%%") for p in locations))
    return cfg


async def _run_alembic(url: str, action: Callable[[Config], None], version_locations: Sequence[Path]) -> None:
    cfg = alembic_config(version_locations=version_locations)
    engine = create_engine(url, poolclass=NullPool)

    def run(connection: Connection) -> None:
        cfg.attributes["connection"] = connection
        action(cfg)

    try:
        with database_errors(url):
            async with engine.begin() as connection:
                await connection.run_sync(run)
    finally:
        await engine.dispose()


async def upgrade(url: str, revision: str = "heads", *, version_locations: Sequence[Path] = ()) -> None:
    """Bring the database to ``revision`` (default: every domain branch's head). Safe to repeat."""
    log.info("database upgrade url=%s revision=%s", mask_url_password(url), revision)
    await _run_alembic(url, lambda cfg: command.upgrade(cfg, revision), version_locations)


async def downgrade(url: str, revision: str, *, version_locations: Sequence[Path] = ()) -> None:
    """Step the database back to ``revision`` (``"base"`` drops every migrated table)."""
    log.info("database downgrade url=%s revision=%s", mask_url_password(url), revision)
    await _run_alembic(url, lambda cfg: command.downgrade(cfg, revision), version_locations)


async def current_revisions(url: str, *, version_locations: Sequence[Path] = ()) -> set[str]:
    """The revisions the database is at (one per branch head reached)."""
    from alembic.runtime.migration import MigrationContext

    engine = create_engine(url, poolclass=NullPool)
    try:
        with database_errors(url):
            async with engine.connect() as connection:
                heads = await connection.run_sync(lambda c: MigrationContext.configure(c).get_current_heads())
    finally:
        await engine.dispose()
    return set(heads)


def head_revisions(*, version_locations: Sequence[Path] = ()) -> set[str]:
    """The head revision of every branch shipped with this code."""
    script = ScriptDirectory.from_config(alembic_config(version_locations=version_locations))
    return set(script.get_heads())


async def new_revision(
    message: str, branch: str, *, autogenerate: bool = False, version_locations: Sequence[Path] = ()
) -> Path:
    """Write a new revision file on ``branch`` (created from the base revision if new); return its path.

    With ``autogenerate`` the file holds the difference between the registered tables and a scratch
    SQLite database upgraded to the current heads. The file goes to the first of ``version_locations``
    if given, else to the package's versions directory.
    """
    if not branch.isidentifier() or not branch.islower():
        raise UserFacingError(f"branch name {branch!r} must be a lower-case identifier such as 'acd'")
    cfg = alembic_config(version_locations=version_locations)
    script = ScriptDirectory.from_config(cfg)
    known = {label for rev in script.walk_revisions() for label in rev.branch_labels}
    numbered = [rev.revision for rev in script.walk_revisions() if rev.revision.startswith(f"{branch}_")]
    rev_id = f"{branch}_{len(numbered) + 1:04d}"
    head, label = (f"{branch}@head", None) if branch in known else (BASE_REVISION, branch)

    def write(cfg: Config) -> None:
        command.revision(
            cfg,
            message=message,
            autogenerate=autogenerate,
            head=head,
            branch_label=label,
            rev_id=rev_id,
            splice=label is not None,  # a new branch starts at the base even when other branches grow from it
            version_path=str(version_locations[0]) if version_locations else None,
        )

    if autogenerate:
        with tempfile.TemporaryDirectory() as scratch:
            url = f"sqlite+aiosqlite:///{scratch}/scratch.db"
            await upgrade(url, version_locations=version_locations)
            await _run_alembic(url, write, version_locations)
    else:
        write(cfg)
    written = ScriptDirectory.from_config(cfg).get_revision(rev_id)
    assert written is not None and written.path is not None
    return Path(written.path)
