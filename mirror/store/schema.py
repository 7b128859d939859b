"""The mirror's tables, the same on SQLite and PostgreSQL.

The tables and the columns documented in the README are a public contract:
people query the mirror with plain SQL. Columns marked internal below serve
the sync engine and may change between versions. The Alembic migrations in
``alembic/versions`` create exactly this schema; a test checks that they do.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    }
)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timestamp that is always UTC and always timezone-aware in Python.

    PostgreSQL stores ``timestamptz``; SQLite, which has no time zones, stores
    the UTC wall time, so that plain SQL on either sorts and compares right.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} given for a UTC column")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def json_type() -> Any:
    """JSON everywhere, stored as JSONB on PostgreSQL."""
    return JSON().with_variant(JSONB(), "postgresql")


recordings = Table(
    "recordings",
    metadata,
    Column("id", String, primary_key=True),
    Column("org_id", String, nullable=False),
    Column("title", Text),
    Column("description", Text),
    Column("duration_seconds", Float),
    Column("language", Text),
    Column("recorded_by", Text),
    Column("recorded_by_email", Text),
    Column("recorded_by_name", Text),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("summary_markdown", Text),
    Column("transcript_text", Text),
    # NULL while the service has not delivered a transcript at all.
    Column("segment_count", Integer),
    # NULL while the service has not delivered action items at all.
    Column("action_item_count", Integer),
    Column("raw", json_type(), nullable=False),
    Column("first_seen_at", UTCDateTime(), nullable=False),
    Column("last_seen_at", UTCDateTime(), nullable=False),
    Column("detail_synced_at", UTCDateTime()),
    # When the mirror last changed what it holds for this recording.
    Column("changed_at", UTCDateTime(), nullable=False),
    Column("deleted_at", UTCDateTime()),
    Column("deletion", String(4)),
    # Internal: fingerprints of the listed fields and of the detail payload,
    # and the ETag of the last detail response.
    Column("listing_hash", String(64), nullable=False),
    Column("detail_hash", String(64)),
    Column("etag", Text),
    CheckConstraint("deletion IN ('soft', 'hard')", name="deletion_kind"),
    Index(None, "org_id", "created_at"),
    Index(None, "created_at"),
)

transcript_segments = Table(
    "transcript_segments",
    metadata,
    Column(
        "recording_id",
        String,
        ForeignKey("recordings.id"),
        primary_key=True,
    ),
    Column("position", Integer, primary_key=True),
    Column("speaker", Text),
    Column("text", Text, nullable=False),
    Column("start_seconds", Float),
    Column("end_seconds", Float),
)

recording_tags = Table(
    "recording_tags",
    metadata,
    Column(
        "recording_id",
        String,
        ForeignKey("recordings.id"),
        primary_key=True,
    ),
    Column("tag_id", String, primary_key=True),
    Column("name", Text),
    Column("color", Text),
    Index(None, "tag_id"),
)

action_items = Table(
    "action_items",
    metadata,
    Column(
        "recording_id",
        String,
        ForeignKey("recordings.id"),
        primary_key=True,
    ),
    Column("position", Integer, primary_key=True),
    Column("text", Text),
    Column("raw", json_type(), nullable=False),
)

sync_runs = Table(
    "sync_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("org_id", String, nullable=False),
    # 'backfill', or 'sweep' with the tier's name in `tier`.
    Column("kind", String(16), nullable=False),
    Column("tier", String(64)),
    Column("window_start", Date),
    Column("window_end", Date),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("finished_at", UTCDateTime()),
    # running, succeeded, failed, refused (mass-delete guard), dry_run
    Column("outcome", String(16), nullable=False),
    Column("list_requests", Integer, nullable=False, default=0),
    Column("detail_requests", Integer, nullable=False, default=0),
    Column("retries", Integer, nullable=False, default=0),
    Column("listed", Integer, nullable=False, default=0),
    Column("created", Integer, nullable=False, default=0),
    Column("updated", Integer, nullable=False, default=0),
    Column("unchanged", Integer, nullable=False, default=0),
    Column("soft_deleted", Integer, nullable=False, default=0),
    Column("hard_deleted", Integer, nullable=False, default=0),
    Column("restored", Integer, nullable=False, default=0),
    Column("held_back", Integer, nullable=False, default=0),
    Column("error", Text),
    Index(None, "org_id", "kind", "tier", "started_at"),
)

# The change history: before any change to a recording is written, the state
# it replaces is kept here, so nothing the mirror once held is lost. Version
# N is the state as it was before the N-th change; the current state is the
# recording's own row.
recording_versions = Table(
    "recording_versions",
    metadata,
    Column(
        "recording_id",
        String,
        ForeignKey("recordings.id"),
        primary_key=True,
    ),
    Column("version", Integer, primary_key=True),
    Column("captured_at", UTCDateTime(), nullable=False),
    Column("changed_fields", json_type(), nullable=False),
    Column("snapshot", json_type(), nullable=False),
    Column("sync_run_id", Integer),
)

# Where each sweep stands, written in the same transaction as each page's
# recordings, so that a sweep killed at any moment resumes from its last page.
sweep_checkpoints = Table(
    "sweep_checkpoints",
    metadata,
    Column("org_id", String, primary_key=True),
    Column("tier", String(64), primary_key=True),
    Column("run_id", Integer),
    Column("sweep_started_at", UTCDateTime(), nullable=False),
    Column("window_index", Integer, nullable=False),
    Column("window_start", Date),
    Column("window_end", Date),
    Column("cursor", Text),
    Column("pages", Integer, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

# What the migrations build beside these tables, which this metadata leaves
# out: the full-text search indexes (on SQLite, FTS5 tables and their shadow
# tables; on PostgreSQL, generated tsvector columns and their GIN indexes)
# and the views.
SEARCH_TABLE_PREFIXES = ("transcript_segments_fts", "recordings_fts")
SEARCH_INDEXES = frozenset({"ix_transcript_segments_search", "ix_recordings_search"})
SEARCH_COLUMN = "search_vector"


def described_here(
    name: str | None, type_: str, parent_names: Mapping[str, str | None]
) -> bool:
    """Whether this metadata describes a database object (Alembic's include_name).

    Autogenerate and schema comparisons pass over the search indexes, which
    the migrations create in SQL of each backend's own.
    """
    if name is None:
        return True
    if type_ == "table":
        return not name.startswith(SEARCH_TABLE_PREFIXES)
    if type_ == "column":
        return name != SEARCH_COLUMN
    return not (type_ == "index" and name in SEARCH_INDEXES)
