"""Reads of the mirror that the sync engine plans with.

Planning a page needs only a few columns per recording (fingerprints, the
ETag, whether it is deleted), so :func:`load_known` reads just those. The
full content, transcript included, is read only for recordings whose
fingerprint says they changed, to keep the history.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select

from mirror.store import schema
from mirror.store.content import KNOWN_FIELDS, RecordingContent

recordings = schema.recordings


@dataclass(frozen=True, slots=True)
class KnownRecording:
    """What planning needs to know of a recording already in the mirror."""

    id: str
    created_at: dt.datetime
    listing_hash: str
    detail_hash: str | None
    etag: str | None
    detail_synced_at: dt.datetime | None
    first_seen_at: dt.datetime
    deletion: str | None
    has_transcript: bool
    has_summary: bool


def load_known(conn: Connection, ids: Collection[str]) -> dict[str, KnownRecording]:
    """The mirror's planning state of those of ``ids`` that it holds."""
    if not ids:
        return {}
    query = select(
        recordings.c.id,
        recordings.c.created_at,
        recordings.c.listing_hash,
        recordings.c.detail_hash,
        recordings.c.etag,
        recordings.c.detail_synced_at,
        recordings.c.first_seen_at,
        recordings.c.deletion,
        recordings.c.segment_count.is_not(None),
        recordings.c.summary_markdown.is_not(None),
    ).where(recordings.c.id.in_(list(ids)))
    return {row[0]: KnownRecording(*row) for row in conn.execute(query)}


def load_contents(
    conn: Connection, ids: Collection[str]
) -> dict[str, RecordingContent]:
    """The full stored content of those of ``ids`` that the mirror holds."""
    if not ids:
        return {}
    id_list = list(ids)
    segments = _load_segments(conn, id_list)
    tags = _load_tags(conn, id_list)
    items = _load_action_items(conn, id_list)

    contents = {}
    for row in conn.execute(select(recordings).where(recordings.c.id.in_(id_list))):
        contents[row.id] = RecordingContent(
            title=row.title,
            description=row.description,
            duration_seconds=row.duration_seconds,
            language=row.language,
            recorded_by=row.recorded_by,
            recorded_by_email=row.recorded_by_email,
            recorded_by_name=row.recorded_by_name,
            created_at=row.created_at,
            tags=tuple(tags.get(row.id, ())),
            summary_markdown=row.summary_markdown,
            transcript_text=row.transcript_text,
            segments=_present(segments.get(row.id, []), row.segment_count),
            action_items=_present(items.get(row.id, []), row.action_item_count),
            extras={k: v for k, v in row.raw.items() if k not in KNOWN_FIELDS},
        )
    return contents


def deletion_candidates(
    conn: Connection,
    *,
    org_id: str,
    start: dt.date | None,
    end: dt.date | None,
    seen_since: dt.datetime,
) -> dict[str, str | None]:
    """Recordings of a window that a complete listing of it did not show.

    Those are the recordings created in ``[start, end]`` (UTC days) whose
    ``last_seen_at`` is older than the listing, and which the mirror already
    held before it began (a recording that arrived during the sweep is never
    a candidate). Hard-deleted recordings are settled and left out.

    Returns:
        A map of recording id to its current ``deletion`` (None or 'soft').
    """
    query = select(recordings.c.id, recordings.c.deletion).where(
        recordings.c.org_id == org_id,
        recordings.c.last_seen_at < seen_since,
        recordings.c.first_seen_at < seen_since,
        or_(recordings.c.deletion.is_(None), recordings.c.deletion == "soft"),
        *_window_clauses(start, end),
    )
    return {row.id: row.deletion for row in conn.execute(query)}


def count_live(
    conn: Connection, *, org_id: str, start: dt.date | None, end: dt.date | None
) -> int:
    """How many recordings of a window the mirror holds as live."""
    query = select(func.count()).where(
        recordings.c.org_id == org_id,
        recordings.c.deletion.is_(None),
        *_window_clauses(start, end),
    )
    return int(conn.execute(query).scalar_one())


def oldest_created_day(conn: Connection, *, org_id: str) -> dt.date | None:
    """The UTC day of the oldest recording the mirror holds, if any."""
    query = select(func.min(recordings.c.created_at)).where(
        recordings.c.org_id == org_id
    )
    oldest = conn.execute(query).scalar_one()
    return None if oldest is None else oldest.date()


def stalest_details(conn: Connection, *, org_id: str, fraction: float) -> list[str]:
    """The share ``fraction`` of live recordings whose detail is oldest.

    Recordings whose detail was never fetched come first; the count is
    rounded up, so any fraction above zero picks at least one recording.
    """
    live = count_live(conn, org_id=org_id, start=None, end=None)
    wanted = math.ceil(live * fraction)
    if wanted == 0:
        return []
    synced = recordings.c.detail_synced_at
    query = (
        select(recordings.c.id)
        .where(recordings.c.org_id == org_id, recordings.c.deletion.is_(None))
        .order_by(synced.is_not(None), synced, recordings.c.id)
        .limit(wanted)
    )
    return list(conn.execute(query).scalars())


def _window_clauses(start: dt.date | None, end: dt.date | None) -> list[Any]:
    clauses = []
    if start is not None:
        clauses.append(recordings.c.created_at >= _midnight(start))
    if end is not None:
        clauses.append(recordings.c.created_at < _midnight(end + dt.timedelta(days=1)))
    return [and_(*clauses)] if clauses else []


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


def _present(rows: list[Any], marker: object) -> tuple[Any, ...] | None:
    # No rows and no marker of delivery means the service never sent them.
    if not rows and marker is None:
        return None
    return tuple(rows)


def _load_segments(conn: Connection, ids: list[str]) -> Mapping[str, list[Any]]:
    table = schema.transcript_segments
    columns = (
        table.c.speaker,
        table.c.text,
        table.c.start_seconds,
        table.c.end_seconds,
    )
    return _load_parts(conn, ids, columns, order=table.c.position)


def _load_tags(conn: Connection, ids: list[str]) -> Mapping[str, list[Any]]:
    table = schema.recording_tags
    columns = (table.c.tag_id, table.c.name, table.c.color)
    return _load_parts(conn, ids, columns, order=table.c.tag_id)


def _load_action_items(conn: Connection, ids: list[str]) -> Mapping[str, list[Any]]:
    table = schema.action_items
    columns = (table.c.text, table.c.raw)
    return _load_parts(conn, ids, columns, order=table.c.position)


def _load_parts(
    conn: Connection, ids: list[str], columns: tuple[Any, ...], *, order: Any
) -> Mapping[str, list[Any]]:
    """The rows of one part table for ``ids``, as tuples, by recording in order."""
    recording_id = order.table.c.recording_id
    query = (
        select(recording_id, *columns)
        .where(recording_id.in_(ids))
        .order_by(recording_id, order)
    )
    grouped: defaultdict[str, list[Any]] = defaultdict(list)
    for owner, *values in conn.execute(query):
        grouped[owner].append(tuple(values))
    return grouped
