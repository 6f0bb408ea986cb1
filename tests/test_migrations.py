"""The Alembic migrations: empty to head and back, on SQLite and PostgreSQL, matching the models."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text

from store.db import alembic_config, downgrade, head_revision, make_engine, schema_revision, upgrade
from store.models import Base

TABLES = {
    "reviews",
    "answers",
    "recommendations",
    "decisions",
    "audit_log",
    "processed_events",
    "drafts",
    "digest_runs",
    "channel_settings",
}


def _tables(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(inspect(conn).get_table_names()) - {"alembic_version"}


def _audit_guards(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            # Only this test's schema: other schemas in the database may hold the same names.
            sql = (
                "SELECT t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE NOT t.tgisinternal AND n.nspname = current_schema() "
                "UNION SELECT p.proname FROM pg_proc p "
                "JOIN pg_namespace n ON n.oid = p.pronamespace "
                "WHERE p.proname = 'audit_log_append_only' AND n.nspname = current_schema()"
            )
        else:
            sql = "SELECT name FROM sqlite_master WHERE type = 'trigger'"
        return set(conn.execute(text(sql)).scalars())


def test_one_linear_history() -> None:
    script = ScriptDirectory.from_config(alembic_config())
    assert script.get_heads() == ["0001"] == [head_revision()]


def test_empty_to_head_to_base_and_back(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        assert schema_revision(engine) is None
        assert _tables(engine) == set()

        upgrade(db_url)  # by URL, as `ladder db upgrade` does
        assert schema_revision(engine) == head_revision()
        assert _tables(engine) == TABLES
        assert _audit_guards(engine)

        downgrade(engine, "base")
        assert schema_revision(engine) is None
        assert _tables(engine) == set()
        assert _audit_guards(engine) == set()

        upgrade(engine)  # and again: the downgrade left nothing behind
        assert _tables(engine) == TABLES
    finally:
        engine.dispose()


def test_models_and_migrations_agree(engine: Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def test_metadata_tables_are_the_migrated_tables() -> None:
    assert set(Base.metadata.tables) == TABLES


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///offline.db", "CREATE TRIGGER audit_log_no_update"),
        ("postgresql+psycopg://offline@localhost/offline", "CREATE FUNCTION audit_log_append_only"),
    ],
)
def test_offline_sql_script(url: str, expected: str, capsys: pytest.CaptureFixture[str]) -> None:
    """``alembic upgrade --sql``: a DBA can read or apply the DDL without the bot connecting."""
    config = alembic_config()
    config.attributes["url"] = url
    command.upgrade(config, "head", sql=True)
    out = capsys.readouterr().out
    assert "CREATE TABLE reviews" in out
    assert expected in out
