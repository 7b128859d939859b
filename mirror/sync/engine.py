"""Runs one sweep of one window: list, plan, fetch, write, reconcile.

Listing, detail fetching and database writes overlap: the listing runs a few
pages ahead, each page's details are fetched concurrently (the client bounds
how many), and pages are written in order on one database thread, each in
one transaction with the sweep's checkpoint. Deletes are inferred only after
the window's listing completed without a fault, each confirmed by its own
GET, and only within what the mass-delete guard allows.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import structlog
from sqlalchemy import Connection

from mirror.api.client import PocketClient
from mirror.api.models import DetailFetched, DetailGone, DetailNotModified, DetailResult
from mirror.clock import utcnow
from mirror.errors import (
    ApiError,
    AuthenticationFailed,
    MassDeleteRefused,
    OrganizationNotFound,
    PermissionDenied,
    SweepIncomplete,
)
from mirror.store.database import Database
from mirror.store.recordings import load_known
from mirror.store.writer import DeletionMark, MirrorWriter, RecordingWrite, WriteCounts
from mirror.sync.plan import DeleteGuard, DetailPolicy, Fetch, PagePlan, plan_page
from mirror.sync.reconcile import Reconciler

log = structlog.get_logger("mirror.sync")

T = TypeVar("T")

# How many pages the listing may run ahead of the writes.
PAGES_AHEAD = 3
# Detail failures in a row after which the sweep stops instead of going on.
MAX_CONSECUTIVE_FAILURES = 10
# Errors that no retry of another recording can fix.
FATAL_ERRORS = (AuthenticationFailed, PermissionDenied, OrganizationNotFound)


class Progress(Protocol):
    """Receives a sweep's progress, for a progress bar."""

    def listed(self, count: int, total_hint: int | None) -> None: ...

    def saved(self, count: int) -> None: ...


class Checkpoint(Protocol):
    """Persists where a sweep stands, inside each page's transaction."""

    def save(self, conn: Connection, *, cursor: str | None, pages: int) -> None: ...


@dataclass(frozen=True, slots=True)
class Window:
    """A range of UTC calendar days to sweep; None bounds mean all of history."""

    start: dt.date | None = None
    end: dt.date | None = None


@dataclass(slots=True)
class SweepResult:
    """What one window's sweep did."""

    window: Window
    counts: WriteCounts = field(default_factory=WriteCounts)
    listed: int = 0
    pages: int = 0
    fetched: int = 0
    failed_details: int = 0
    skipped_items: int = 0
    complete: bool = False
    candidates: int = 0
    held_back: int = 0
    planned_marks: list[DeletionMark] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class SweepOptions:
    """How a sweep behaves."""

    policy: DetailPolicy = field(default_factory=DetailPolicy)
    guard: DeleteGuard = field(default_factory=DeleteGuard)
    allow_mass_delete: bool = False
    dry_run: bool = False


