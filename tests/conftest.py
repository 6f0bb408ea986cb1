"""Shared fixtures: databases on SQLite and PostgreSQL.

``engine`` and ``session`` are parametrized over both backends, each test on a fresh schema
at the newest migration. PostgreSQL is found through ``LADDER_TEST_POSTGRES_URL``
(e.g. ``postgresql+psycopg://ladder:ladder@127.0.0.1:5432/ladder_test``); every test gets
its own schema there, dropped afterwards, so runs are repeatable and never touch anything
else in that database. Unset, the PostgreSQL cases are skipped with that reason; with ``CI``
set, a missing or unreachable PostgreSQL fails the run instead.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from store.db import make_engine, make_session_factory, normalize_url, upgrade

POSTGRES_URL_ENV = "LADDER_TEST_POSTGRES_URL"

# Property tests check values, not speed: no per-example deadline on a loaded 2-core machine
# (speed is measured by the scripts in bench/).
hypothesis_settings.register_profile("ladder", deadline=None)
hypothesis_settings.load_profile("ladder")


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The PostgreSQL server to test against, checked once per run."""
    url = os.environ.get(POSTGRES_URL_ENV, "").strip()
    if not url:
        if _in_ci():
            pytest.fail(f"{POSTGRES_URL_ENV} not set, and CI is set: PostgreSQL tests must run")
        pytest.skip(f"{POSTGRES_URL_ENV} not set")
    shown = normalize_url(url).render_as_string(hide_password=True)
    engine = create_engine(normalize_url(url))
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        # The URL was given on purpose: not reaching it is a failure, in CI or not.
        pytest.fail(f"cannot connect to PostgreSQL at {shown} ({POSTGRES_URL_ENV}): {exc}")
    finally:
        engine.dispose()
    return url


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty database (no tables): a SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ladder.db'}"
        return
    base = normalize_url(request.getfixturevalue("postgres_url"))
    schema = f"ladder_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = base.update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        admin.dispose()


@pytest.fixture
def backend(db_url: str) -> str:
    """``"sqlite"`` or ``"postgresql"``."""
    return make_url(db_url).get_backend_name()


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on a database migrated to head (the way production gets its schema)."""
    engine = make_engine(db_url)
    upgrade(engine)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def session_factory(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


@pytest.fixture
def session(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session for the test body; what it does not commit is rolled back at the end.

    On SQLite a transaction holds the write lock: commit (or roll back) before other
    sessions or threads write.
    """
    with session_factory() as session:
        yield session


# The fake Slack Web API, for every test module that asks for ``fake_slack``.
from fake_slack import fake_slack as fake_slack  # noqa: E402
