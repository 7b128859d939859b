"""Writes recordings into the mirror, keeping what they replace.

Every write here is an idempotent upsert: writing the same payload twice
changes nothing the second time. Before a recording's content, deletion or
restoration changes, its previous state goes to ``recording_versions``; the
mirror never removes a recording or the history of one. All methods work in
the caller's transaction, so a page of recordings, its parts and the sweep's
checkpoint commit together or not at all.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Connection, bindparam, delete, func, select, update

from mirror.api.models import ListedRecording, RecordingDetail
from mirror.store import schema
from mirror.store.content import (
    RecordingContent,
    changed_fields,
    content_from_detail,
    content_from_listing,
    fingerprint,
    listing_fingerprint,
)
from mirror.store.recordings import KnownRecording, load_contents
from mirror.store.upsert import upsert, upsert_values

recordings = schema.recordings
# The order of a segment row: the key, then the (speaker, text, start, end)
# of a content's segment.
SEGMENT_COLUMNS = (
    "recording_id", "position", "speaker", "text", "start_seconds", "end_seconds",
)  # fmt: skip

Deletion = Literal["soft", "hard"]


@dataclass(frozen=True, slots=True)
class RecordingWrite:
    """A listed recording, with its detail when one was fetched.

    ``detail`` is None when only the listing is known (the recording vanished
    before its detail could be fetched); ``not_modified`` says the service
    answered 304 to a conditional GET.
    """

    listed: ListedRecording
    detail: RecordingDetail | None = None
    etag: str | None = None
    not_modified: bool = False


@dataclass(frozen=True, slots=True)
class DeletionMark:
    """A recording confirmed gone upstream, and how."""

    recording_id: str
    kind: Deletion
    deleted_at: dt.datetime | None = None


@dataclass(slots=True)
class WriteCounts:
    """What a write changed, added up over a sweep."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    restored: int = 0
    soft_deleted: int = 0
    hard_deleted: int = 0

    def add(self, other: WriteCounts) -> None:
        for field in dataclasses.fields(self):
            setattr(
                self, field.name, getattr(self, field.name) + getattr(other, field.name)
            )


