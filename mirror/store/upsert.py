"""Dialect-specific ``INSERT ... ON CONFLICT DO UPDATE``, in one place.

SQLite and PostgreSQL spell the upsert the same way but through different
SQLAlchemy constructs; everything else in the store writes through here, so
a rerun that brings the same rows changes nothing.

Transcript segments are most of what a backfill writes. For tables whose
columns are all plain strings and numbers, the rows skip SQLAlchemy's
per-row parameter processing (there is nothing to convert) and go to the
driver as they are. On SQLite they go as multi-row ``VALUES`` statements of
a few hundred rows each: every statement makes the FTS5 index flush what it
holds in memory (a statement is a savepoint to it), so a statement per
segment cost several times what the rows themselves do. On PostgreSQL they
go to psycopg's executemany, which pipelines them.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Float, Integer, String, Table, Text
from sqlalchemy.dialects import postgresql, sqlite

PLAIN_TYPES = (String, Text, Integer, Float)
# Bound parameters per statement: under SQLite's oldest limit (999), and
# enough rows that the per-statement costs no longer count.
PARAMETERS_PER_STATEMENT = 990
_PLACEHOLDERS = {"qmark": "?", "format": "%s", "pyformat": "%s"}


def upsert(
    conn: Connection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    key: Sequence[str],
) -> None:
    """Insert ``rows`` into ``table``, updating the rows whose ``key`` exists.

    Every row must have the same columns; the non-key columns are updated.
    Of rows that share a key, the last one wins, as if each were written in
    turn.
    """
    if not rows:
        return

    columns = list(rows[0])
    if not _writes_plain(conn, table, columns):
        conn.execute(_statement(conn, table, columns, key), list(rows))
        return
    values = [tuple(row[name] for name in columns) for row in rows]
    upsert_values(conn, table, columns, values, key=key)


def upsert_values(
    conn: Connection,
    table: Table,
    columns: Sequence[str],
    values: Sequence[Sequence[Any]],
    *,
    key: Sequence[str],
    distinct_keys: bool = False,
) -> None:
    """:func:`upsert` for rows given as tuples in the order of ``columns``.

    Args:
        distinct_keys: the caller vouches that no two rows share a key, so
            the rows need not be reduced to the last of each key.
    """
    if not values:
        return
    if not _writes_plain(conn, table, columns):
        rows = [dict(zip(columns, row, strict=True)) for row in values]
        conn.execute(_statement(conn, table, columns, key), rows)
        return

    if not distinct_keys:
        where = [columns.index(name) for name in key]
        values = list({tuple(row[i] for i in where): row for row in values}.values())
    placeholder = _PLACEHOLDERS[conn.dialect.paramstyle]
    group = "(" + ", ".join([placeholder] * len(columns)) + ")"
    if conn.dialect.name == "postgresql":
        # psycopg pipelines an executemany: one round trip for all the rows,
        # and a fifth less CPU than statements of many rows each.
        text = _multi_row_sql(conn, table, columns, key, group)
        conn.exec_driver_sql(text, [tuple(row) for row in values])
        return
    per_statement = max(1, PARAMETERS_PER_STATEMENT // len(columns))
    for start in range(0, len(values), per_statement):
        chunk = values[start : start + per_statement]
        groups = ", ".join([group] * len(chunk))
        text = _multi_row_sql(conn, table, columns, key, groups)
        conn.exec_driver_sql(text, tuple(itertools.chain.from_iterable(chunk)))


def _writes_plain(conn: Connection, table: Table, columns: Sequence[str]) -> bool:
    """Whether rows can go to the driver as they are, many to a statement."""
    return conn.dialect.paramstyle in _PLACEHOLDERS and all(
        isinstance(table.c[name].type, PLAIN_TYPES) for name in columns
    )


def _multi_row_sql(
    conn: Connection,
    table: Table,
    columns: Sequence[str],
    key: Sequence[str],
    groups: str,
) -> str:
    """``INSERT ... VALUES <groups> ON CONFLICT ...``, the same on both backends."""
    quote = conn.dialect.identifier_preparer.quote
    names = ", ".join(quote(name) for name in columns)
    conflict = ", ".join(quote(name) for name in key)
    updated = [name for name in columns if name not in key]
    if updated:
        assignments = ", ".join(f"{quote(n)} = excluded.{quote(n)}" for n in updated)
        action = f"DO UPDATE SET {assignments}"
    else:
        action = "DO NOTHING"
    return (
        f"INSERT INTO {quote(table.name)} ({names}) VALUES {groups} "
        f"ON CONFLICT ({conflict}) {action}"
    )


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
