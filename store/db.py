"""Engines, sessions and migrations: how the edge (serve, review, jobs) talks to the database.

The edge owns the transaction (``session_scope``); Alembic owns the schema (``upgrade``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from functools import partial
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

_HERE = Path(__file__).resolve().parent
ALEMBIC_INI = _HERE / "alembic.ini"
MIGRATIONS_DIR = _HERE / "migrations"

# How long a SQLite connection waits for another writer before "database is locked".
SQLITE_BUSY_TIMEOUT_SECONDS = 15.0


def utcnow() -> datetime:
    """The current time as an aware UTC datetime (the only kind the store accepts)."""
    return datetime.now(UTC)


# -- URLs and engines -------------------------------------------------------------------------


def normalize_url(url: str | URL) -> URL:
    """``url`` as a SQLAlchemy URL, with bare ``postgres://``/``postgresql://`` sent to psycopg 3
    (the driver we install; SQLAlchemy's default for them is psycopg2)."""
    parsed = make_url(url) if isinstance(url, str) else url
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def is_sqlite(url: str | URL | Engine | Connection) -> bool:
    if isinstance(url, Engine | Connection):
        return url.dialect.name == "sqlite"
    return normalize_url(url).get_backend_name() == "sqlite"


def _is_sqlite_memory(url: URL) -> bool:
    database = url.database or ""
    return database in ("", ":memory:") or "mode=memory" in str(url)


def _json_default(value: object) -> Any:
    # Money is a decimal string (LADDER.md); pydantic models are dumped as JSON.
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, set | frozenset):
        return sorted(value)
    model_dump = getattr(value, "model_dump", None)
    if callable(model_dump):
        return model_dump(mode="json")
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


json_dumps = partial(json.dumps, default=_json_default, ensure_ascii=False)


def make_engine(url: str | URL, *, echo: bool = False) -> Engine:
    """An engine for ``url``.

    SQLite: foreign keys on, WAL journal, usable from several threads, and every transaction
    starts with ``BEGIN IMMEDIATE``. SQLite has one writer at a time; taking the write lock up
    front makes a second writer wait (up to the busy timeout) instead of failing half-way with
    "database is locked" when its read snapshot went stale, so concurrent requests behave like
    they do on PostgreSQL, only serialized.

    In-memory SQLite (``sqlite://``) is one connection shared by every thread: fine for one
    session at a time (quick tests), wrong for anything concurrent; use a file for that.

    PostgreSQL: ``pool_pre_ping`` so connections dropped by the server are replaced.
    """
    parsed = normalize_url(url)
    if parsed.get_backend_name() == "sqlite":
        kwargs: dict[str, Any] = {
            "connect_args": {"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_SECONDS},
        }
        if _is_sqlite_memory(parsed):
            # One shared connection, or each thread would see its own empty database.
            kwargs["poolclass"] = StaticPool
        engine = create_engine(parsed, echo=echo, json_serializer=json_dumps, **kwargs)
        _configure_sqlite(engine)
        return engine
    return create_engine(parsed, echo=echo, json_serializer=json_dumps, pool_pre_ping=True)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module (it would not BEGIN before
        # SELECT or SAVEPOINT); the "begin" listener below emits BEGIN itself.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_SECONDS * 1000)}")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


# -- sessions ---------------------------------------------------------------------------------


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions bound to ``engine``. Objects stay readable after commit (no expiry), so the
    edge can render a reply from what it just saved."""
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work for the edge: commit on success, roll back on any error, always close.

    Repository functions only add and flush; this is the one place that commits.
    """
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


# -- migrations -------------------------------------------------------------------------------


def alembic_config() -> Config:
    """The Alembic configuration of the migrations packaged in ``store/``.

    The database is not in the ini file: set ``config.attributes["connection"]`` (or
    ``["url"]``) before running a command, as ``upgrade``/``downgrade`` do.
    """
    config = Config(str(ALEMBIC_INI))
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str:
    """The newest revision of the packaged migrations."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships 0001
        raise RuntimeError("no migrations found in store/migrations")
    return head


def schema_revision(url_or_engine: str | URL | Engine) -> str | None:
    """The revision the database is at, or ``None`` for an empty database."""
    with _migration_connection(url_or_engine) as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(url_or_engine: str | URL | Engine, revision: str = "head") -> None:
    """Apply the migrations up to ``revision`` (``ladder db upgrade``)."""
    with _migration_connection(url_or_engine) as connection:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def downgrade(url_or_engine: str | URL | Engine, revision: str = "base") -> None:
    """Revert the migrations down to ``revision`` (``base``: an empty database)."""
    with _migration_connection(url_or_engine) as connection:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def ensure_sqlite_schema(url_or_engine: str | URL | Engine) -> None:
    """Bring a SQLite database to the newest schema, creating its file (and folder) if needed.

    ``serve`` and ``review`` call this at start-up. Anything else (PostgreSQL) is left alone:
    there ``ladder db upgrade`` runs as a deliberate deployment step. For an in-memory
    database pass the engine: a URL would migrate a database of its own that vanishes at once.
    """
    if not is_sqlite(url_or_engine):
        return
    if not isinstance(url_or_engine, Engine):
        parsed = normalize_url(url_or_engine)
        if not _is_sqlite_memory(parsed) and not str(parsed.database).startswith("file:"):
            Path(str(parsed.database)).expanduser().parent.mkdir(parents=True, exist_ok=True)
    upgrade(url_or_engine)


@contextmanager
def _migration_connection(url_or_engine: str | URL | Engine) -> Iterator[Connection]:
    """A connection inside one transaction that is committed when the block ends."""
    if isinstance(url_or_engine, Engine):
        engine, owned = url_or_engine, False
    else:
        engine, owned = make_engine(url_or_engine), True
    try:
        with engine.connect() as connection:
            if connection.dialect.name == "sqlite":
                with _sqlite_foreign_keys_off(connection), connection.begin():
                    yield connection
            else:
                with connection.begin():
                    yield connection
    finally:
        if owned:
            engine.dispose()


@contextmanager
def _sqlite_foreign_keys_off(connection: Connection) -> Iterator[None]:
    # Batch migrations copy and drop tables; with foreign keys on, dropping a parent table
    # fails or cascades. The pragma is ignored inside a transaction, so it is set through the
    # driver before SQLAlchemy begins one, and checked and restored afterwards.
    driver = connection.connection.driver_connection
    assert driver is not None
    driver.execute("PRAGMA foreign_keys=OFF")
    try:
        yield
    finally:
        driver.execute("PRAGMA foreign_keys=ON")
    violations = driver.execute("PRAGMA foreign_key_check").fetchall()
    if violations:
        raise RuntimeError(f"migration left foreign key violations: {violations[:5]}")
