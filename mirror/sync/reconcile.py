"""Finds what was deleted upstream, once a window's listing is complete.

A recording the mirror holds that a complete listing did not show is only a
candidate: a GET of that one recording decides. 404 means it is gone for
good (hard); 410, or a deletion marker, means the service still knows it as
deleted (soft); a 200 without a marker means the listing merely missed it,
and it stays live. The marks that result pass the mass-delete guard, then
are written together in one transaction.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING

import structlog
from sqlalchemy import Connection, select

from mirror.api.models import DetailFetched, DetailGone, DetailResult
from mirror.clock import FAR_FUTURE, utcnow
from mirror.errors import ApiError
from mirror.store import schema
from mirror.store.recordings import count_live, deletion_candidates, load_known
from mirror.store.writer import DeletionMark, MirrorWriter, RecordingWrite, WriteCounts

if TYPE_CHECKING:
    from mirror.sync.engine import WindowSweep

log = structlog.get_logger("mirror.sync")


class Reconciler:
    """Confirms delete candidates and applies the marks of one sweep."""

    def __init__(self, sweep: WindowSweep) -> None:
        self.sweep = sweep
        self.revived: list[RecordingWrite] = []
        self.undecided = 0

    async def run(self, listing_marks: Sequence[DeletionMark]) -> None:
        """Decide every candidate, check the guard, then write the marks."""
        candidates = await self._candidates()
        decided = await self._decide(candidates)
        marks = await self._effective(list(listing_marks) + decided)

        new_marks = [m for m, was in marks if was is None]
        live = await self.sweep.store.read(self._count_live)
        result = self.sweep.result
        result.candidates = len(candidates)
        result.planned_marks = [m for m, _ in marks]
        log.info(
            "sweep.reconciled",
            candidates=len(candidates),
            marks=len(marks),
            new_marks=len(new_marks),
            live=live,
            undecided=self.undecided,
        )

        guard = self.sweep.options.guard
        if (
            not guard.allows(len(new_marks), live)
            and not self.sweep.options.allow_mass_delete
        ):
            self.sweep.refuse(len(new_marks), live)
        if not self.sweep.options.dry_run:
            counts = await self.sweep.store.write(lambda c: self._apply(c, marks))
            result.counts.add(counts)

    async def _candidates(self) -> list[str]:
        sweep = self.sweep
        if sweep.options.dry_run:
            # A dry run wrote no sightings; compare with what it saw instead.
            if not sweep.mirror_ready:
                return []
            held = await sweep.store.read(self._window_ids)
            return sorted(set(held) - sweep.seen)
        found = await sweep.store.read(self._query_candidates)
        return sorted(found)

    def _query_candidates(self, conn: Connection) -> dict[str, str | None]:
        sweep = self.sweep
        return deletion_candidates(
            conn,
            org_id=sweep.org_id,
            start=sweep.window.start,
            end=sweep.window.end,
            seen_since=sweep.seen_since,
        )

    def _window_ids(self, conn: Connection) -> dict[str, str | None]:
        sweep = self.sweep
        # Everything held in the window counts as "not seen since": the
        # dry run's own sightings are subtracted in memory.
        return deletion_candidates(
            conn,
            org_id=sweep.org_id,
            start=sweep.window.start,
            end=sweep.window.end,
            seen_since=FAR_FUTURE,
        )

    def _count_live(self, conn: Connection) -> int:
        sweep = self.sweep
        if not sweep.mirror_ready:
            return 0
        return count_live(
            conn, org_id=sweep.org_id, start=sweep.window.start, end=sweep.window.end
        )

    async def _decide(self, candidates: Sequence[str]) -> list[DeletionMark]:
        client = self.sweep.client
        results = await asyncio.gather(
            *(client.get_recording(i) for i in candidates), return_exceptions=True
        )
        marks = []
        for recording_id, outcome in zip(candidates, results, strict=True):
            mark = self._verdict(recording_id, outcome)
            if mark is not None:
                marks.append(mark)
        return marks

    def _verdict(
        self, recording_id: str, outcome: DetailResult | BaseException
    ) -> DeletionMark | None:
        if isinstance(outcome, BaseException):
            if not isinstance(outcome, ApiError):
                raise outcome
            # Undecided stays as it is: never guess a delete.
            self.undecided += 1
            log.warning(
                "sweep.candidate_undecided",
                recording_id=recording_id,
                error=type(outcome).__name__,
            )
            return None
        if isinstance(outcome, DetailGone):
            return DeletionMark(
                recording_id, "hard" if outcome.status == 404 else "soft"
            )
        if isinstance(outcome, DetailFetched):
            listed = outcome.detail.listed
            if listed.deleted:
                return DeletionMark(recording_id, "soft", listed.deleted_at)
            self.revived.append(RecordingWrite(listed, outcome.detail, outcome.etag))
        return None

    async def _effective(
        self, marks: Sequence[DeletionMark]
    ) -> list[tuple[DeletionMark, str | None]]:
        # Each mark with the state it replaces; marks that change nothing go.
        ids = [m.recording_id for m in marks]
        if not self.sweep.mirror_ready:
            return [
                (mark, None) for mark in {m.recording_id: m for m in marks}.values()
            ]
        current = await self.sweep.store.read(lambda conn: _deletion_states(conn, ids))
        unique = {m.recording_id: m for m in marks}
        return [
            (mark, current.get(mark.recording_id))
            for mark in unique.values()
            if current.get(mark.recording_id, "absent") != mark.kind
        ]

    def _apply(
        self, conn: Connection, marks: Sequence[tuple[DeletionMark, str | None]]
    ) -> WriteCounts:
        sweep = self.sweep
        writer = MirrorWriter(
            conn, org_id=sweep.org_id, now=utcnow(), run_id=sweep.run_id
        )
        revived_ids = [w.listed.id for w in self.revived]
        known = load_known(conn, revived_ids)

        counts = writer.save(self.revived, known)
        counts.add(writer.restore([i for i in revived_ids if known[i].deletion]))
        counts.add(writer.mark_deleted([m for m, _ in marks]))
        return counts


def _deletion_states(conn: Connection, ids: Sequence[str]) -> dict[str, str | None]:
    table = schema.recordings
    if not ids:
        return {}
    query = select(table.c.id, table.c.deletion).where(table.c.id.in_(list(ids)))
    return {row.id: row.deletion for row in conn.execute(query)}