class MirrorWriter:
    """Writes into the mirror within one open transaction.

    Args:
        conn: a connection inside a write transaction.
        org_id: the organization the recordings belong to.
        now: the time to stamp on what is written.
        run_id: the ``sync_runs`` row of the sweep, recorded with versions.
    """

    def __init__(
        self, conn: Connection, *, org_id: str, now: dt.datetime, run_id: int | None
    ) -> None:
        self.conn = conn
        self.org_id = org_id
        self.now = now
        self.run_id = run_id

    def save(
        self, writes: Sequence[RecordingWrite], known: Mapping[str, KnownRecording]
    ) -> WriteCounts:
        """Upsert recordings with their parts; return what changed."""
        fresh, suspect, settled = self._classify(writes, known)
        held = load_contents(self.conn, [w.listed.id for w in suspect])
        changed = self._compare(suspect, held, settled)

        # The history takes the old state before anything overwrites it.
        self._record_versions([(w.listed.id, fields) for w, fields in changed], held)
        self._write_full(fresh, held={}, known=known, replacing=False)
        self._write_full(
            [w for w, _ in changed], held=held, known=known, replacing=True
        )
        self._touch_synced(settled)

        return WriteCounts(
            created=len(fresh), updated=len(changed), unchanged=len(settled)
        )

    def touch_seen(self, ids: Collection[str]) -> None:
        """Record that a complete listing showed these recordings now."""
        if ids:
            self.conn.execute(
                update(recordings)
                .where(recordings.c.id.in_(list(ids)))
                .values(last_seen_at=self.now)
            )

    def mark_deleted(self, marks: Sequence[DeletionMark]) -> WriteCounts:
        """Mark recordings soft or hard deleted; the data stays."""
        counts = WriteCounts()
        if not marks:
            return counts
        self._record_versions([(m.recording_id, ["deletion"]) for m in marks], None)
        rows = [
            {"key": m.recording_id, "kind": m.kind, "at": m.deleted_at or self.now}
            for m in marks
        ]
        statement = (
            update(recordings)
            .where(recordings.c.id == bindparam("key"))
            .values(
                deletion=bindparam("kind"),
                deleted_at=bindparam("at"),
                changed_at=self.now,
            )
        )
        self.conn.execute(statement, rows)

        counts.soft_deleted = sum(1 for m in marks if m.kind == "soft")
        counts.hard_deleted = len(marks) - counts.soft_deleted
        return counts

    def restore(self, ids: Collection[str]) -> WriteCounts:
        """Mark recordings live again after the service showed them back."""
        if not ids:
            return WriteCounts()
        self._record_versions([(i, ["deletion"]) for i in ids], None)
        self.conn.execute(
            update(recordings)
            .where(recordings.c.id.in_(list(ids)))
            .values(deletion=None, deleted_at=None, changed_at=self.now)
        )
        return WriteCounts(restored=len(ids))

    def _classify(
        self, writes: Sequence[RecordingWrite], known: Mapping[str, KnownRecording]
    ) -> tuple[list[RecordingWrite], list[RecordingWrite], list[RecordingWrite]]:
        fresh, suspect, settled = [], [], []
        for write in writes:
            held = known.get(write.listed.id)
            if held is None:
                fresh.append(write)
            elif write.not_modified or write.detail is None or _unchanged(write, held):
                settled.append(write)
            else:
                suspect.append(write)
        return fresh, suspect, settled

    def _compare(
        self,
        suspects: Sequence[RecordingWrite],
        held: Mapping[str, RecordingContent],
        settled: list[RecordingWrite],
    ) -> list[tuple[RecordingWrite, list[str]]]:
        # A fingerprint differs; the full comparison says whether anything
        # the user can see did, and what, for the history.
        changed = []
        for write in suspects:
            old = held[write.listed.id]
            fields = changed_fields(old, _merged(old, _content(write)))
            if fields:
                changed.append((write, fields))
            else:
                settled.append(write)
        return changed

    def _write_full(
        self,
        writes: Sequence[RecordingWrite],
        *,
        held: Mapping[str, RecordingContent],
        known: Mapping[str, KnownRecording],
        replacing: bool,
    ) -> None:
        """Write recordings whole; ``replacing`` when the mirror holds them
        already (a new recording has no old parts to clear away)."""
        if not writes:
            return
        contents = {
            w.listed.id: _merged(held.get(w.listed.id), _content(w)) for w in writes
        }

        rows = [self._recording_row(w, contents[w.listed.id], known) for w in writes]
        upsert(self.conn, recordings, rows, key=["id"])
        self._replace_segments(contents, replacing)
        self._replace_tags(contents, replacing)
        self._replace_action_items(contents, replacing)

    def _recording_row(
        self,
        write: RecordingWrite,
        content: RecordingContent,
        known: Mapping[str, KnownRecording],
    ) -> dict[str, Any]:
        held = known.get(write.listed.id)
        raw = dict(write.listed.raw)
        if write.detail is not None:
            raw.update(write.detail.raw)
        return {
            "id": write.listed.id,
            "org_id": self.org_id,
            "title": content.title,
            "description": content.description,
            "duration_seconds": content.duration_seconds,
            "language": content.language,
            "recorded_by": content.recorded_by,
            "recorded_by_email": content.recorded_by_email,
            "recorded_by_name": content.recorded_by_name,
            "created_at": content.created_at,
            "summary_markdown": content.summary_markdown,
            "transcript_text": content.transcript_text,
            "segment_count": _count(content.segments),
            "action_item_count": _count(content.action_items),
            "raw": raw,
            "first_seen_at": held.first_seen_at if held else self.now,
            "last_seen_at": self.now,
            "detail_synced_at": self.now if write.detail is not None else None,
            "changed_at": self.now,
            "listing_hash": listing_fingerprint(write.listed),
            "detail_hash": fingerprint(content) if write.detail is not None else None,
            "etag": write.etag,
        }

    def _replace_segments(
        self, contents: Mapping[str, RecordingContent], replacing: bool
    ) -> None:
        table = schema.transcript_segments
        # Each (recording, position) once: contents has one entry per id.
        values = [
            (recording_id, position, *segment)
            for recording_id, content in contents.items()
            for position, segment in enumerate(content.segments or ())
        ]
        upsert_values(
            self.conn,
            table,
            SEGMENT_COLUMNS,
            values,
            key=["recording_id", "position"],
            distinct_keys=True,
        )
        if replacing:
            counts = {i: _count(c.segments) or 0 for i, c in contents.items()}
            self._delete_tails(table, counts)

    def _replace_action_items(
        self, contents: Mapping[str, RecordingContent], replacing: bool
    ) -> None:
        table = schema.action_items
        rows = [
            {
                "recording_id": recording_id,
                "position": position,
                "text": text,
                "raw": raw,
            }
            for recording_id, content in contents.items()
            for position, (text, raw) in enumerate(content.action_items or ())
        ]
        upsert(self.conn, table, rows, key=["recording_id", "position"])
        if replacing:
            counts = {i: _count(c.action_items) or 0 for i, c in contents.items()}
            self._delete_tails(table, counts)

    def _delete_tails(self, table: Any, lengths: Mapping[str, int]) -> None:
        # Positions past the new length belong to a longer, older version.
        statement = delete(table).where(
            table.c.recording_id == bindparam("key"),
            table.c.position >= bindparam("length"),
        )
        self.conn.execute(
            statement, [{"key": k, "length": n} for k, n in lengths.items()]
        )

    def _replace_tags(
        self, contents: Mapping[str, RecordingContent], replacing: bool
    ) -> None:
        table = schema.recording_tags
        if replacing:
            ids = list(contents)
            self.conn.execute(delete(table).where(table.c.recording_id.in_(ids)))
        rows = [
            {
                "recording_id": recording_id,
                "tag_id": tag_id,
                "name": name,
                "color": color,
            }
            for recording_id, content in contents.items()
            for tag_id, name, color in dict.fromkeys(content.tags)
        ]
        upsert(self.conn, table, rows, key=["recording_id", "tag_id"])

    def _touch_synced(self, settled: Sequence[RecordingWrite]) -> None:
        rows = [
            {
                "key": w.listed.id,
                "listing_hash": listing_fingerprint(w.listed),
                "etag": w.etag,
                "synced": self.now
                if (w.detail is not None or w.not_modified)
                else None,
            }
            for w in settled
        ]
        if not rows:
            return
        statement = (
            update(recordings)
            .where(recordings.c.id == bindparam("key"))
            .values(
                listing_hash=bindparam("listing_hash"),
                etag=func.coalesce(bindparam("etag"), recordings.c.etag),
                detail_synced_at=func.coalesce(
                    bindparam("synced"), recordings.c.detail_synced_at
                ),
                last_seen_at=self.now,
            )
        )
        self.conn.execute(statement, rows)

    def _record_versions(
        self,
        changes: Sequence[tuple[str, list[str]]],
        contents: Mapping[str, RecordingContent] | None,
    ) -> None:
        if not changes:
            return
        ids = [recording_id for recording_id, _ in changes]
        if contents is None:
            contents = load_contents(self.conn, ids)
        states = self._deletion_states(ids)
        latest = self._latest_versions(ids)

        rows = [
            {
                "recording_id": recording_id,
                "version": latest.get(recording_id, 0) + 1,
                "captured_at": self.now,
                "changed_fields": fields,
                "snapshot": snapshot(contents[recording_id], *states[recording_id]),
                "sync_run_id": self.run_id,
            }
            for recording_id, fields in changes
        ]
        upsert(
            self.conn, schema.recording_versions, rows, key=["recording_id", "version"]
        )

    def _deletion_states(
        self, ids: list[str]
    ) -> dict[str, tuple[str | None, dt.datetime | None]]:
        query = select(recordings.c.id, recordings.c.deletion, recordings.c.deleted_at)
        rows = self.conn.execute(query.where(recordings.c.id.in_(ids)))
        return {row.id: (row.deletion, row.deleted_at) for row in rows}

    def _latest_versions(self, ids: list[str]) -> dict[str, int]:
        table = schema.recording_versions
        query = (
            select(table.c.recording_id, func.max(table.c.version))
            .where(table.c.recording_id.in_(ids))
            .group_by(table.c.recording_id)
        )
        return {row[0]: int(row[1]) for row in self.conn.execute(query)}


