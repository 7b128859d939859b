"""The change history of a recording, and what restoring a version would send.

Version N of a recording is its state as it was before the N-th change the
mirror saw (``recording_versions``); the current state is the recording's
own row. A restore sends a version's title, description and tags back to
the service, the only fields the API lets anyone change.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from mirror.errors import (
    NotInMirror,
)
from mirror.store import schema
from mirror.store.database import Database

versions_table = schema.recording_versions


@dataclass(frozen=True, slots=True)
class Version:
    """One kept state of a recording, and which fields the next change changed."""

    number: int
    captured_at: dt.datetime
    changed_fields: Sequence[str]
    snapshot: Mapping[str, Any]
    sync_run_id: int | None

    @property
    def title(self) -> str | None:
        title = self.snapshot.get("title")
        return title if isinstance(title, str) else None


@dataclass(frozen=True, slots=True)
class Editable:
    """The fields of a recording the API can change."""

    title: str | None
    description: str | None
    tags: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RestorePlan:
    """What restoring a version would send, beside what the mirror holds now."""

    recording_id: str
    version: int
    wanted: Editable
    current: Editable

    @property
    def changes_anything(self) -> bool:
        """Whether sending the version would change what the service holds."""
        wanted, current = self.wanted, self.current
        return (
            (wanted.title is not None and wanted.title != current.title)
            or (
                wanted.description is not None
                and wanted.description != current.description
            )
            or sorted(wanted.tags) != sorted(current.tags)
        )


def list_versions(database: Database, recording_id: str) -> list[Version]:
    """Every kept version of a recording, oldest first.

    Raises:
        NotInMirror: the mirror holds no such recording.
    """
    with database.read() as connection:
        require_recording(connection, recording_id)
        query = (
            sa.select(versions_table)
            .where(versions_table.c.recording_id == recording_id)
            .order_by(versions_table.c.version)
        )
        return [_version(row) for row in connection.execute(query)]


def current_state(database: Database, recording_id: str) -> Mapping[str, Any]:
    """The recording's row: its current title, description, deletion and times."""
    with database.read() as connection:
        return require_recording(connection, recording_id)


def plan_restore(database: Database, recording_id: str, number: int) -> RestorePlan:
    """What a restore of version ``number`` would send with PUT.

    Raises:
        NotInMirror: the mirror holds no such recording or version.
    """
    with database.read() as connection:
        require_recording(connection, recording_id)
        snapshot = version_snapshot(connection, recording_id, number)
        tags = current_tags(connection, recording_id)
        row = require_recording(connection, recording_id)

    return RestorePlan(
        recording_id=recording_id,
        version=number,
        wanted=editable_of(snapshot),
        current=Editable(row["title"], row["description"], tags),
    )


def require_recording(connection: Connection, recording_id: str) -> Mapping[str, Any]:
    """The recording's row, or NotInMirror."""
    recordings = schema.recordings
    query = sa.select(recordings).where(recordings.c.id == recording_id)
    row = connection.execute(query).first()
    if row is None:
        raise NotInMirror(
            f"the mirror holds no recording {recording_id!r}; "
            "check the id (pocket-mirror search finds recordings)"
        )
    return row._asdict()


def version_snapshot(
    connection: Connection, recording_id: str, number: int
) -> Mapping[str, Any]:
    """The state kept as version ``number``, or NotInMirror."""
    query = sa.select(versions_table.c.snapshot).where(
        versions_table.c.recording_id == recording_id,
        versions_table.c.version == number,
    )
    snapshot = connection.execute(query).scalar()
    if not isinstance(snapshot, dict):
        raise NotInMirror(
            f"recording {recording_id} has no version {number}; "
            f"pocket-mirror history {recording_id} lists its versions"
        )
    return snapshot


def current_tags(connection: Connection, recording_id: str) -> tuple[str, ...]:
    """The ids of the tags the mirror holds for the recording now."""
    tags = schema.recording_tags
    query = (
        sa.select(tags.c.tag_id)
        .where(tags.c.recording_id == recording_id)
        .order_by(tags.c.tag_id)
    )
    return tuple(connection.execute(query).scalars())


def editable_of(snapshot: Mapping[str, Any]) -> Editable:
    """The title, description and tag ids a snapshot holds."""
    # The history keeps each tag as [id, name, color].
    tags = tuple(str(tag[0]) for tag in snapshot.get("tags") or ())
    return Editable(snapshot.get("title"), snapshot.get("description"), tags)


def _version(row: Any) -> Version:
    return Version(
        number=row.version,
        captured_at=row.captured_at,
        changed_fields=list(row.changed_fields),
        snapshot=row.snapshot,
        sync_run_id=row.sync_run_id,
    )
