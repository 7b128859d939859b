"""The store's upsert on both backends: many rows, shared keys, reruns."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from mirror.query.search import search
from mirror.store import schema
from mirror.store.database import Database
from mirror.store.upsert import PARAMETERS_PER_STATEMENT, upsert, upsert_values

SEGMENT_COLUMNS = 6
# Enough rows for several statements and a short last one.
MANY = 3 * (PARAMETERS_PER_STATEMENT // SEGMENT_COLUMNS) + 7


def _recording(conn: sa.Connection, recording_id: str) -> None:
    now = dt.datetime(2026, 1, 2, tzinfo=dt.UTC)
    conn.execute(
        schema.recordings.insert().values(
            id=recording_id, org_id="org", created_at=now, first_seen_at=now,
            last_seen_at=now, changed_at=now, raw={}, listing_hash="h",
        )
    )  # fmt: skip


def _segment(recording_id: str, position: int, text: str) -> dict[str, object]:
    return {
        "recording_id": recording_id, "position": position, "speaker": "Ana",
        "text": text, "start_seconds": position * 1.5, "end_seconds": None,
    }  # fmt: skip


def _segments(database: Database) -> list[tuple[object, ...]]:
    table = schema.transcript_segments
    with database.read() as conn:
        query = sa.select(table.c.position, table.c.text, table.c.start_seconds)
        return [tuple(row) for row in conn.execute(query.order_by(table.c.position))]


def test_rows_beyond_one_statement_are_all_written(database: Database) -> None:
    rows = [_segment("rec_1", n, f"segment {n} ünïcode ' \" %s ?") for n in range(MANY)]
    with database.write() as conn:
        _recording(conn, "rec_1")
        upsert(conn, schema.transcript_segments, rows, key=["recording_id", "position"])

    held = _segments(database)
    assert len(held) == MANY
    assert held[0] == (0, "segment 0 ünïcode ' \" %s ?", 0.0)
    assert held[-1] == (
        MANY - 1,
        f"segment {MANY - 1} ünïcode ' \" %s ?",
        (MANY - 1) * 1.5,
    )


def test_existing_keys_are_updated_and_new_ones_added(database: Database) -> None:
    key = ["recording_id", "position"]
    with database.write() as conn:
        _recording(conn, "rec_1")
        upsert(conn, schema.transcript_segments, [_segment("rec_1", 0, "old")], key=key)
    with database.write() as conn:
        rows = [_segment("rec_1", 0, "new"), _segment("rec_1", 1, "added")]
        upsert(conn, schema.transcript_segments, rows, key=key)

    assert [text for _, text, _ in _segments(database)] == ["new", "added"]


def test_of_rows_sharing_a_key_the_last_wins(database: Database) -> None:
    rows = [_segment("rec_1", 0, "first"), _segment("rec_1", 0, "second")]
    with database.write() as conn:
        _recording(conn, "rec_1")
        upsert(conn, schema.transcript_segments, rows, key=["recording_id", "position"])

    assert [text for _, text, _ in _segments(database)] == ["second"]


def test_rows_of_key_columns_only_are_inserted_once(database: Database) -> None:
    table = sa.Table(
        "pairs", sa.MetaData(),
        sa.Column("left", sa.String, primary_key=True),
        sa.Column("right", sa.Integer, primary_key=True),
    )  # fmt: skip
    with database.write() as conn:
        table.create(conn)
        rows = [{"left": "a", "right": 1}, {"left": "a", "right": 1}]
        upsert(conn, table, rows, key=["left", "right"])
        upsert(conn, table, rows, key=["left", "right"])
    with database.read() as conn:
        assert conn.execute(sa.select(table)).all() == [("a", 1)]


def test_search_finds_every_segment_written_in_bulk(database: Database) -> None:
    rows = [_segment("rec_1", n, f"word{n}") for n in range(MANY)]
    with database.write() as conn:
        _recording(conn, "rec_1")
        upsert(conn, schema.transcript_segments, rows, key=["recording_id", "position"])

    for n in (0, MANY // 2, MANY - 1):
        assert [hit.position for hit in search(database, f"word{n}")] == [n]


def test_tuples_for_a_table_with_typed_columns_go_through_sqlalchemy(
    database: Database,
) -> None:
    """Dates and JSON are converted by SQLAlchemy, not sent to the driver raw."""
    now = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    columns = [
        "id", "org_id", "created_at", "first_seen_at", "last_seen_at",
        "changed_at", "raw", "listing_hash",
    ]  # fmt: skip
    values = [("rec_1", "org", now, now, now, now, {"k": [1, "é"]}, "h")]
    with database.write() as conn:
        upsert_values(conn, schema.recordings, columns, values, key=["id"])
    with database.read() as conn:
        row = conn.execute(sa.select(schema.recordings)).one()
    assert (row.created_at, row.raw) == (now, {"k": [1, "é"]})
