"""Reading the mirror back, and what it should hold for an emulated recording.

The expectations follow the emulator's documented rendering rules, not the
client's parsers, so a test that compares the two checks the whole path.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from mirror.emulator import EmulatedRecording, Emulator
from mirror.store import schema
from mirror.store.content import KNOWN_FIELDS
from mirror.store.database import Database


def expected(record: EmulatedRecording, *, shapes_rich: bool = False) -> dict[str, Any]:
    """What the mirror must hold for ``record``, column by column."""
    summaries = record.summaries
    transcript = record.transcript
    items = record.action_items
    return {
        "title": record.title,
        "description": record.description,
        "duration_seconds": float(record.duration),
        "language": record.language,
        "recorded_by": record.recorder.user_id,
        "created_at": record.created_at,
        "summary_markdown": "\n\n".join(summaries.values()) if summaries else None,
        "segments": None
        if transcript is None
        else [(s.speaker, s.text, float(s.start), float(s.end)) for s in transcript],
        "tags": sorted(tag.id for tag in record.tags or []),
        "action_items": None
        if items is None
        else [(action_text(item), item) for item in items],
        "extra": record.extra,
    }


def action_text(item: dict[str, Any]) -> str | None:
    """The text the mirror pulls out of an action item."""
    for key in ("text", "title", "task", "label"):
        if isinstance(item.get(key), str):
            return str(item[key])
    return None


def held(database: Database) -> dict[str, dict[str, Any]]:
    """Everything the mirror holds, shaped like :func:`expected`, by id."""
    with database.read() as conn:
        rows = {row.id: row for row in conn.execute(select(schema.recordings))}
        segments = _grouped(conn, schema.transcript_segments, "position")
        tags = _grouped(conn, schema.recording_tags, "tag_id")
        items = _grouped(conn, schema.action_items, "position")

    state = {}
    for recording_id, row in rows.items():
        state[recording_id] = {
            "title": row.title,
            "description": row.description,
            "duration_seconds": row.duration_seconds,
            "language": row.language,
            "recorded_by": row.recorded_by,
            "created_at": row.created_at,
            "summary_markdown": row.summary_markdown,
            "segments": None
            if row.segment_count is None
            else [
                (s.speaker, s.text, s.start_seconds, s.end_seconds)
                for s in segments.get(recording_id, [])
            ],
            "tags": [t.tag_id for t in tags.get(recording_id, [])],
            "action_items": None
            if row.action_item_count is None
            else [(i.text, i.raw) for i in items.get(recording_id, [])],
            "extra": {k: row.raw[k] for k in _extra_keys(row.raw)},
            "deletion": row.deletion,
        }
    return state


def assert_mirror_equals(database: Database, emulator: Emulator) -> None:
    """The mirror holds every live recording of the emulator, field by field."""
    state = held(database)
    live = {i: r for i, r in emulator.recordings.items() if r.deleted_at is None}
    missing = sorted(set(live) - set(state))
    assert not missing, f"{len(missing)} recordings missing, e.g. {missing[:3]}"

    for recording_id, record in live.items():
        mine = dict(state[recording_id])
        assert mine.pop("deletion") is None, recording_id
        want = expected(record)
        assert mine == want, _difference(recording_id, mine, want)


def _difference(recording_id: str, mine: dict[str, Any], want: dict[str, Any]) -> str:
    fields = [k for k in want if mine.get(k) != want[k]]
    first = fields[0] if fields else ""
    return (
        f"{recording_id} differs in {fields}: "
        f"mirror {mine.get(first)!r:.300} != emulator {want.get(first)!r:.300}"
    )


def _grouped(conn: Any, table: Any, order: str) -> dict[str, list[Any]]:
    grouped: dict[str, list[Any]] = {}
    query = select(table).order_by(table.c.recording_id, table.c[order])
    for row in conn.execute(query):
        grouped.setdefault(row.recording_id, []).append(row)
    return grouped


def _extra_keys(raw: dict[str, Any]) -> list[str]:
    return [key for key in raw if key not in KNOWN_FIELDS]


def utc(
    year: int,
    month: int,
    day: int,
    hour: int = 0,
    minute: int = 0,
    second: int = 0,
    microsecond: int = 0,
) -> dt.datetime:
    """An aware UTC datetime."""
    return dt.datetime(year, month, day, hour, minute, second, microsecond, dt.UTC)
