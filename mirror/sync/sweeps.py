"""Runs one sweep tier once: its windows in order, resumable after a crash.

A tier's run is recorded in ``sync_runs`` (kind ``sweep``, the tier's name)
and sweeps its windows newest first. Its position is saved with every page
(see :mod:`mirror.store.checkpoints`), so a run that was killed is taken up
by the next one where it stopped, with the killed run's start as the moment
since which a recording counts as seen: the resumed window then reconciles
deletes as if it had never stopped. A service that no longer accepts the
saved cursor gets the window listed again from its start.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

import structlog
from sqlalchemy import Connection

from mirror.api.client import PocketClient
from mirror.clock import utcnow
from mirror.config import Settings, TierSettings
from mirror.errors import BadRequest, MassDeleteRefused
from mirror.store.checkpoints import (
    SweepPosition,
    TierCheckpoint,
    clear_position,
    load_position,
    save_position,
)
from mirror.store.database import Database
from mirror.store.recordings import oldest_created_day, stalest_details
from mirror.store.runs import start_run
from mirror.sync.engine import (
    Progress,
    StoreThread,
    SweepOptions,
    SweepResult,
    Window,
    WindowSweep,
)
from mirror.sync.plan import DeleteGuard, DetailPolicy
from mirror.sync.runner import RunReport, close_run, frozen_heap, open_client
from mirror.sync.tiers import tier_windows

log = structlog.get_logger("mirror.sync")


def _begins_before(window: Window, day: dt.date) -> bool:
    return window.start is None or window.start < day


@dataclass(frozen=True, slots=True)
class TierPlan:
    """The windows a tier's run sweeps, and where it starts among them."""

    windows: list[Window]
    resumed: SweepPosition | None

    @property
    def span(self) -> Window:
        """The days all the windows cover together."""
        return Window(self.windows[-1].start, self.windows[0].end)


async def run_tier(
    settings: Settings,
    token: str,
    database: Database,
    tier: TierSettings,
    *,
    progress: Progress | None = None,
) -> RunReport:
    """Sweep every window of ``tier`` once, resuming an unfinished run.

    Raises:
        MirrorError: the run failed; its row records why, and its position
            stays saved for the next run to resume from.
    """
    store = StoreThread(database)
    try:
        async with open_client(settings, token) as client:
            run = TierRun(client, store, settings, tier, progress)
            with frozen_heap():
                return await run.run()
    finally:
        store.close()


