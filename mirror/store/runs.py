"""The ``sync_runs`` table: one row per run, opened at its start.

A run's row is committed before any work, so a run that dies leaves a row
still marked ``running``: status reports can tell a crash from success.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass

from sqlalchemy import Connection, insert, update

from mirror.store import schema


@dataclass(slots=True)
class RunTally:
    """The counts a run reports when it ends."""

    list_requests: int = 0
    detail_requests: int = 0
    retries: int = 0
    listed: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    soft_deleted: int = 0
    hard_deleted: int = 0
    restored: int = 0
    held_back: int = 0


def start_run(
    conn: Connection,
    *,
    org_id: str,
    kind: str,
    tier: str | None,
    window: tuple[dt.date | None, dt.date | None],
    now: dt.datetime,
) -> int:
    """Open a run's row and return its id."""
    result = conn.execute(
        insert(schema.sync_runs).values(
            org_id=org_id,
            kind=kind,
            tier=tier,
            window_start=window[0],
            window_end=window[1],
            started_at=now,
            outcome="running",
        )
    )
    key = result.inserted_primary_key
    if key is None:
        raise RuntimeError("the database returned no id for the new run")
    return int(key[0])


def finish_run(
    conn: Connection,
    run_id: int,
    *,
    outcome: str,
    tally: RunTally,
    now: dt.datetime,
    error: str | None = None,
) -> None:
    """Close a run's row with its outcome, counts and error."""
    conn.execute(
        update(schema.sync_runs)
        .where(schema.sync_runs.c.id == run_id)
        .values(outcome=outcome, finished_at=now, error=error, **asdict(tally))
    )
