"""Engines and migrations: ``make_engine(url)`` with the per-backend settings, ``upgrade(engine)``
to the newest revision (Alembic, configured in code: no ``alembic.ini`` on disk).

SQLite: WAL journal (readers never block the writer), ``synchronous=NORMAL`` (a committed
transaction survives the process being killed; a power cut may lose the last ones),
``busy_timeout`` (a writer waits for the lock instead of failing at once), foreign keys on, and
every write transaction opened with ``BEGIN IMMEDIATE`` (it takes the write lock at its start, so
two transactions never deadlock upgrading a read lock). PostgreSQL (``postgresql+psycopg://``,
psycopg 3): a pool with ``pool_pre_ping`` (a connection dropped by a restarted server is
replaced, not handed out).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url

from serving.store.errors import InvalidArgument

__all__ = ["BUSY_TIMEOUT_S", "current_revision", "head_revision", "make_engine", "upgrade"]

BUSY_TIMEOUT_S = 15.0
SCRIPT_LOCATION = "serving.store:migrations"
MIGRATION_LOCK = 0x6E6F7465  # PostgreSQL advisory lock held while migrating ("note")


def make_engine(url: str, *, busy_timeout_s: float = BUSY_TIMEOUT_S,
                connect_timeout_s: float = 5.0) -> Engine:
    """An engine for ``url`` (``sqlite:///path.db`` or ``postgresql+psycopg://...``); the folder
    of a SQLite file is created. Raises :class:`InvalidArgument` for another kind of URL."""
    try:
        parsed = make_url(url)
    except Exception as exc:  # noqa: BLE001 - sqlalchemy raises ArgumentError, ValueError ...
        # the URL may hold a password: name the kind of error, never the text that quotes the URL
        raise InvalidArgument(f"cannot read the database URL ({type(exc).__name__}); give "
                              "sqlite:///PATH.db or postgresql+psycopg://USER@HOST/DB",
                              field="db_url") from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        database = parsed.database or ""
        if database in ("", ":memory:") or database.startswith("file:"):
            raise InvalidArgument("an in-memory SQLite database cannot be shared by threads and "
                                  "is lost at exit; give a file: sqlite:///PATH.db",
                                  field="db_url")
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args={"check_same_thread": False,
                                                     "timeout": busy_timeout_s},
                               pool_size=16, max_overflow=32, pool_timeout=busy_timeout_s)
        _sqlite_events(engine, busy_timeout_s)
        return engine
    if backend == "postgresql":
        if parsed.get_driver_name() != "psycopg":
            raise InvalidArgument(f"the PostgreSQL driver {parsed.get_driver_name()!r} is not "
                                  "installed; use postgresql+psycopg://...", field="db_url")
        return create_engine(parsed, pool_pre_ping=True, pool_size=16, max_overflow=32,
                             pool_timeout=busy_timeout_s,
                             connect_args={"connect_timeout": max(1, int(connect_timeout_s))})
    raise InvalidArgument(f"unsupported database {backend!r}; give sqlite:///PATH.db or "
                          "postgresql+psycopg://USER@HOST/DB", field="db_url")


def _sqlite_events(engine: Engine, busy_timeout_s: float) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves (below)
        cursor = dbapi_connection.cursor()
        _wal(cursor, busy_timeout_s)
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


def _wal(cursor: Any, busy_timeout_s: float) -> None:
    """Put the database file in WAL mode (it stays so). Switching needs the file to itself, and
    SQLite may answer "database is locked" at once, without its busy handler, while other
    connections open the same new file: retry until ``busy_timeout_s``, and stop as soon as
    another connection has switched it."""
    import sqlite3

    deadline = time.monotonic() + busy_timeout_s
    while str(cursor.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
        try:
            cursor.execute("PRAGMA journal_mode=WAL").fetchone()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.02)


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the database to ``revision`` (the newest by default); a no-op when it is there.
    Processes opening one database at once migrate it one after the other (SQLite: the write
    lock; PostgreSQL: an advisory lock), so the later ones find it done."""
    config = _config()
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":  # the write lock from the start: one migrator
            conn = conn.execution_options(sqlite_begin="IMMEDIATE")
        with conn.begin():
            if engine.dialect.name == "postgresql":  # replicas starting at once: one migrates
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
            config.attributes["connection"] = conn
            command.upgrade(config, revision)


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (``None``: never migrated)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str:
    """The newest revision shipped in the package."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head
