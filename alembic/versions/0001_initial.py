"""Create the mirror's tables.

Revision ID: 0001
Revises:
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def utc_timestamp() -> sa.DateTime:
    """The column type of mirror.store.schema.UTCDateTime, frozen here."""
    return sa.DateTime(timezone=True)


def json_document() -> Any:
    """JSON, stored as JSONB on PostgreSQL."""
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    """Create the recordings table and the tables hanging off it."""
    create_recordings()
    create_transcript_segments()
    create_recording_tags()
    create_action_items()
    create_sync_runs()
    create_recording_versions()
    create_sweep_checkpoints()


def downgrade() -> None:
    """Drop every table of the mirror, children before parents."""
    op.drop_table("sweep_checkpoints")
    op.drop_table("recording_versions")
    op.drop_index(
        op.f("ix_sync_runs_org_id_kind_tier_started_at"), table_name="sync_runs"
    )
    op.drop_table("sync_runs")
    op.drop_table("action_items")
    op.drop_index(op.f("ix_recording_tags_tag_id"), table_name="recording_tags")
    op.drop_table("recording_tags")
    op.drop_table("transcript_segments")
    op.drop_index(op.f("ix_recordings_created_at"), table_name="recordings")
    op.drop_index(op.f("ix_recordings_org_id_created_at"), table_name="recordings")
    op.drop_table("recordings")


def create_recordings() -> None:
    """One row per recording the organization has, or had."""
    op.create_table(
        "recordings",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("org_id", sa.String(), nullable=False),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("duration_seconds", sa.Float(), nullable=True),
        sa.Column("language", sa.Text(), nullable=True),
        sa.Column("recorded_by", sa.Text(), nullable=True),
        sa.Column("recorded_by_email", sa.Text(), nullable=True),
        sa.Column("recorded_by_name", sa.Text(), nullable=True),
        sa.Column("created_at", utc_timestamp(), nullable=False),
        sa.Column("summary_markdown", sa.Text(), nullable=True),
        sa.Column("transcript_text", sa.Text(), nullable=True),
        sa.Column("segment_count", sa.Integer(), nullable=True),
        sa.Column("action_item_count", sa.Integer(), nullable=True),
        sa.Column("raw", json_document(), nullable=False),
        sa.Column("first_seen_at", utc_timestamp(), nullable=False),
        sa.Column("last_seen_at", utc_timestamp(), nullable=False),
        sa.Column("detail_synced_at", utc_timestamp(), nullable=True),
        sa.Column("changed_at", utc_timestamp(), nullable=False),
        sa.Column("deleted_at", utc_timestamp(), nullable=True),
        sa.Column("deletion", sa.String(length=4), nullable=True),
        sa.Column("listing_hash", sa.String(length=64), nullable=False),
        sa.Column("detail_hash", sa.String(length=64), nullable=True),
        sa.Column("etag", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "deletion IN ('soft', 'hard')", name=op.f("ck_recordings_deletion_kind")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recordings")),
    )
    op.create_index(
        op.f("ix_recordings_org_id_created_at"), "recordings", ["org_id", "created_at"]
    )
    op.create_index(op.f("ix_recordings_created_at"), "recordings", ["created_at"])


def create_transcript_segments() -> None:
    """The transcript of each recording, one row per segment in order."""
    op.create_table(
        "transcript_segments",
        sa.Column("recording_id", sa.String(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("speaker", sa.Text(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("start_seconds", sa.Float(), nullable=True),
        sa.Column("end_seconds", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["recording_id"],
            ["recordings.id"],
            name=op.f("fk_transcript_segments_recording_id"),
        ),
        sa.PrimaryKeyConstraint(
            "recording_id", "position", name=op.f("pk_transcript_segments")
        ),
    )


def create_recording_tags() -> None:
    """The tags on each recording."""
    op.create_table(
        "recording_tags",
        sa.Column("recording_id", sa.String(), nullable=False),
        sa.Column("tag_id", sa.String(), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("color", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["recording_id"],
            ["recordings.id"],
            name=op.f("fk_recording_tags_recording_id"),
        ),
        sa.PrimaryKeyConstraint(
            "recording_id", "tag_id", name=op.f("pk_recording_tags")
        ),
    )
    op.create_index(op.f("ix_recording_tags_tag_id"), "recording_tags", ["tag_id"])


def create_action_items() -> None:
    """The action items of each recording, in order."""
    op.create_table(
        "action_items",
        sa.Column("recording_id", sa.String(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("raw", json_document(), nullable=False),
        sa.ForeignKeyConstraint(
            ["recording_id"],
            ["recordings.id"],
            name=op.f("fk_action_items_recording_id"),
        ),
        sa.PrimaryKeyConstraint(
            "recording_id", "position", name=op.f("pk_action_items")
        ),
    )


def create_sync_runs() -> None:
    """One row per backfill or sweep, with its counts and outcome."""
    op.create_table(
        "sync_runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("org_id", sa.String(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("tier", sa.String(length=64), nullable=True),
        sa.Column("window_start", sa.Date(), nullable=True),
        sa.Column("window_end", sa.Date(), nullable=True),
        sa.Column("started_at", utc_timestamp(), nullable=False),
        sa.Column("finished_at", utc_timestamp(), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        *counter_columns(),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_runs")),
    )
    op.create_index(
        op.f("ix_sync_runs_org_id_kind_tier_started_at"),
        "sync_runs",
        ["org_id", "kind", "tier", "started_at"],
    )


def counter_columns() -> list[sa.Column[int]]:
    """The request and outcome counters of a sync run."""
    names = (
        "list_requests",
        "detail_requests",
        "retries",
        "listed",
        "created",
        "updated",
        "unchanged",
        "soft_deleted",
        "hard_deleted",
        "restored",
        "held_back",
    )
    return [sa.Column(name, sa.Integer(), nullable=False) for name in names]


def create_recording_versions() -> None:
    """The change history: each state of a recording before it was changed."""
    op.create_table(
        "recording_versions",
        sa.Column("recording_id", sa.String(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("captured_at", utc_timestamp(), nullable=False),
        sa.Column("changed_fields", json_document(), nullable=False),
        sa.Column("snapshot", json_document(), nullable=False),
        sa.Column("sync_run_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["recording_id"],
            ["recordings.id"],
            name=op.f("fk_recording_versions_recording_id"),
        ),
        sa.PrimaryKeyConstraint(
            "recording_id", "version", name=op.f("pk_recording_versions")
        ),
    )


def create_sweep_checkpoints() -> None:
    """Where each sweep stands, so that a killed sweep resumes."""
    op.create_table(
        "sweep_checkpoints",
        sa.Column("org_id", sa.String(), nullable=False),
        sa.Column("tier", sa.String(length=64), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("sweep_started_at", utc_timestamp(), nullable=False),
        sa.Column("window_index", sa.Integer(), nullable=False),
        sa.Column("window_start", sa.Date(), nullable=True),
        sa.Column("window_end", sa.Date(), nullable=True),
        sa.Column("cursor", sa.Text(), nullable=True),
        sa.Column("pages", sa.Integer(), nullable=False),
        sa.Column("updated_at", utc_timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("org_id", "tier", name=op.f("pk_sweep_checkpoints")),
    )
