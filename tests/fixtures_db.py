"""Real databases for the tests: SQLite files and fresh PostgreSQL databases.

Every test that takes ``database_url`` or ``database`` runs twice, once on a
SQLite file in its temporary folder and once on a PostgreSQL database created
for it alone (and dropped after) on the server named by
``POCKET_MIRROR_TEST_PG_URL``. Without that variable the PostgreSQL runs are
skipped, except under CI, where a silent skip would hide a whole backend.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from mirror.store.database import Database

PG_URL_VARIABLE = "POCKET_MIRROR_TEST_PG_URL"

PG_SKIP_REASON = f"set {PG_URL_VARIABLE} to run the PostgreSQL tests"


def postgres_server_url() -> sa.URL:
    """The PostgreSQL server to test on, or a skip (a failure under CI)."""
    url = os.environ.get(PG_URL_VARIABLE, "")
    if not url:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{PG_URL_VARIABLE} must be set under CI", pytrace=False)
        pytest.skip(PG_SKIP_REASON)
    return sa.make_url(url).set(drivername="postgresql+psycopg")


@pytest.fixture(scope="session")
def postgres_admin() -> Iterator[sa.Engine]:
    """An autocommit engine on the test server, for creating databases."""
    engine = sa.create_engine(postgres_server_url(), isolation_level="AUTOCOMMIT")
    yield engine
    engine.dispose()


@pytest.fixture
def postgres_url(postgres_admin: sa.Engine) -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database, dropped after the test."""
    name = f"pocket_mirror_test_{uuid.uuid4().hex[:16]}"
    with postgres_admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE template0')

    yield postgres_admin.url.set(database=name).render_as_string(hide_password=False)

    with postgres_admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """The URL of a SQLite file (not yet created) in the test's folder."""
    return f"sqlite:///{tmp_path / 'mirror.db'}"


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ]
)
def database_url(request: pytest.FixtureRequest) -> str:
    """An empty database's URL, on SQLite and then on PostgreSQL."""
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    url: str = request.getfixturevalue(fixture)
    return url


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    """A Database on each backend, migrated to the newest schema."""
    database = Database(database_url)
    database.upgrade()
    yield database
    database.close()
