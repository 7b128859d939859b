"""Reading whole recordings back out of the mirror, a batch at a time.

An export needs every part of a recording at once: its row, segments, tags,
action items and history. Reading them per batch of recordings keeps the
number of queries small and the memory flat on a mirror of any size.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from mirror.store import schema
from mirror.store.database import Database

recordings = schema.recordings

BATCH_SIZE = 200


@dataclass(frozen=True, slots=True)
class Selection:
    """Which recordings to read: a range of UTC days, deleted ones or not."""

    since: dt.date | None = None
    until: dt.date | None = None
    include_deleted: bool = False


@dataclass(frozen=True, slots=True)
class FullRecording:
    """A recording's row with every part the mirror holds for it, in order."""

    row: Mapping[str, Any]
    segments: Sequence[Mapping[str, Any]]
    tags: Sequence[Mapping[str, Any]]
    action_items: Sequence[Mapping[str, Any]]
    versions: Sequence[Mapping[str, Any]]

    @property
    def id(self) -> str:
        return str(self.row["id"])

    @property
    def created_at(self) -> dt.datetime:
        moment: dt.datetime = self.row["created_at"]
        return moment

    @property
    def speakers(self) -> list[str]:
        """The named speakers, in the order they first speak."""
        names = (s["speaker"] for s in self.segments if s["speaker"])
        return list(dict.fromkeys(names))


def read_recordings(
    database: Database, selection: Selection, *, batch_size: int = BATCH_SIZE
) -> Iterator[FullRecording]:
    """Every selected recording, oldest first, each with all its parts."""
    with database.read() as connection:
        ids = selected_ids(connection, selection)
        for start in range(0, len(ids), batch_size):
            yield from read_batch(connection, ids[start : start + batch_size])


def selected_ids(connection: Connection, selection: Selection) -> list[str]:
    """The ids of the selected recordings, oldest first."""
    query = sa.select(recordings.c.id).where(*selection_clauses(selection))
    query = query.order_by(recordings.c.created_at, recordings.c.id)
    return list(connection.execute(query).scalars())


def selection_clauses(selection: Selection) -> list[ColumnElement[bool]]:
    """The conditions on recordings that a selection makes."""
    clauses: list[ColumnElement[bool]] = []
    if not selection.include_deleted:
        clauses.append(recordings.c.deletion.is_(None))
    if selection.since is not None:
        clauses.append(recordings.c.created_at >= _midnight(selection.since))
    if selection.until is not None:
        next_day = selection.until + dt.timedelta(days=1)
        clauses.append(recordings.c.created_at < _midnight(next_day))
    return clauses


def read_batch(connection: Connection, ids: Sequence[str]) -> list[FullRecording]:
    """The given recordings, whole, in the order of ``ids``."""
    query = sa.select(recordings).where(recordings.c.id.in_(list(ids)))
    rows = {row.id: row._asdict() for row in connection.execute(query)}
    segments = _parts(connection, schema.transcript_segments, ids, "position")
    tags = _parts(connection, schema.recording_tags, ids, "tag_id")
    items = _parts(connection, schema.action_items, ids, "position")
    versions = _parts(connection, schema.recording_versions, ids, "version")

    return [
        FullRecording(
            row=rows[recording_id],
            segments=segments.get(recording_id, []),
            tags=tags.get(recording_id, []),
            action_items=items.get(recording_id, []),
            versions=versions.get(recording_id, []),
        )
        for recording_id in ids
        if recording_id in rows
    ]


def _parts(
    connection: Connection, table: sa.Table, ids: Sequence[str], order: str
) -> dict[str, list[dict[str, Any]]]:
    query = sa.select(table).where(table.c.recording_id.in_(list(ids)))
    query = query.order_by(table.c.recording_id, table.c[order])
    grouped: dict[str, list[dict[str, Any]]] = {}
    for row in connection.execute(query):
        part = row._asdict()
        grouped.setdefault(part.pop("recording_id"), []).append(part)
    return grouped


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
