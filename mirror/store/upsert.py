"""Dialect-specific ``INSERT ... ON CONFLICT DO UPDATE``, in one place.

SQLite and PostgreSQL spell the upsert the same way but through different
SQLAlchemy constructs; everything else in the store writes through here, so
a rerun that brings the same rows changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite


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

    module = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = module.insert(table)
    updated = [name for name in rows[0] if name not in key]

    if updated:
        statement = statement.on_conflict_do_update(
            index_elements=list(key),
            set_={name: statement.excluded[name] for name in updated},
        )
    else:
        statement = statement.on_conflict_do_nothing(index_elements=list(key))
    conn.execute(statement, list(rows))
