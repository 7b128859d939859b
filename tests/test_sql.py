"""Read-only SQL on both backends: writes refused, three output formats, and
the views that answer common questions in one line."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from mirror.emulator import EmulatedRecording, Emulator
from mirror.emulator.records import Segment, TagRef
from mirror.errors import QueryFailed, StoreError, WriteRefused
from mirror.query.formats import as_csv, as_json, as_table
from mirror.query.sql import open_for_reading, run_read_only
from mirror.store import schema
from mirror.store.database import Database
from tests.test_search import mark_deleted, run_command, write_config, write_records

AWKWARD_TITLE = 'Budget, "final" — مراجعة\nsecond line'


@pytest.fixture
def mirror(database: Database) -> Database:
    """A mirror of two known recordings, one of them deleted upstream."""
    write_records(database, known_recordings())
    mark_deleted(database, "rec_000000000002")
    return database


def known_recordings() -> list[EmulatedRecording]:
    emulator = Emulator(org_id="org_test")
    first = emulator.new_recording(
        title=AWKWARD_TITLE,
        created_at=dt.datetime(2026, 1, 5, 9, 30, tzinfo=dt.UTC),
        tags=[TagRef("tag_b", "Beta", None), TagRef("tag_a", "Alpha", "#fff")],
        transcript=[Segment("Ana", "hello 50%", 0, 1), Segment(None, "bye", 1, 2)],
    )
    second = emulator.new_recording(
        title="Gone",
        created_at=dt.datetime(2026, 1, 6, tzinfo=dt.UTC),
        tags=[],
        transcript=[],
    )
    first.id, second.id = "rec_000000000001", "rec_000000000002"
    return [first, second]


WRITES = [
    "UPDATE recordings SET title = 'oops'",
    "DELETE FROM transcript_segments",
    "INSERT INTO recording_tags (recording_id, tag_id) VALUES ('x', 'y')",
    "DROP TABLE recordings",
    "CREATE TABLE sneaky (id INTEGER)",
]


@pytest.mark.parametrize("statement", WRITES)
def test_sql_refuses_to_write(mirror: Database, statement: str) -> None:
    """A statement that writes is refused by the database and changes nothing."""
    with pytest.raises(WriteRefused, match="only reads"):
        run_read_only(mirror, statement)

    assert titles(mirror) == [AWKWARD_TITLE, "Gone"]
    assert segment_count(mirror) == 2


def test_sql_refuses_a_second_statement_that_would_write(mirror: Database) -> None:
    """Ending the read-only transaction and writing after it is not possible."""
    with pytest.raises(QueryFailed):
        run_read_only(mirror, "COMMIT; UPDATE recordings SET title = 'oops'")

    assert titles(mirror) == [AWKWARD_TITLE, "Gone"]


def titles(database: Database) -> list[str]:
    table = schema.recordings
    with database.read() as connection:
        query = sa.select(table.c.title).order_by(table.c.id)
        return list(connection.execute(query).scalars())


def segment_count(database: Database) -> int:
    with database.read() as connection:
        query = sa.select(sa.func.count()).select_from(schema.transcript_segments)
        return int(connection.execute(query).scalar_one())


QUESTION = (
    "SELECT id, title, segment_count, duration_seconds, deletion FROM recordings "
    "WHERE title LIKE '%final%' ORDER BY id"
)


def test_sql_prints_csv_that_parses_back(mirror: Database) -> None:
    """CSV quotes commas, quotes and newlines; NULL is an empty field."""
    result = run_read_only(mirror, QUESTION)

    rows = list(csv.reader(io.StringIO(as_csv(result), newline="")))

    assert rows[0] == ["id", "title", "segment_count", "duration_seconds", "deletion"]
    assert rows[1][:3] == ["rec_000000000001", AWKWARD_TITLE, "2"]
    assert rows[1][4] == ""
    assert len(rows) == 2


def test_sql_prints_json_objects_by_column(mirror: Database) -> None:
    """JSON is one object per row, values typed, NULL as null."""
    result = run_read_only(mirror, QUESTION)

    [row] = json.loads(as_json(result))

    assert row["id"] == "rec_000000000001"
    assert row["title"] == AWKWARD_TITLE
    assert row["segment_count"] == 2
    assert row["deletion"] is None


def test_sql_prints_an_aligned_table(mirror: Database) -> None:
    """The table has a header, a rule, one line per row, columns aligned."""
    result = run_read_only(mirror, "SELECT id, deletion FROM recordings ORDER BY id")

    lines = as_table(result).splitlines()

    assert lines[0].split() == ["id", "deletion"]
    assert set(lines[1].replace(" ", "")) == {"-"}
    assert lines[2].rstrip() == "rec_000000000001"
    assert lines[3] == "rec_000000000002  soft"
    assert lines[3].index("soft") == lines[0].index("deletion")


def test_views_answer_common_questions(mirror: Database) -> None:
    """Whole transcripts, recordings with their tags, live recordings only.

    The emulator sends tags as bare ids here, so the names fall back to them.
    """
    transcripts = run_read_only(
        mirror, "SELECT recording_id, transcript FROM recording_transcripts ORDER BY 1"
    )
    tags = run_read_only(
        mirror,
        "SELECT recording_id, tags, tag_ids FROM recordings_with_tags ORDER BY 1",
    )
    live = run_read_only(mirror, "SELECT id FROM live_recordings")

    assert transcripts.rows == [
        ("rec_000000000001", "Ana: hello 50%\nbye"),
        ("rec_000000000002", None),
    ]
    assert tags.rows == [
        ("rec_000000000001", "tag_a, tag_b", "tag_a,tag_b"),
        ("rec_000000000002", None, None),
    ]
    assert live.rows == [("rec_000000000001",)]


def test_sql_command_prints_each_format_and_refuses_writes(
    mirror: Database, tmp_path: Path
) -> None:
    """The command prints csv; an UPDATE exits 1 with one sentence."""
    config = write_config(tmp_path / "config.toml", mirror.url)

    printed = run_command("sql", QUESTION, "--format", "csv", config=config)
    refused = run_command("sql", "UPDATE recordings SET title = 'x'", config=config)

    assert printed.returncode == 0, printed.stderr
    assert printed.stdout == as_csv(run_read_only(mirror, QUESTION))
    assert refused.returncode == 1
    assert "pocket-mirror sql only reads" in refused.stderr.splitlines()[-1]
    assert titles(mirror) == [AWKWARD_TITLE, "Gone"]


def test_sql_does_not_create_a_missing_sqlite_file(tmp_path: Path) -> None:
    """A mirror that does not exist is an error, and no file appears."""
    path = tmp_path / "missing.db"

    with pytest.raises(StoreError, match="there is no mirror"):
        open_for_reading(f"sqlite:///{path}")

    assert not path.exists()
