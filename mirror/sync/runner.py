"""Runs a whole job (a backfill, a tier's sweep) and records it in ``sync_runs``.

The engine sweeps windows; this module opens the API client and the
database thread around it, opens the run's row before any work and closes
it with the outcome and counts however the work ends, and emits the one
summary event that ends every run.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import asdict, dataclass

import structlog

from mirror.api.client import ClientStats, PocketClient
from mirror.clock import utcnow
from mirror.config import Settings
from mirror.errors import MassDeleteRefused, MirrorError
from mirror.store.database import Database
from mirror.store.runs import RunTally, finish_run, start_run
from mirror.sync.engine import (
    Progress,
    StoreThread,
    SweepOptions,
    SweepResult,
    Window,
    WindowSweep,
)

log = structlog.get_logger("mirror.sync")


@dataclass(slots=True)
class RunReport:
    """What a run did, for the command line to print."""

    run_id: int | None
    kind: str
    outcome: str
    result: SweepResult
    stats: ClientStats
    seconds: float


@asynccontextmanager
async def open_client(settings: Settings, token: str) -> AsyncIterator[PocketClient]:
    """An API client configured from the settings."""
    api = settings.api
    client = PocketClient(
        base_url=api.base_url,
        org_id=api.org_id,
        token=token,
        timeout_seconds=api.timeout_seconds,
        concurrency=api.concurrency,
        max_attempts=api.max_attempts,
        max_retry_after_seconds=api.max_retry_after_seconds,
    )
    async with client:
        yield client


@contextmanager
def frozen_heap() -> Iterator[None]:
    """Keep the cyclic garbage collector off what exists before a run.

    A run allocates pages of parsed recordings at a high rate, and every
    full collection used to walk the hundred thousand objects the process
    holds from its start (modules, the schema, the client) along with them:
    tens of milliseconds each, during which no response is read. Those are
    frozen (after one collection, so no garbage is frozen with them) for
    the run, and handed back to the collector after it, so that a daemon
    frees whatever of them later becomes garbage.
    """
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


async def run_backfill(
    settings: Settings,
    token: str,
    database: Database,
    *,
    window: Window,
    options: SweepOptions,
    progress: Progress | None = None,
) -> RunReport:
    """List a window of history (all of it by default) into the mirror.

    Raises:
        MirrorError: the run failed; its row records why.
    """
    store = StoreThread(database)
    try:
        async with open_client(settings, token) as client:
            with frozen_heap():
                return await _run_recorded(
                    client, store, settings, "backfill", window, options, progress
                )
    finally:
        store.close()


async def _run_recorded(
    client: PocketClient,
    store: StoreThread,
    settings: Settings,
    kind: str,
    window: Window,
    options: SweepOptions,
    progress: Progress | None,
) -> RunReport:
    org_id = settings.api.org_id
    started = utcnow()
    run_id = None
    if not options.dry_run:
        run_id = await store.write(
            lambda conn: start_run(
                conn,
                org_id=org_id,
                kind=kind,
                tier=None,
                window=(window.start, window.end),
                now=started,
            )
        )
    bound = structlog.contextvars.bound_contextvars(run_id=run_id, kind=kind)
    with bound:
        log.info("sweep.started", window_start=window.start, window_end=window.end)
        sweep = WindowSweep(
            client=client,
            store=store,
            org_id=org_id,
            window=window,
            options=options,
            run_id=run_id,
            seen_since=started,
            progress=progress,
        )
        outcome = "failed"
        error: Exception | None = None
        try:
            await sweep.run()
            outcome = "dry_run" if options.dry_run else "succeeded"
        except MassDeleteRefused as exc:
            outcome, error = "refused", exc
            raise
        except Exception as exc:
            error = exc
            raise
        finally:
            report = RunReport(
                run_id=run_id,
                kind=kind,
                outcome=outcome,
                result=sweep.result,
                stats=client.stats,
                seconds=(utcnow() - started).total_seconds(),
            )
            await close_run(store, report, error)
    return report


async def close_run(
    store: StoreThread, report: RunReport, error: BaseException | None
) -> None:
    """Record a run's outcome and counts in its row; emit its summary event."""
    tally = _tally(report)
    if report.run_id is not None:
        run_id = report.run_id
        await store.write(
            lambda conn: finish_run(
                conn,
                run_id,
                outcome=report.outcome,
                tally=tally,
                now=utcnow(),
                error=_describe(error),
            )
        )
    event = "sweep.finished" if report.outcome != "failed" else "sweep.failed"
    method = log.info if error is None else log.error
    method(
        event,
        outcome=report.outcome,
        seconds=round(report.seconds, 3),
        pages=report.result.pages,
        error=_describe(error),
        **_fields(tally),
    )


def _describe(error: BaseException | None) -> str | None:
    """A run's error in words; one that is not ours also says its type."""
    if error is None:
        return None
    if isinstance(error, MirrorError):
        return str(error)
    return f"{type(error).__name__}: {error}"


def _tally(report: RunReport) -> RunTally:
    counts = report.result.counts
    return RunTally(
        list_requests=report.stats.list_requests,
        detail_requests=report.stats.detail_requests,
        retries=report.stats.retries,
        listed=report.result.listed,
        created=counts.created,
        updated=counts.updated,
        unchanged=counts.unchanged,
        soft_deleted=counts.soft_deleted,
        hard_deleted=counts.hard_deleted,
        restored=counts.restored,
        held_back=report.result.held_back,
    )


def _fields(tally: RunTally) -> dict[str, int]:
    return asdict(tally)
