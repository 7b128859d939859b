"""Running a user's SQL on the mirror without any way to change it.

The guarantee comes from the database, not from reading the statement: on
SQLite the file is opened read-only (``mode=ro``) and the connection is set
``query_only``, with ATTACH refused so that no other file can be written
either; on PostgreSQL the transaction is ``READ ONLY`` and the statement is
sent as a prepared statement, which cannot hold a second command (such as a
``COMMIT`` that would end the read-only transaction).
"""

from __future__ import annotations

import contextlib
import sqlite3
import urllib.parse
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy as sa

from mirror.errors import QueryFailed, StoreError, WriteRefused
from mirror.store.database import Database, parse_url

# SQLite's authorizer action code for ATTACH, and its answer that refuses.
_SQLITE_ATTACH = 24
_SQLITE_DENY = 1

# PostgreSQL's SQLSTATE for a write attempted in a read-only transaction.
_PG_READ_ONLY = "25006"


@dataclass(frozen=True, slots=True)
class QueryResult:
    """The columns and rows a statement returned."""

    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]


def open_for_reading(url: str) -> Database:
    """The mirror at ``url``; a SQLite file that does not exist is not created.

    Raises:
        StoreError: the SQLite file does not exist.
        ConfigError: the URL names no supported database.
    """
    parsed = parse_url(url)
    if (
        parsed.get_backend_name() == "sqlite"
        and not Path(parsed.database or "").exists()
    ):
        display_url = parsed.render_as_string(hide_password=True)
        raise StoreError(f"there is no mirror at {display_url}", url=display_url)
    return Database(url)


def run_read_only(database: Database, statement: str) -> QueryResult:
    """Run one SQL statement through a read-only connection or transaction.

    Raises:
        WriteRefused: the statement tried to write.
        QueryFailed: the database refused the statement.
        StoreError: the database could not be opened or reached.
    """
    if database.dialect == "sqlite":
        return _run_sqlite(database, statement)
    return _run_postgres(database, statement)


def _run_sqlite(database: Database, statement: str) -> QueryResult:
    path = sa.make_url(database.url).database or ""
    with _sqlite_read_only(Path(path), database.display_url) as connection:
        try:
            cursor = connection.execute(statement)
            rows = cursor.fetchall()
        except sqlite3.Error as exc:
            raise _sqlite_failure(exc, database.display_url) from exc
    return QueryResult(_column_names(cursor.description), rows)


@contextlib.contextmanager
def _sqlite_read_only(path: Path, display_url: str) -> Iterator[sqlite3.Connection]:
    uri = f"file:{urllib.parse.quote(str(path.resolve()))}?mode=ro"
    try:
        connection = sqlite3.connect(uri, uri=True, isolation_level=None)
        connection.execute("PRAGMA query_only = ON")
    except sqlite3.Error as exc:
        raise StoreError(
            f"cannot open {display_url} for reading: {exc}", url=display_url
        ) from exc

    connection.set_authorizer(_refuse_attach)
    try:
        yield connection
    finally:
        connection.close()


def _refuse_attach(action: int, *names: object) -> int:
    return _SQLITE_DENY if action == _SQLITE_ATTACH else sqlite3.SQLITE_OK


def _sqlite_failure(exc: sqlite3.Error, display_url: str) -> QueryFailed:
    text = str(exc)
    lowered = text.lower()
    if "readonly" in lowered or "read-only" in lowered or "not authorized" in lowered:
        return WriteRefused(
            f"the statement tried to change the mirror ({text})", url=display_url
        )
    return QueryFailed(f"the query failed: {text}", url=display_url)


def _run_postgres(database: Database, statement: str) -> QueryResult:
    with database.read() as connection:
        connection.exec_driver_sql("SET TRANSACTION READ ONLY")
        driver = connection.connection.driver_connection
        assert isinstance(driver, psycopg.Connection)
        try:
            # Without parameters psycopg leaves '%' alone, so LIKE '%x%' works.
            cursor = driver.execute(statement, prepare=True)
            rows = cursor.fetchall() if cursor.description else []
        except psycopg.Error as exc:
            raise _postgres_failure(exc, database.display_url) from exc
    return QueryResult(_column_names(cursor.description), [tuple(r) for r in rows])


def _postgres_failure(exc: psycopg.Error, display_url: str) -> QueryFailed:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if exc.sqlstate == _PG_READ_ONLY:
        return WriteRefused(
            f"the statement tried to change the mirror ({text})", url=display_url
        )
    return QueryFailed(f"the query failed: {text}", url=display_url)


def _column_names(description: Sequence[Any] | None) -> tuple[str, ...]:
    return tuple(column[0] for column in description or ())