class TierRun:
    """One run of one tier, from its row's opening to its summary."""

    def __init__(
        self,
        client: PocketClient,
        store: StoreThread,
        settings: Settings,
        tier: TierSettings,
        progress: Progress | None,
    ) -> None:
        self.client = client
        self.store = store
        self.settings = settings
        self.tier = tier
        self.progress = progress
        self.org_id = settings.api.org_id
        self.started = utcnow()
        self.result = SweepResult(window=Window())
        self.run_id: int | None = None

    async def run(self) -> RunReport:
        """Open the run's row, sweep, and close the row however it ends."""
        plan = await self.store.read(self._plan)
        self.result.window = plan.span
        self.run_id = await self.store.write(lambda conn: self._open_row(conn, plan))

        bound = structlog.contextvars.bound_contextvars(
            run_id=self.run_id, kind="sweep", tier=self.tier.name
        )
        with bound:
            return await self._sweep_recorded(plan)

    async def _sweep_recorded(self, plan: TierPlan) -> RunReport:
        log.info(
            "sweep.started",
            windows=len(plan.windows),
            resumed=plan.resumed is not None,
            window_start=plan.span.start,
            window_end=plan.span.end,
        )
        outcome = "failed"
        error: Exception | None = None
        try:
            await self._sweep(plan)
            outcome = "succeeded"
        except MassDeleteRefused as exc:
            outcome, error = "refused", exc
            raise
        except Exception as exc:
            error = exc
            raise
        finally:
            report = self._report(outcome)
            await close_run(self.store, report, error)
        return report

    def _plan(self, conn: Connection) -> TierPlan:
        oldest = oldest_created_day(conn, org_id=self.org_id)
        windows = tier_windows(self.tier, self.started.date(), oldest)
        resumed = load_position(conn, org_id=self.org_id, tier=self.tier.name)
        return TierPlan(windows, resumed)

    def _open_row(self, conn: Connection, plan: TierPlan) -> int:
        return start_run(
            conn,
            org_id=self.org_id,
            kind="sweep",
            tier=self.tier.name,
            window=(plan.span.start, plan.span.end),
            now=self.started,
        )

    async def _sweep(self, plan: TierPlan) -> None:
        options = await self._options()
        positions = list(self._positions(plan))
        await self._save(positions[0])

        for number, position in enumerate(positions):
            fetched = await self._sweep_window(position, options)
            # The next window lists this one's oldest day again.
            policy = dataclasses.replace(options.policy, fetched=frozenset(fetched))
            options = dataclasses.replace(options, policy=policy)
            if number + 1 < len(positions):
                await self._save(positions[number + 1])
        await self.store.write(
            lambda conn: clear_position(conn, org_id=self.org_id, tier=self.tier.name)
        )

    def _positions(self, plan: TierPlan) -> Iterator[SweepPosition]:
        resumed = plan.resumed
        if resumed is None:
            for index, window in enumerate(plan.windows):
                yield self._position(self.started, index, window)
            return

        # The resumed window is swept as it was saved (listed again from its
        # start when its listing had ended); the windows after it are today's
        # ones older than it, chosen by date, not by number, since the
        # mirror's oldest day (which shapes them) may have moved.
        pages = resumed.pages if resumed.cursor is not None else 0
        yield dataclasses.replace(resumed, run_id=self.run_id, pages=pages)
        start = resumed.window_start
        older = [w for w in plan.windows if start and _begins_before(w, start)]
        for offset, window in enumerate(older, start=1):
            index = resumed.window_index + offset
            yield self._position(resumed.sweep_started_at, index, window)

    def _position(
        self, since: dt.datetime, index: int, window: Window
    ) -> SweepPosition:
        return SweepPosition(self.run_id, since, index, window.start, window.end)

    async def _save(self, position: SweepPosition) -> None:
        await self.store.write(
            lambda conn: save_position(
                conn, org_id=self.org_id, tier=self.tier.name, position=position
            )
        )

    async def _sweep_window(
        self, position: SweepPosition, options: SweepOptions
    ) -> set[str]:
        """Sweep one window; returns the ids whose detail it fetched."""
        log.info(
            "sweep.window_started",
            window_index=position.window_index,
            window_start=position.window_start,
            window_end=position.window_end,
            resumed_pages=position.pages,
        )
        sweep = self._window_sweep(position, options)
        try:
            await self._run_absorbing(sweep)
        except BadRequest:
            if position.cursor is None or sweep.result.pages:
                raise
            # The saved cursor is refused (expired, or from another version
            # of the service): list the window again from its start.
            log.warning("sweep.cursor_refused", window_index=position.window_index)
            restart = dataclasses.replace(position, cursor=None, pages=0)
            await self._save(restart)
            sweep = self._window_sweep(restart, options)
            await self._run_absorbing(sweep)
        return sweep.fetched

    def _window_sweep(
        self, position: SweepPosition, options: SweepOptions
    ) -> WindowSweep:
        return WindowSweep(
            client=self.client,
            store=self.store,
            org_id=self.org_id,
            window=Window(position.window_start, position.window_end),
            options=options,
            run_id=self.run_id,
            seen_since=position.sweep_started_at,
            cursor=position.cursor,
            checkpoint=TierCheckpoint(
                org_id=self.org_id, tier=self.tier.name, position=position
            ),
            progress=self.progress,
        )

    async def _run_absorbing(self, sweep: WindowSweep) -> None:
        # What a failed window did before failing still counts in the run's row.
        try:
            await sweep.run()
        finally:
            self._absorb(sweep.result)

    async def _options(self) -> SweepOptions:
        sync = self.settings.sync
        refresh: frozenset[str] = frozenset()
        if self.tier.reach_days is None:
            refresh = frozenset(await self.store.read(self._stalest))
        age = sync.processing_age_hours
        policy = DetailPolicy(
            refresh_ids=refresh,
            processing_age=dt.timedelta(hours=age) if age > 0 else None,
        )
        guard = DeleteGuard(
            min_count=sync.mass_delete_min, fraction=sync.mass_delete_fraction
        )
        return SweepOptions(policy=policy, guard=guard)

    def _stalest(self, conn: Connection) -> list[str]:
        fraction = self.settings.sync.rolling_refresh_fraction
        return stalest_details(conn, org_id=self.org_id, fraction=fraction)

    def _absorb(self, window: SweepResult) -> None:
        result = self.result
        result.counts.add(window.counts)
        result.listed += window.listed
        result.pages += window.pages
        result.fetched += window.fetched
        result.failed_details += window.failed_details
        result.skipped_items += window.skipped_items
        result.candidates += window.candidates
        result.held_back += window.held_back
        result.planned_marks.extend(window.planned_marks)

    def _report(self, outcome: str) -> RunReport:
        self.result.complete = outcome == "succeeded"
        return RunReport(
            run_id=self.run_id,
            kind="sweep",
            outcome=outcome,
            result=self.result,
            stats=self.client.stats,
            seconds=(utcnow() - self.started).total_seconds(),
        )
