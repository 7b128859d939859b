"""``pocket-mirror sync``: run the sweep tiers once, now."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import click

from mirror.cli import Context, fails_cleanly
from mirror.commands.backfill import prepare, summary
from mirror.config import Settings, TierSettings, sweep_tiers
from mirror.daemon.lock import sweeper_lock
from mirror.errors import DatabaseLocked, MirrorError
from mirror.progress import SweepProgressBar
from mirror.store.database import Database
from mirror.sync.runner import RunReport
from mirror.sync.sweeps import run_tier


@click.command("sync")
@click.option(
    "--tier", "tier_name", metavar="NAME", help="Run only this tier of [sweeps]."
)
@click.pass_obj
@fails_cleanly
def command(context: Context, tier_name: str | None) -> None:
    """Sweep each tier once (or only the one named), newest windows first.

    Each tier lists the days it reaches, fetches the details of what is new
    or changed, and marks what was deleted; a tier whose last run was cut
    short resumes where it stopped. Every tier's run is recorded in
    sync_runs. Exits 1 when any tier failed.
    """
    settings = context.settings()
    tiers = chosen_tiers(sweep_tiers(settings), tier_name)
    token = context.token(settings)

    failed = 0
    with Database(settings.database.url) as database:
        prepare(database)
        with holding_sweeper_lock(database):
            for tier in tiers:
                failed += not run_and_report(settings, token, database, tier, context)
    if failed:
        sys.exit(1)


@contextmanager
def holding_sweeper_lock(database: Database) -> Iterator[None]:
    """Sweep only while no daemon, or other sync, sweeps the same database."""
    lock = sweeper_lock(database)
    if not lock.acquire():
        raise DatabaseLocked(
            f"another pocket-mirror is sweeping {database.display_url}",
            url=database.display_url,
        )
    try:
        yield
    finally:
        lock.release()


def chosen_tiers(
    tiers: tuple[TierSettings, ...], name: str | None
) -> tuple[TierSettings, ...]:
    """All the tiers, or the one named; an unknown name is a usage error."""
    if name is None:
        return tiers
    for tier in tiers:
        if tier.name == name:
            return (tier,)
    known = ", ".join(tier.name for tier in tiers)
    raise click.UsageError(f"there is no tier {name!r}; the tiers are: {known}")


def run_and_report(
    settings: Settings,
    token: str,
    database: Database,
    tier: TierSettings,
    context: Context,
) -> bool:
    """Run one tier and print its summary, or why it failed; True if it ran."""
    try:
        report = run_with_progress(settings, token, database, tier, context)
    except MirrorError as exc:
        click.echo(f"pocket-mirror: tier {tier.name} failed: {exc}", err=True)
        return False
    click.echo(f"{tier.name}: {summary(report)}")
    return True


def run_with_progress(
    settings: Settings,
    token: str,
    database: Database,
    tier: TierSettings,
    context: Context,
) -> RunReport:
    """Run a tier, with a progress bar when stderr is a terminal."""
    if not sys.stderr.isatty() or context.log_format == "json":
        return asyncio.run(run_tier(settings, token, database, tier))
    with SweepProgressBar(f"sweep {tier.name}") as bar:
        return asyncio.run(run_tier(settings, token, database, tier, progress=bar))
