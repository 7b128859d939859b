"""``pocket-mirror status``: how current the mirror is, told truthfully.

The report is built from the mirror's own records (see
:mod:`mirror.daemon.health`) and exits 1 when the mirror is unhealthy, so
that a monitoring check can run it as it is.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sys
from typing import Any

import click

from mirror.cli import Context, fails_cleanly
from mirror.clock import utcnow
from mirror.config import Settings, TierSettings, read_token, sweep_tiers
from mirror.daemon.health import (
    MirrorHealth,
    TierHealth,
    TokenCheck,
    check_token,
    describe_duration,
    tier_health,
)
from mirror.daemon.history import RunRow
from mirror.daemon.lock import sweeper_lock
from mirror.errors import ConfigError
from mirror.logs import register_secret
from mirror.store.database import Database

UNHEALTHY_EXIT = 1


@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option(
    "--offline", is_flag=True, help="Do not make a request to check the token."
)
@click.pass_obj
@fails_cleanly
def command(context: Context, as_json: bool, offline: bool) -> None:
    """Show each tier's last run, lag and errors, and whether the token works.

    Exits 1 when the mirror is unhealthy: a tier without a complete sweep
    for more than twice its interval, a tier whose last run failed or was
    refused by the mass-delete guard, or a token the service refuses.
    """
    settings = context.settings()
    tiers = sweep_tiers(settings)
    token = TokenCheck("unchecked") if offline else token_check(settings)
    health = gather(settings, tiers, token)

    click.echo(
        json.dumps(report_json(health), indent=2) if as_json else report_text(health)
    )
    if not health.healthy:
        sys.exit(UNHEALTHY_EXIT)


def token_check(settings: Settings) -> TokenCheck:
    """Whether the service accepts the configured token."""
    try:
        token = read_token(settings.api)
    except ConfigError as exc:
        return TokenCheck("missing", exc.problems[0])

    register_secret(token)
    return asyncio.run(check_token(settings, token))


def gather(
    settings: Settings, tiers: tuple[TierSettings, ...], token: TokenCheck
) -> MirrorHealth:
    """Read every tier's record and the daemon's lock."""
    now = utcnow()
    org_id = settings.api.org_id
    with Database(settings.database.url) as database:
        schema = database.schema_state()
        if schema != "empty":
            database.ensure_current()
            with database.read() as conn:
                judged = [tier_health(conn, org_id, tier, now) for tier in tiers]
        else:
            judged = []
        daemon_running = sweeper_lock(database).held_elsewhere()

    return MirrorHealth(
        checked_at=now,
        org_id=org_id,
        database=database.display_url,
        schema=schema,
        daemon_running=daemon_running,
        token=token,
        tiers=judged,
    )


def report_json(health: MirrorHealth) -> dict[str, Any]:
    """The report as a JSON object; its keys are a contract for monitoring."""
    return {
        "healthy": health.healthy,
        "problems": health.problems,
        "checked_at": _time(health.checked_at),
        "org_id": health.org_id,
        "database": health.database,
        "daemon_running": health.daemon_running,
        "token": {"state": health.token.state, "detail": health.token.detail},
        "tiers": [tier_json(tier) for tier in health.tiers],
    }


def tier_json(tier: TierHealth) -> dict[str, Any]:
    """One tier of the JSON report."""
    return {
        "name": tier.tier.name,
        "interval_seconds": tier.tier.interval_minutes * 60,
        "last_run": run_json(tier.last_run),
        "last_complete_at": _time(tier.last_complete_at),
        "lag_seconds": tier.lag.total_seconds() if tier.lag is not None else None,
        "overdue": tier.overdue,
        "held_back": tier.held_back,
        "errors": [run_json(run) for run in tier.errors],
        "problems": tier.problems,
    }


def run_json(run: RunRow | None) -> dict[str, Any] | None:
    """One run of the JSON report, with its counts."""
    if run is None:
        return None

    return {
        "id": run.id,
        "started_at": _time(run.started_at),
        "finished_at": _time(run.finished_at),
        "outcome": run.outcome,
        "counts": {
            "listed": run.listed,
            "created": run.created,
            "updated": run.updated,
            "unchanged": run.unchanged,
            "soft_deleted": run.soft_deleted,
            "hard_deleted": run.hard_deleted,
            "restored": run.restored,
            "held_back": run.held_back,
        },
        "error": run.error,
    }


def report_text(health: MirrorHealth) -> str:
    """The report for a person: a verdict, the tiers, then the problems."""
    verdict = "healthy" if health.healthy else "UNHEALTHY"
    daemon = {True: "running", False: "not running", None: "unknown"}
    lines = [
        f"mirror of {health.org_id} in {health.database}: {verdict}",
        f"  daemon: {daemon[health.daemon_running]}; token: {health.token.state}",
    ]
    for tier in health.tiers:
        lines.extend(tier_lines(tier, health.checked_at))
    if health.problems:
        lines.append("problems:")
        lines.extend(f"  - {problem}" for problem in health.problems)
    return "\n".join(lines)


def tier_lines(tier: TierHealth, now: dt.datetime) -> list[str]:
    """A tier's lines in the text report."""
    every = describe_duration(dt.timedelta(minutes=tier.tier.interval_minutes))
    lag = describe_duration(tier.lag) if tier.lag is not None else "never complete"
    lines = [f"tier {tier.tier.name} (every {every}): lag {lag}"]
    if tier.last_run is not None:
        lines.append(f"    last run: {run_text(tier.last_run, now)}")
    if tier.held_back:
        lines.append(f"    deletes held back by the guard: {tier.held_back}")
    lines.extend(
        f"    failed {_time(run.started_at)}: {run.error}" for run in tier.errors
    )
    return lines


def run_text(run: RunRow, now: dt.datetime) -> str:
    """One run in a line: outcome, when, and what it changed."""
    ago = describe_duration(now - run.started_at)
    deleted = run.soft_deleted + run.hard_deleted
    return (
        f"{run.outcome}, started {ago} ago; listed {run.listed}, "
        f"{run.created} new, {run.updated} changed, {deleted} deleted"
    )


def _time(moment: dt.datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None
