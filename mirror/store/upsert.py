"""Dialect-specific ``INSERT ... ON CONFLICT DO UPDATE``, in one place.

SQLite and PostgreSQL spell the upsert the same way but through different
SQLAlchemy constructs; everything else in the store writes through here, so
a rerun that brings the same rows changes nothing.

Transcript segments are most of what a backfill writes. For tables whose
columns are all plain strings and numbers, the statement is compiled once
and the rows go to the driver's own ``executemany``: SQLAlchemy's per-row
parameter processing has nothing to convert there, and skipping it halves
the cost of a page.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Float, Integer, String, Table, Text
from sqlalchemy.dialects import postgresql, sqlite

PLAIN_TYPES = (String, Text, Integer, Float)


def upsert(
    conn: Connection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    key: Sequence[str],
) -> None:
    """Insert ``rows`` into ``table``, updating the rows whose ``key`` exists.

    Every row must have the same columns; the non-key columns are updated.
    """
    if not rows:
        return

    columns = list(rows[0])
    statement = _statement(conn, table, columns, key)
    if not all(isinstance(table.c[name].type, PLAIN_TYPES) for name in columns):
        conn.execute(statement, list(rows))
        return

    compiled = statement.compile(dialect=conn.dialect, column_keys=columns)
    if compiled.positional and compiled.positiontup is not None:
        order = compiled.positiontup
        parameters: list[Any] = [tuple(row[name] for name in order) for row in rows]
    else:
        parameters = [dict(row) for row in rows]
    conn.exec_driver_sql(str(compiled), parameters)


def _statement(
    conn: Connection, table: Table, columns: Sequence[str], key: Sequence[str]
) -> Any:
    module = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = module.insert(table)
    updated = [name for name in columns if name not in key]
    if not updated:
        return statement.on_conflict_do_nothing(index_elements=list(key))
    return statement.on_conflict_do_update(
        index_elements=list(key),
        set_={name: statement.excluded[name] for name in updated},
    )
