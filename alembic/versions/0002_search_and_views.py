"""Add full-text search and the views for common questions.

SQLite gets two FTS5 indexes over the rows they index (external content, so
the text is stored once), kept in step by triggers on every write path.
PostgreSQL gets a stored generated ``search_vector`` column on each of the
two tables, ``to_tsvector('simple', ...)`` of the text, with a GIN index;
the server keeps it in step by itself, and a phrase match reads the stored
vector instead of computing it again for every candidate row. The 'simple'
configuration neither stems nor drops stop words, so every language is
searched alike. The views are created before the columns, so that
``live_recordings`` (``SELECT *``) leaves them out.

A later migration that rebuilds ``recordings`` or ``transcript_segments`` on
SQLite (batch mode copies the table) must drop the views and these triggers
first, create them again after, and rebuild both FTS5 indexes: the copy
gives the rows new rowids, and SQLite refuses to rename a table under a view.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# unicode61 folds case and, with remove_diacritics 2, accents, in any script.
SQLITE_SEARCH = (
    """
    CREATE VIRTUAL TABLE transcript_segments_fts USING fts5(
        text, content="transcript_segments", content_rowid="rowid",
        tokenize="unicode61 remove_diacritics 2"
    )
    """,
    """
    CREATE VIRTUAL TABLE recordings_fts USING fts5(
        title, summary_markdown, content="recordings", content_rowid="rowid",
        tokenize="unicode61 remove_diacritics 2"
    )
    """,
    """
    CREATE TRIGGER transcript_segments_fts_insert
    AFTER INSERT ON transcript_segments BEGIN
        INSERT INTO transcript_segments_fts (rowid, text)
        VALUES (new.rowid, new.text);
    END
    """,
    """
    CREATE TRIGGER transcript_segments_fts_delete
    AFTER DELETE ON transcript_segments BEGIN
        INSERT INTO transcript_segments_fts (transcript_segments_fts, rowid, text)
        VALUES ('delete', old.rowid, old.text);
    END
    """,
    """
    CREATE TRIGGER transcript_segments_fts_update
    AFTER UPDATE OF text ON transcript_segments BEGIN
        INSERT INTO transcript_segments_fts (transcript_segments_fts, rowid, text)
        VALUES ('delete', old.rowid, old.text);
        INSERT INTO transcript_segments_fts (rowid, text)
        VALUES (new.rowid, new.text);
    END
    """,
    """
    CREATE TRIGGER recordings_fts_insert AFTER INSERT ON recordings BEGIN
        INSERT INTO recordings_fts (rowid, title, summary_markdown)
        VALUES (new.rowid, new.title, new.summary_markdown);
    END
    """,
    """
    CREATE TRIGGER recordings_fts_delete AFTER DELETE ON recordings BEGIN
        INSERT INTO recordings_fts (recordings_fts, rowid, title, summary_markdown)
        VALUES ('delete', old.rowid, old.title, old.summary_markdown);
    END
    """,
    """
    CREATE TRIGGER recordings_fts_update
    AFTER UPDATE OF title, summary_markdown ON recordings BEGIN
        INSERT INTO recordings_fts (recordings_fts, rowid, title, summary_markdown)
        VALUES ('delete', old.rowid, old.title, old.summary_markdown);
        INSERT INTO recordings_fts (rowid, title, summary_markdown)
        VALUES (new.rowid, new.title, new.summary_markdown);
    END
    """,
    "INSERT INTO transcript_segments_fts (transcript_segments_fts) VALUES ('rebuild')",
    "INSERT INTO recordings_fts (recordings_fts) VALUES ('rebuild')",
)

SQLITE_SEARCH_DROP = (
    "DROP TRIGGER transcript_segments_fts_insert",
    "DROP TRIGGER transcript_segments_fts_delete",
    "DROP TRIGGER transcript_segments_fts_update",
    "DROP TRIGGER recordings_fts_insert",
    "DROP TRIGGER recordings_fts_delete",
    "DROP TRIGGER recordings_fts_update",
    "DROP TABLE transcript_segments_fts",
    "DROP TABLE recordings_fts",
)

POSTGRES_SEARCH = (
    """
    ALTER TABLE transcript_segments ADD COLUMN search_vector tsvector
    GENERATED ALWAYS AS (to_tsvector('simple'::regconfig, text)) STORED
    """,
    """
    ALTER TABLE recordings ADD COLUMN search_vector tsvector
    GENERATED ALWAYS AS (to_tsvector('simple'::regconfig,
        coalesce(title, '') || ' ' || coalesce(summary_markdown, ''))) STORED
    """,
    """
    CREATE INDEX ix_transcript_segments_search ON transcript_segments
    USING gin (search_vector)
    """,
    "CREATE INDEX ix_recordings_search ON recordings USING gin (search_vector)",
)

POSTGRES_SEARCH_DROP = (
    "DROP INDEX ix_transcript_segments_search",
    "DROP INDEX ix_recordings_search",
    "ALTER TABLE transcript_segments DROP COLUMN search_vector",
    "ALTER TABLE recordings DROP COLUMN search_vector",
)

LIVE_RECORDINGS = """
CREATE VIEW live_recordings AS
SELECT * FROM recordings WHERE deletion IS NULL
"""

# SQLite before 3.44 has no ORDER BY inside group_concat; it concatenates in
# the order the rows arrive, which the ordered subquery fixes.
SQLITE_TRANSCRIPTS = """
CREATE VIEW recording_transcripts AS
SELECT r.id AS recording_id, r.title, r.created_at, r.deletion,
    (SELECT group_concat(line, char(10)) FROM (
        SELECT coalesce(s.speaker || ': ', '') || s.text AS line
        FROM transcript_segments s
        WHERE s.recording_id = r.id ORDER BY s.position
    )) AS transcript
