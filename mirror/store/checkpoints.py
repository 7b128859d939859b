"""Where each tier's sweep stands, so that a killed sweep resumes, not restarts.

A tier's run sweeps its windows in order. After every page, inside the
page's own transaction, the tier's row in ``sweep_checkpoints`` records the
window, the cursor of the next page and when the run's listing began; the
row is moved on to the next window when one finishes, and removed when the
whole run finishes. Because the row commits with the recordings it covers,
it never claims a page that was not written, nor forgets one that was.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Connection, delete, select

from mirror.clock import utcnow
from mirror.store import schema
from mirror.store.upsert import upsert

checkpoints = schema.sweep_checkpoints


@dataclass(frozen=True, slots=True)
class SweepPosition:
    """Where a tier's run stands.

    Attributes:
        run_id: the ``sync_runs`` row of the run that saved it.
        sweep_started_at: when the run's listing began; a resumed run keeps
            it, so that what the killed run saw still counts as seen.
        window_index: which of the run's windows, newest first, is underway.
        window_start: that window's first day (None: from the beginning).
        window_end: that window's last day (None: up to now).
        cursor: the cursor of the window's next page; None to list it from
            its start.
        pages: how many of the window's pages are written.
    """

    run_id: int | None
    sweep_started_at: dt.datetime
    window_index: int
    window_start: dt.date | None
    window_end: dt.date | None
    cursor: str | None = None
    pages: int = 0


def load_position(conn: Connection, *, org_id: str, tier: str) -> SweepPosition | None:
    """The saved position of a tier's unfinished run, if there is one."""
    row = conn.execute(
        select(checkpoints).where(
            checkpoints.c.org_id == org_id, checkpoints.c.tier == tier
        )
    ).one_or_none()
    if row is None:
        return None
    return SweepPosition(
        run_id=row.run_id,
        sweep_started_at=row.sweep_started_at,
        window_index=row.window_index,
        window_start=row.window_start,
        window_end=row.window_end,
        cursor=row.cursor,
        pages=row.pages,
    )


def save_position(
    conn: Connection, *, org_id: str, tier: str, position: SweepPosition
) -> None:
    """Record a tier's position, replacing the one saved before."""
    row = {"org_id": org_id, "tier": tier, **dataclasses.asdict(position)}
    upsert(conn, checkpoints, [{**row, "updated_at": utcnow()}], key=["org_id", "tier"])


def clear_position(conn: Connection, *, org_id: str, tier: str) -> None:
    """Forget a tier's position: its run finished."""
    conn.execute(
        delete(checkpoints).where(
            checkpoints.c.org_id == org_id, checkpoints.c.tier == tier
        )
    )


class TierCheckpoint:
    """The engine's checkpoint for one window of a tier's run.

    The sweep engine calls :meth:`save` in each page's transaction; this
    keeps the rest of the position (the window, the run's start) and stores
    the new cursor and page count with it.
    """

    def __init__(self, *, org_id: str, tier: str, position: SweepPosition) -> None:
        self.org_id = org_id
        self.tier = tier
        self.position = position

    def save(self, conn: Connection, *, cursor: str | None, pages: int) -> None:
        """Record that the window's pages up to ``cursor`` are written."""
        done_before = self.position.pages
        moved = dataclasses.replace(self.position, cursor=cursor)
        save_position(
            conn,
            org_id=self.org_id,
            tier=self.tier,
            position=dataclasses.replace(moved, pages=done_before + pages),
        )
