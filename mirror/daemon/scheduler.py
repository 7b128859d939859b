"""The resident daemon: every sweep tier on its schedule, one sweep at a time.

APScheduler fires each tier's job on the tier's interval, with a little
jitter so that many mirrors do not hit the service in step. Each job has at
most one instance, late runs are coalesced into one, and a run late by up to
one interval still happens. The jobs also queue on one lock, so that two
sweeps of the organization never overlap, and the whole daemon sweeps only
while it holds the database's sweeper lock (:mod:`mirror.daemon.lock`).

After start the hot tier runs at once; every other tier runs when its last
run says it is due, and at once if it has an unfinished run to resume.
Everything happens in one event loop: the sweeps, the signal handlers and
the watchdog pings, so a loop that hangs stops the pings and is restarted.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import Coroutine, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Connection

from mirror.clock import utcnow
from mirror.config import Settings, TierSettings, load_settings, read_token, sweep_tiers
from mirror.daemon import history
from mirror.daemon.lock import SweeperLock, sweeper_lock
from mirror.daemon.notify import Notifier
from mirror.daemon.signals import install_handlers, remove_handlers
from mirror.errors import ConfigError, DatabaseLocked, MirrorError
from mirror.logs import register_secret
from mirror.store.database import Database
from mirror.sync.runner import RunReport
from mirror.sync.sweeps import run_tier

log = structlog.get_logger(__name__)

# How often a daemon that finds the lock taken asks for it again.
LOCK_RETRY_SECONDS = 2.0

# How long a stop waits for the running sweep to record where it stands.
STOP_TIMEOUT_SECONDS = 8.0

# A tier's jitter: this share of its interval, at most MAX_JITTER_SECONDS.
JITTER_SHARE = 0.1
MAX_JITTER_SECONDS = 60.0

# The gap between the first runs of tiers due at start, which keeps the hot
# tier's place at the head of the queue.
STAGGER_SECONDS = 1.0

HOT_TIER = "hot"


@dataclass(slots=True)
class SweepInProgress:
    """The sweep running now: its tier, when it began, and its task."""

    tier: str
    started: dt.datetime
    task: asyncio.Task[RunReport]


class Daemon:
    """The ``pocket-mirror run`` service, from start to a clean stop.

    Args:
        config_path: the configuration file, read again on SIGHUP.
        settings: the configuration as read at start.
        token: the API token.
        notifier: where systemd notifications go.

    Raises:
        ConfigError: the sweep tiers of the configuration cannot be used.
    """

    def __init__(
        self,
        *,
        config_path: Path,
        settings: Settings,
        token: str,
        notifier: Notifier,
    ) -> None:
        self.config_path = config_path
        self.settings = settings
        self.tiers = {tier.name: tier for tier in sweep_tiers(settings)}
        self.token = token
        self.notifier = notifier
        self.stopping = asyncio.Event()
        self.sweeping = asyncio.Lock()
        self.current: SweepInProgress | None = None
        self.database: Database | None = None
        self.scheduler: AsyncIOScheduler | None = None
        self.lock: SweeperLock | None = None
        self.failure: MirrorError | None = None
        self._background: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        """Take the lock, migrate, schedule, and sweep until a stop signal.

        Raises:
            MirrorError: the database failed, or the lock was lost.
        """
        loop = asyncio.get_running_loop()
        install_handlers(loop, stop=self.request_stop, reload=self.request_reload)
        if self.notifier.watchdog_seconds is not None:
            self._in_background(self._ping_watchdog(self.notifier.watchdog_seconds))

        try:
            with Database(self.settings.database.url) as database:
                self.database = database
                await self._run_locked(sweeper_lock(database))
        finally:
            remove_handlers(loop)
            self._stop_background()
            self.notifier.close()
        log.info("daemon.stopped")
        if self.failure is not None:
            raise self.failure

    def request_stop(self, signal_name: str) -> None:
        """Stop taking new work, then end the running sweep and exit."""
        if self.stopping.is_set():
            log.info("daemon.already_stopping", signal=signal_name)
            return

        log.info("daemon.stopping", signal=signal_name)
        self.notifier.stopping(f"stopping on {signal_name}")
        self.stopping.set()

    def request_reload(self) -> None:
        """Read the configuration again, in the background of the loop."""
        self._in_background(self._reload())

    async def _run_locked(self, lock: SweeperLock) -> None:
        if not await self._wait_for_lock(lock):
            return

        self.lock = lock
        try:
            await self._serve()
        finally:
            await asyncio.to_thread(lock.release)

    async def _wait_for_lock(self, lock: SweeperLock) -> bool:
        """Ask for the lock until it is ours; False if told to stop first."""
        waiting = False
        while not self.stopping.is_set():
            if await asyncio.to_thread(lock.acquire):
                return True

            if not waiting:
                log.warning(
                    "daemon.lock_busy",
                    lock=lock.description,
                    retry_s=LOCK_RETRY_SECONDS,
                )
                self.notifier.status(
                    f"waiting: another pocket-mirror holds {lock.description}"
                )
                waiting = True
            await self._pause(LOCK_RETRY_SECONDS)
        return False

    async def _serve(self) -> None:
        await asyncio.to_thread(migrate, self._database())
        self.scheduler = AsyncIOScheduler(timezone=dt.UTC)
        self.scheduler.start()
        await self._schedule(hot_first=True)

        self.notifier.ready(f"sweeping {', '.join(self.tiers)}; no sweep finished yet")
        log.info("daemon.ready", tiers=list(self.tiers))
        await self.stopping.wait()

        await self._stop_sweep()
        self.scheduler.shutdown(wait=False)

    async def _schedule(self, *, hot_first: bool) -> None:
        """Add one job per tier, replacing any scheduled before."""
        scheduler = self.scheduler
        assert scheduler is not None
        due = await asyncio.to_thread(self._first_runs, hot_first)

        scheduler.remove_all_jobs()
        for name, when in due.items():
            interval = self.tiers[name].interval_minutes * 60
            scheduler.add_job(
                self._sweep_job,
                trigger=IntervalTrigger(
                    seconds=interval, jitter=jitter_for(interval), timezone=dt.UTC
                ),
                args=[name],
                id=name,
                name=f"sweep {name}",
                next_run_time=when,
                max_instances=1,
                coalesce=True,
                misfire_grace_time=max(1, round(interval)),
            )
            log.info(
                "daemon.scheduled",
                tier=name,
                interval_s=interval,
                next_run_at=when.isoformat(),
            )

    def _first_runs(self, hot_first: bool) -> dict[str, dt.datetime]:
        """When each tier first runs, in the order they should queue."""
        now = utcnow()
        order = tier_order(self.tiers.values(), hot_first=hot_first)
        org_id = self.settings.api.org_id
        with self._database().read() as conn:
            due = {tier.name: first_due(conn, org_id, tier, now) for tier in order}

        if hot_first:
            due[order[0].name] = now
        stagger = dt.timedelta(seconds=STAGGER_SECONDS)
        return {
            name: max(when, now + stagger * n)
            for n, (name, when) in enumerate(due.items())
        }

    async def _sweep_job(self, name: str) -> None:
        """One scheduled run of a tier: wait for the sweep lock, then sweep."""
        async with self.sweeping:
            tier = self.tiers.get(name)
            if tier is None or self.stopping.is_set():
                return
            if await self._lock_lost():
                return
            await self._sweep(tier)

    async def _lock_lost(self) -> bool:
        """Stop, with an error, when the sweeper lock is no longer ours: a
        PostgreSQL restart ends the session that held it."""
        assert self.lock is not None
        if await asyncio.to_thread(self.lock.still_held):
            return False

        log.error("daemon.lock_lost", lock=self.lock.description)
        self.failure = DatabaseLocked(
            f"the sweeper lock ({self.lock.description}) was lost while the "
            "daemon ran; it stopped rather than sweep beside another"
        )
        self.request_stop("lost lock")
        return True

    async def _sweep(self, tier: TierSettings) -> None:
        coroutine = run_tier(self.settings, self.token, self._database(), tier)
        task = asyncio.create_task(coroutine, name=f"sweep {tier.name}")
        self.current = SweepInProgress(tier.name, utcnow(), task)
        try:
            report = await task
        except asyncio.CancelledError:
            if not self.stopping.is_set():
                raise
        except MirrorError as exc:
            self.notifier.status(failure_status(tier.name, str(exc)))
        except Exception as exc:
            # A bug in one sweep must not end the service; it is logged whole,
            # and the next run tries again.
            log.exception("daemon.sweep_crashed", tier=tier.name)
            self.notifier.status(failure_status(tier.name, type(exc).__name__))
        else:
            self.notifier.status(success_status(tier.name, report))
        finally:
            self.current = None

    async def _stop_sweep(self) -> None:
        """Cancel the running sweep, wait for it to record where it stands,
        and mark its run interrupted so the next start resumes it."""
        current = self.current
        if current is None:
            return

        current.task.cancel()
        done, _ = await asyncio.wait({current.task}, timeout=STOP_TIMEOUT_SECONDS)
        if not done:
            log.error("daemon.sweep_not_stopped", tier=current.tier)
            return

        await asyncio.to_thread(self._record_interruption, current)

    def _record_interruption(self, current: SweepInProgress) -> None:
        with self._database().write() as conn:
            count = history.mark_interrupted(
                conn,
                org_id=self.settings.api.org_id,
                tier=current.tier,
                since=current.started,
                now=utcnow(),
                reason="stopped by a signal; the next run resumes from its checkpoint",
            )
        log.info("daemon.sweep_interrupted", tier=current.tier, runs=count)

    async def _reload(self) -> None:
        log.info("daemon.reloading", config=str(self.config_path))
        self.notifier.reloading()
        try:
            settings, tiers, token = await asyncio.to_thread(self._read_configuration)
        except MirrorError as exc:
            log.error("daemon.reload_refused", reason=str(exc))
            self.notifier.ready(f"reload refused, previous configuration kept: {exc}")
            return

        self.settings, self.tiers, self.token = settings, tiers, token
        if self.scheduler is not None and self.scheduler.running:
            await self._schedule(hot_first=False)
        log.info("daemon.reloaded", tiers=list(tiers))
        self.notifier.ready(f"configuration reloaded; sweeping {', '.join(tiers)}")

    def _read_configuration(self) -> tuple[Settings, dict[str, TierSettings], str]:
        """The configuration file read and checked again, with the token.

        Raises:
            ConfigError: the file has problems, or changes what only a
                restart can change.
        """
        settings = load_settings(self.config_path)
        tiers = {tier.name: tier for tier in sweep_tiers(settings)}
        refuse_restart_only_changes(self.settings, settings)

        token = read_token(settings.api)
        register_secret(token)
        return settings, tiers, token

    async def _ping_watchdog(self, period: float) -> None:
        while True:
            self.notifier.watchdog()
            await asyncio.sleep(period)

    async def _pause(self, seconds: float) -> None:
        """Sleep, but wake at once when a stop is requested."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), seconds)

    def _in_background(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _stop_background(self) -> None:
        for task in list(self._background):
            task.cancel()

    def _database(self) -> Database:
        assert self.database is not None, "the database is opened by run()"
        return self.database


def migrate(database: Database) -> None:
    """Bring the schema up to date, as every command that writes does."""
    if database.schema_state() in ("empty", "outdated"):
        database.upgrade()
    database.ensure_current()


def tier_order(tiers: Iterable[TierSettings], *, hot_first: bool) -> list[TierSettings]:
    """The tiers in the order their first runs queue: the hot one (the tier
    named ``hot``, else the most frequent) first, then as configured."""
    ordered = list(tiers)
    if not hot_first or not ordered:
        return ordered

    named = [tier for tier in ordered if tier.name == HOT_TIER]
    hot = named[0] if named else min(ordered, key=lambda tier: tier.interval_minutes)
    return [hot, *(tier for tier in ordered if tier is not hot)]


def first_due(
    conn: Connection, org_id: str, tier: TierSettings, now: dt.datetime
) -> dt.datetime:
    """When a tier is next due: now if it never ran or has a run to resume,
    else one interval after its last run began."""
    if history.has_checkpoint(conn, org_id=org_id, tier=tier.name):
        return now

    last = history.latest_runs(conn, org_id=org_id, tier=tier.name)
    if not last:
        return now
    return last[0].started_at + dt.timedelta(minutes=tier.interval_minutes)


def jitter_for(interval_seconds: float) -> float:
    """The most a tier's runs are delayed at random."""
    return min(interval_seconds * JITTER_SHARE, MAX_JITTER_SECONDS)


def refuse_restart_only_changes(old: Settings, new: Settings) -> None:
    """Raise ConfigError when the database or the organization changed:
    the daemon holds that database's lock and sweeps that organization."""
    problems = []
    if new.database.url != old.database.url:
        problems.append(
            "database.url changed; restart the service to move to another database"
        )
    if new.api.org_id != old.api.org_id:
        problems.append(
            "api.org_id changed; restart the service to mirror another organization"
        )
    if problems:
        raise ConfigError(problems, source=str(new.source))


def success_status(tier: str, report: RunReport) -> str:
    """The one-line STATUS after a sweep that finished."""
    counts = report.result.counts
    deleted = counts.soft_deleted + counts.hard_deleted
    return (
        f"last sweep: {tier} {report.outcome} at {_clock()}: listed "
        f"{report.result.listed}, {counts.created} new, {counts.updated} changed, "
        f"{deleted} deleted"
    )


def failure_status(tier: str, reason: str) -> str:
    """The one-line STATUS after a sweep that failed."""
    return f"last sweep: {tier} failed at {_clock()}: {reason}"


def _clock() -> str:
    return utcnow().strftime("%Y-%m-%d %H:%M:%SZ")