def snapshot(
    content: RecordingContent, deletion: str | None, deleted_at: dt.datetime | None
) -> dict[str, Any]:
    """A JSON-ready picture of a recording's state, as the history keeps it."""
    state = dataclasses.asdict(content)
    state["created_at"] = content.created_at.isoformat()
    state["deletion"] = deletion
    state["deleted_at"] = deleted_at.isoformat() if deleted_at else None
    return state


def _unchanged(write: RecordingWrite, held: KnownRecording) -> bool:
    stored = held.detail_hash
    return stored == fingerprint(_content(write), like=stored)


def _content(write: RecordingWrite) -> RecordingContent:
    if write.detail is not None:
        return content_from_detail(write.detail)
    return content_from_listing(write.listed)


def _merged(old: RecordingContent | None, new: RecordingContent) -> RecordingContent:
    # A transcript, summary or action items that a payload leaves out are
    # still being processed or were not sent; what the mirror holds stays.
    if old is None:
        return new
    return dataclasses.replace(
        new,
        segments=new.segments if new.segments is not None else old.segments,
        transcript_text=new.transcript_text
        if new.segments is not None
        else old.transcript_text,
        summary_markdown=new.summary_markdown
        if new.summary_markdown is not None
        else old.summary_markdown,
        action_items=new.action_items
        if new.action_items is not None
        else old.action_items,
    )


def _count(parts: tuple[Any, ...] | None) -> int | None:
    return None if parts is None else len(parts)
