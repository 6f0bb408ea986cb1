"""Alembic environment for ladder-bot.

The database comes from the Alembic config's attributes, never from the ini file:
``config.attributes["connection"]`` (what ``store.db.upgrade``/``downgrade`` pass) or
``config.attributes["url"]``; on the command line ``-x url=...``.
Logging is left to the caller: a library does not configure it.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from store.db import is_sqlite, make_engine, normalize_url
from store.models import Base

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    url = config.attributes.get("url") or context.get_x_argument(as_dictionary=True).get("url")
    if not url:
        raise RuntimeError(
            "no database given: call store.db.upgrade(url), or pass -x url=... to alembic"
        )
    return str(url)


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things: batch mode copies the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )


def run_migrations_offline() -> None:
    url = normalize_url(_url())
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        render_as_batch=is_sqlite(url),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(_url())
    try:
        with engine.connect() as conn:
            _configure(conn)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
