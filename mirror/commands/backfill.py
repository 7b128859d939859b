"""``pocket-mirror backfill``: the explicit full pass over a range of history."""

from __future__ import annotations

import asyncio
import datetime as dt
import sys

import click

from mirror.cli import Context, fails_cleanly
from mirror.config import Settings
from mirror.progress import SweepProgressBar
from mirror.store.database import Database
from mirror.sync.engine import Progress, SweepOptions, Window
from mirror.sync.plan import DeleteGuard, DetailPolicy
from mirror.sync.runner import RunReport, run_backfill


@click.command("backfill")
@click.option("--since", type=click.DateTime(["%Y-%m-%d"]), help="First day (UTC).")
@click.option("--until", type=click.DateTime(["%Y-%m-%d"]), help="Last day (UTC).")
@click.option(
    "--refresh-details", is_flag=True, help="Fetch every recording's detail again."
)
@click.option(
    "--dry-run", is_flag=True, help="Report what would change; write nothing."
)
@click.option(
    "--allow-mass-delete",
    is_flag=True,
    help="Let through more deletes at once than the guard allows.",
)
@click.pass_obj
@fails_cleanly
def command(
    context: Context,
    since: dt.datetime | None,
    until: dt.datetime | None,
    refresh_details: bool,
    dry_run: bool,
    allow_mass_delete: bool,
) -> None:
    """List a range of history (all of it by default) into the mirror.

    New recordings and those whose listed fields changed get their
    transcript, summary and action items fetched; once the listing has
    completed without error, recordings missing from it are checked one by
    one and marked soft or hard deleted.
    """
    if since and until and since > until:
        raise click.UsageError("--since must not be after --until")
    settings = context.settings()
    token = context.token(settings)
    window = Window(since.date() if since else None, until.date() if until else None)
    options = SweepOptions(
        policy=DetailPolicy(refresh_all=refresh_details),
        guard=guard_from(settings),
        allow_mass_delete=allow_mass_delete,
        dry_run=dry_run,
    )

    with Database(settings.database.url) as database:
        if not dry_run:
            prepare(database)
        report = run_with_progress(settings, token, database, window, options, context)
    click.echo(summary(report))


def guard_from(settings: Settings) -> DeleteGuard:
    """The mass-delete guard the configuration asks for."""
    return DeleteGuard(
        min_count=settings.sync.mass_delete_min,
        fraction=settings.sync.mass_delete_fraction,
    )


def prepare(database: Database) -> None:
    """Migrate an empty or outdated database; the upgrade logs that it did."""
    if database.schema_state() in ("empty", "outdated"):
        database.upgrade()
    database.ensure_current()


def run_with_progress(
    settings: Settings,
    token: str,
    database: Database,
    window: Window,
    options: SweepOptions,
    context: Context,
) -> RunReport:
    """Run the backfill, with a progress bar when stderr is a terminal."""
    if not sys.stderr.isatty() or context.log_format == "json":
        return asyncio.run(
            run_backfill(settings, token, database, window=window, options=options)
        )
    with SweepProgressBar("backfill") as bar:
        progress: Progress = bar
        return asyncio.run(
            run_backfill(
                settings,
                token,
                database,
                window=window,
                options=options,
                progress=progress,
            )
        )


def summary(report: RunReport) -> str:
    """What the run did, in a few lines for a person."""
    result, counts, stats = report.result, report.result.counts, report.stats
    rate = result.listed / report.seconds if report.seconds > 0 else 0.0
    dry = report.outcome == "dry_run"
    soft = sum(1 for mark in result.planned_marks if mark.kind == "soft")
    hard = len(result.planned_marks) - soft
    if not dry:
        soft, hard = counts.soft_deleted, counts.hard_deleted
    would = "would be " if dry else ""
    return "\n".join(
        [
            f"{report.kind} {report.outcome}: listed {result.listed} recordings "
            f"in {report.seconds:.1f} s ({rate:.0f}/s)",
            f"  {would}created {counts.created}, updated {counts.updated}, "
            f"restored {counts.restored}; unchanged {counts.unchanged}",
            f"  {would}marked deleted: {soft} soft, {hard} hard "
            f"({result.candidates} candidates checked)",
            f"  requests: {stats.list_requests} list, {stats.detail_requests} detail, "
            f"{stats.retries} retries",
        ]
    )
