"""What the daemon and the status report read from ``sync_runs``.

A tier's history is its rows in ``sync_runs`` (kind ``sweep``) and its row
in ``sweep_checkpoints`` while a run is unfinished. A backfill over all of
history covers every tier's reach, so it counts as a complete sweep of each.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy import Connection

from mirror.store import schema

runs = schema.sync_runs

# The outcome the daemon gives a sweep it stopped on a signal; the sweep's
# checkpoint is kept, and the next run resumes from it.
INTERRUPTED = "interrupted"

FAILURES = ("failed", "refused")


@dataclass(frozen=True, slots=True)
class RunRow:
    """One row of ``sync_runs``, as the status report shows it."""

    id: int
    kind: str
    tier: str | None
    started_at: dt.datetime
    finished_at: dt.datetime | None
    outcome: str
    listed: int
    created: int
    updated: int
    unchanged: int
    soft_deleted: int
    hard_deleted: int
    restored: int
    held_back: int
    error: str | None


def latest_runs(
    conn: Connection, *, org_id: str, tier: str, limit: int = 1
) -> list[RunRow]:
    """The tier's newest runs, newest first."""
    query = (
        _select_rows()
        .where(runs.c.org_id == org_id, runs.c.kind == "sweep", runs.c.tier == tier)
        .order_by(runs.c.started_at.desc(), runs.c.id.desc())
        .limit(limit)
    )
    return [RunRow(**row._asdict()) for row in conn.execute(query)]


def latest_errors(
    conn: Connection, *, org_id: str, tier: str, limit: int
) -> list[RunRow]:
    """The tier's newest failed or refused runs, newest first."""
    query = (
        _select_rows()
        .where(
            runs.c.org_id == org_id,
            runs.c.kind == "sweep",
            runs.c.tier == tier,
            runs.c.outcome.in_(FAILURES),
        )
        .order_by(runs.c.started_at.desc(), runs.c.id.desc())
        .limit(limit)
    )
    return [RunRow(**row._asdict()) for row in conn.execute(query)]


def last_complete_at(conn: Connection, *, org_id: str, tier: str) -> dt.datetime | None:
    """When the tier's newest complete sweep finished: its own, or a
    backfill of all of history."""
    own_sweep = sa.and_(runs.c.kind == "sweep", runs.c.tier == tier)
    whole_backfill = sa.and_(
        runs.c.kind == "backfill",
        runs.c.window_start.is_(None),
        runs.c.window_end.is_(None),
    )
    query = sa.select(sa.func.max(runs.c.finished_at)).where(
        runs.c.org_id == org_id,
        runs.c.outcome == "succeeded",
        sa.or_(own_sweep, whole_backfill),
    )
    finished: dt.datetime | None = conn.execute(query).scalar_one()
    return finished


def has_checkpoint(conn: Connection, *, org_id: str, tier: str) -> bool:
    """Whether the tier has an unfinished run to resume."""
    checkpoints = schema.sweep_checkpoints
    query = sa.select(checkpoints.c.tier).where(
        checkpoints.c.org_id == org_id, checkpoints.c.tier == tier
    )
    return conn.execute(query).first() is not None


def mark_interrupted(
    conn: Connection,
    *,
    org_id: str,
    tier: str,
    since: dt.datetime,
    now: dt.datetime,
    reason: str,
) -> int:
    """Record the tier's runs started since ``since`` and cut short without
    an error of their own as interrupted; returns how many there were.

    A sweep cancelled by a signal closes its row as failed with no error, or,
    cancelled before it could close it, leaves it running.
    """
    cut_short = sa.or_(
        runs.c.outcome == "running",
        sa.and_(runs.c.outcome == "failed", runs.c.error.is_(None)),
    )
    statement = (
        sa.update(runs)
        .where(
            runs.c.org_id == org_id,
            runs.c.kind == "sweep",
            runs.c.tier == tier,
            runs.c.started_at >= since,
            cut_short,
        )
        .values(
            outcome=INTERRUPTED,
            error=reason,
            finished_at=sa.func.coalesce(
                runs.c.finished_at, sa.bindparam("now", now, schema.UTCDateTime())
            ),
        )
    )
    return conn.execute(statement).rowcount


def _select_rows() -> sa.Select[tuple[object, ...]]:
    return sa.select(
        runs.c.id,
        runs.c.kind,
        runs.c.tier,
        runs.c.started_at,
        runs.c.finished_at,
        runs.c.outcome,
        runs.c.listed,
        runs.c.created,
        runs.c.updated,
        runs.c.unchanged,
        runs.c.soft_deleted,
        runs.c.hard_deleted,
        runs.c.restored,
        runs.c.held_back,
        runs.c.error,
    )
