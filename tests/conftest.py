"""Shared fixtures: real databases (SQLite files, the PostgreSQL server) and a
real emulator of the Pocket API listening on a loopback socket."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import stamina

from mirror.store.database import Database

pytest_plugins = ["tests.fixtures_db", "tests.fixtures_emulator"]


@pytest.fixture(autouse=True)
def no_retry_waits() -> Iterator[None]:
    """Retries still happen in tests, as many as the client allows, but
    without their waits."""
    with stamina.set_testing(True, attempts=20, cap=True):
        yield


@pytest.fixture
def sqlite_database(sqlite_url: str) -> Iterator[Database]:
    """A migrated SQLite mirror, for behaviour that does not vary by backend."""
    with Database(sqlite_url) as database:
        database.upgrade()
        yield database