FROM recordings r
"""

POSTGRES_TRANSCRIPTS = """
CREATE VIEW recording_transcripts AS
SELECT r.id AS recording_id, r.title, r.created_at, r.deletion,
    (SELECT string_agg(coalesce(s.speaker || ': ', '') || s.text, E'\\n'
        ORDER BY s.position)
     FROM transcript_segments s WHERE s.recording_id = r.id) AS transcript
FROM recordings r
"""

SQLITE_WITH_TAGS = """
CREATE VIEW recordings_with_tags AS
SELECT r.id AS recording_id, r.title, r.created_at, r.deletion,
    (SELECT group_concat(tag, ', ') FROM (
        SELECT coalesce(t.name, t.tag_id) AS tag FROM recording_tags t
        WHERE t.recording_id = r.id ORDER BY tag
    )) AS tags,
    (SELECT group_concat(tag_id, ',') FROM (
        SELECT t.tag_id FROM recording_tags t
        WHERE t.recording_id = r.id ORDER BY t.tag_id
    )) AS tag_ids
FROM recordings r
"""

POSTGRES_WITH_TAGS = """
CREATE VIEW recordings_with_tags AS
SELECT r.id AS recording_id, r.title, r.created_at, r.deletion,
    (SELECT string_agg(coalesce(t.name, t.tag_id), ', '
        ORDER BY coalesce(t.name, t.tag_id))
     FROM recording_tags t WHERE t.recording_id = r.id) AS tags,
    (SELECT string_agg(t.tag_id, ',' ORDER BY t.tag_id)
     FROM recording_tags t WHERE t.recording_id = r.id) AS tag_ids
FROM recordings r
"""

VIEWS_DROP = (
    "DROP VIEW recordings_with_tags",
    "DROP VIEW recording_transcripts",
    "DROP VIEW live_recordings",
)


def upgrade() -> None:
    """Create the views, then the search indexes (with triggers on SQLite)."""
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.execute(LIVE_RECORDINGS)
    op.execute(SQLITE_TRANSCRIPTS if sqlite else POSTGRES_TRANSCRIPTS)
    op.execute(SQLITE_WITH_TAGS if sqlite else POSTGRES_WITH_TAGS)

    for statement in SQLITE_SEARCH if sqlite else POSTGRES_SEARCH:
        op.execute(statement)


def downgrade() -> None:
    """Drop the views and the search indexes; the tables keep every row."""
    sqlite = op.get_bind().dialect.name == "sqlite"
    for statement in VIEWS_DROP:
        op.execute(statement)
    for statement in SQLITE_SEARCH_DROP if sqlite else POSTGRES_SEARCH_DROP:
        op.execute(statement)