class StoreThread:
    """Runs database work off the event loop: writes on one thread, reads on
    another, so that planning the next page never waits for the write of the
    last one (a read sees what the writes before it committed)."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store")
        self._reader = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="store-read"
        )

    async def read(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in a read transaction."""
        return await self._run(self._reader, self._in_read, work)

    async def write(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in a write transaction, committed when it returns."""
        return await self._run(self._writer, self._in_write, work)

    def close(self) -> None:
        self._writer.shutdown(wait=True)
        self._reader.shutdown(wait=True)

    async def _run(
        self, executor: ThreadPoolExecutor, wrapper: Callable[[Any], T], work: Any
    ) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(executor, wrapper, work)

    def _in_read(self, work: Callable[[Connection], T]) -> T:
        with self.database.read() as conn:
            return work(conn)

    def _in_write(self, work: Callable[[Connection], T]) -> T:
        with self.database.write() as conn:
            return work(conn)


@dataclass(slots=True)
class _FetchedPage:
    plan: PagePlan
    writes: list[RecordingWrite]
    marks: list[DeletionMark]
    failed: int


class WindowSweep:
    """One sweep of one window, from the first page to the reconciliation.

    Args:
        client: an open API client.
        store: the database thread.
        org_id: the organization being mirrored.
        window: the days to sweep.
        options: detail policy, delete guard, dry run.
        run_id: the ``sync_runs`` row this sweep reports to.
        seen_since: when this sweep's listing began; a resumed sweep passes
            the original start, so that what it saw before stopping counts.
        cursor: where a resumed listing goes on from.
        checkpoint: saves progress with every page.
        progress: receives counts for a progress bar.
    """

    def __init__(
        self,
        *,
        client: PocketClient,
        store: StoreThread,
        org_id: str,
        window: Window,
        options: SweepOptions,
        run_id: int | None,
        seen_since: dt.datetime,
        cursor: str | None = None,
        checkpoint: Checkpoint | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.client = client
        self.store = store
        self.org_id = org_id
        self.window = window
        self.options = options
        self.run_id = run_id
        self.seen_since = seen_since
        self.cursor = cursor
        self.checkpoint = checkpoint
        self.progress = progress
        self.result = SweepResult(window=window)
        self._marks: list[DeletionMark] = []
        self._seen: set[str] = set()
        self.fetched: set[str] = set()
        self._consecutive_failures = 0
        # A dry run may meet a database that was never migrated; it then
        # plans against an empty mirror instead of creating the schema.
        self.mirror_ready = (
            not options.dry_run or store.database.schema_state() == "current"
        )

    async def run(self) -> SweepResult:
        """Sweep the window; raises when it cannot finish cleanly."""
        await self._list_and_save()
        self._require_complete()
        await Reconciler(self).run(self._marks)
        return self.result

    def _require_complete(self) -> None:
        # A listing with unreadable items, or details that failed, may hide
        # recordings that still exist: no delete may be inferred from it.
        result = self.result
        result.complete = result.failed_details == 0 and result.skipped_items == 0
        if result.skipped_items:
            raise SweepIncomplete(
                f"the listing had {result.skipped_items} items that could not be "
                "read; what could be read was saved, and no deletes were inferred"
            )
        if result.failed_details:
            raise SweepIncomplete(
                f"{result.failed_details} recordings could not be fetched; "
                "they are retried on the next run, and no deletes were inferred"
            )

    async def _list_and_save(self) -> None:
        inflight: deque[asyncio.Task[_FetchedPage]] = deque()
        pages = self.client.list_pages(
            start_date=self.window.start, end_date=self.window.end, cursor=self.cursor
        )
        try:
            async for page in pages:
                known = await self._known([r.id for r in page.recordings])
                plan = plan_page(page, known, self.options.policy, utcnow())
                inflight.append(asyncio.create_task(self._fetch_page(plan)))
                if self.progress:
                    self.progress.listed(len(page.recordings), page.total)
                while len(inflight) > PAGES_AHEAD:
                    await self._save(await inflight.popleft())
        finally:
            # What was fetched before a fault is still written: nothing lost.
            await self._drain(inflight)

    async def _drain(self, inflight: deque[asyncio.Task[_FetchedPage]]) -> None:
        while inflight:
            task = inflight.popleft()
            try:
                await self._save(await task)
            except BaseException:
                for rest in inflight:
                    rest.cancel()
                raise

    async def _known(self, ids: Sequence[str]) -> dict[str, Any]:
        if not self.mirror_ready:
            return {}
        return await self.store.read(lambda conn: load_known(conn, ids))

    async def _fetch_page(self, plan: PagePlan) -> _FetchedPage:
        fetched = _FetchedPage(plan=plan, writes=[], marks=list(plan.marks), failed=0)
        if self.options.dry_run:
            return fetched
        results = await asyncio.gather(
            *(self._fetch_one(item) for item in plan.fetch), return_exceptions=True
        )
        for item, outcome in zip(plan.fetch, results, strict=True):
            self._absorb(fetched, item, outcome)
        return fetched

    async def _fetch_one(self, item: Fetch) -> DetailResult:
        return await self.client.get_recording(item.listed.id, etag=item.etag)

    def _absorb(
        self, page: _FetchedPage, item: Fetch, outcome: DetailResult | BaseException
    ) -> None:
        listed = item.listed
        if isinstance(outcome, BaseException):
            self._detail_failed(page, item, outcome)
            return
        self._consecutive_failures = 0
        if isinstance(outcome, DetailFetched | DetailNotModified):
            self.fetched.add(listed.id)

        if isinstance(outcome, DetailFetched):
            page.writes.append(RecordingWrite(listed, outcome.detail, outcome.etag))
            if outcome.detail.listed.deleted and not listed.deleted:
                page.marks.append(
                    DeletionMark(listed.id, "soft", outcome.detail.listed.deleted_at)
                )
        elif isinstance(outcome, DetailNotModified):
            page.writes.append(
                RecordingWrite(listed, etag=outcome.etag, not_modified=True)
            )
        elif isinstance(outcome, DetailGone):
            # Listed a moment ago, gone now: keep what the listing said.
            page.writes.append(RecordingWrite(listed))
            page.marks.append(
                DeletionMark(listed.id, "soft" if outcome.status == 410 else "hard")
            )

    def _detail_failed(
        self, page: _FetchedPage, item: Fetch, error: BaseException
    ) -> None:
        if isinstance(error, FATAL_ERRORS) or not isinstance(error, ApiError):
            raise error
        self._consecutive_failures += 1
        page.failed += 1
        log.warning(
            "sweep.detail_failed",
            recording_id=item.listed.id,
            error=type(error).__name__,
            status=error.status,
        )
        if self._consecutive_failures >= MAX_CONSECUTIVE_FAILURES:
            raise error

    async def _save(self, page: _FetchedPage) -> None:
        result = self.result
        result.pages += 1
        result.listed += len(page.plan.page.recordings)
        result.fetched += len(page.plan.fetch) - page.failed
        result.failed_details += page.failed
        result.skipped_items += len(page.plan.page.skipped)
        self._marks.extend(page.marks)
        self._seen.update(r.id for r in page.plan.page.recordings)

        if not self.options.dry_run:
            counts = await self.store.write(lambda conn: self._save_page(conn, page))
            result.counts.add(counts)
        else:
            self._plan_counts(page)

        log.info(
            "sweep.page_saved",
            page=result.pages,
            listed=len(page.plan.page.recordings),
            fetched=len(page.plan.fetch) - page.failed,
            failed=page.failed,
        )
        if self.progress:
            self.progress.saved(len(page.plan.page.recordings))

    def _save_page(self, conn: Connection, page: _FetchedPage) -> WriteCounts:
        listed = page.plan.page.recordings
        writer = MirrorWriter(
            conn, org_id=self.org_id, now=utcnow(), run_id=self.run_id
        )
        known = load_known(conn, [r.id for r in listed])

        counts = writer.save(page.writes, known)
        counts.unchanged += len(page.plan.keep)
        counts.add(writer.restore([i for i in page.plan.restore if i in known]))
        writer.touch_seen([r.id for r in listed])

        if self.checkpoint is not None:
            cursor = page.plan.page.next_cursor
            self.checkpoint.save(conn, cursor=cursor, pages=self.result.pages)
        return counts

    def _plan_counts(self, page: _FetchedPage) -> None:
        counts = self.result.counts
        for item in page.plan.fetch:
            if item.reason == "new":
                counts.created += 1
            else:
                counts.updated += 1
        counts.unchanged += len(page.plan.keep)
        counts.restored += len(page.plan.restore)

    @property
    def seen(self) -> set[str]:
        """The ids this sweep's listing showed (this process's part of it)."""
        return self._seen

    def refuse(self, count: int, live: int) -> None:
        """Hold back a mass delete, unless the user allowed it."""
        self.result.held_back = count
        raise MassDeleteRefused(count, live, self.options.guard.describe())
