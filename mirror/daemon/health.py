"""Whether the mirror is healthy, told from its own records.

The status report is what monitoring relies on, so it judges from facts
the mirror keeps rather than from what a daemon says about itself: the rows
of ``sync_runs``, the sweeper lock, and one small request with the token.
The mirror is unhealthy when a tier has gone more than twice its interval
without a complete sweep (or never had one), when a tier's last finished
run failed or was refused by the mass-delete guard, or when the service
refuses the token. A service that cannot be reached says nothing about the
token, so it is reported but not counted against the mirror; a long outage
shows as overdue tiers soon enough.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Literal

from sqlalchemy import Connection

from mirror.config import Settings, TierSettings
from mirror.daemon import history
from mirror.daemon.history import RunRow
from mirror.errors import (
    ApiError,
    ApiUnreachable,
    AuthenticationFailed,
    OrganizationNotFound,
    PermissionDenied,
)
from mirror.sync.runner import open_client

# How many of a tier's recent failures the report shows.
ERRORS_SHOWN = 3

# A tier is overdue once this many of its intervals pass without a
# complete sweep.
OVERDUE_INTERVALS = 2

TokenState = Literal[
    "works", "refused", "unreachable", "unknown", "missing", "unchecked"
]

REFUSALS = (AuthenticationFailed, PermissionDenied, OrganizationNotFound)


@dataclass(frozen=True, slots=True)
class TokenCheck:
    """What one request with the token found out."""

    state: TokenState
    detail: str | None = None

    @property
    def broken(self) -> bool:
        """Whether authentication is known not to work."""
        return self.state in ("refused", "missing")


@dataclass(slots=True)
class TierHealth:
    """One tier's record, and what is wrong with it.

    Attributes:
        last_run: the newest run, possibly still running.
        last_finished: the newest run that ended.
        last_complete_at: when the newest complete sweep finished.
        lag: the time since then (the mirror's lag); None if never.
        errors: the newest failed or refused runs.
        problems: sentences saying what is wrong; empty when healthy.
    """

    tier: TierSettings
    last_run: RunRow | None
    last_finished: RunRow | None
    last_complete_at: dt.datetime | None
    lag: dt.timedelta | None
    errors: list[RunRow]
    problems: list[str] = field(default_factory=list)

    @property
    def overdue(self) -> bool:
        """Whether the tier went too long without a complete sweep."""
        limit = dt.timedelta(minutes=self.tier.interval_minutes * OVERDUE_INTERVALS)
        return self.lag is None or self.lag > limit

    @property
    def held_back(self) -> int:
        """Deletes the guard held back in the last finished run."""
        return self.last_finished.held_back if self.last_finished else 0


@dataclass(slots=True)
class MirrorHealth:
    """The whole report: every tier, the token, the daemon."""

    checked_at: dt.datetime
    org_id: str
    database: str
    schema: str
    daemon_running: bool | None
    token: TokenCheck
    tiers: list[TierHealth]

    @property
    def problems(self) -> list[str]:
        """Everything that makes the mirror unhealthy, tiers first."""
        found = [problem for tier in self.tiers for problem in tier.problems]
        if self.schema == "empty":
            found.insert(0, "the database has no mirror schema: nothing was synced")
        if self.token.broken:
            found.append(f"authentication is broken: {self.token.detail}")
        return found

    @property
    def healthy(self) -> bool:
        """Whether monitoring should be content."""
        return not self.problems


def tier_health(
    conn: Connection, org_id: str, tier: TierSettings, now: dt.datetime
) -> TierHealth:
    """Read one tier's record and judge it."""
    recent = history.latest_runs(conn, org_id=org_id, tier=tier.name, limit=2)
    finished = [run for run in recent if run.outcome != "running"]
    complete_at = history.last_complete_at(conn, org_id=org_id, tier=tier.name)
    health = TierHealth(
        tier=tier,
        last_run=recent[0] if recent else None,
        last_finished=finished[0] if finished else None,
        last_complete_at=complete_at,
        lag=now - complete_at if complete_at else None,
        errors=history.latest_errors(
            conn, org_id=org_id, tier=tier.name, limit=ERRORS_SHOWN
        ),
    )
    health.problems = list(tier_problems(health))
    return health


def tier_problems(health: TierHealth) -> list[str]:
    """What is wrong with a tier, in sentences."""
    name = health.tier.name
    problems = []
    if health.lag is None:
        problems.append(f"tier {name} has never completed a sweep")
    elif health.overdue:
        problems.append(
            f"tier {name} is overdue: its last complete sweep was "
            f"{describe_duration(health.lag)} ago, and it runs every "
            f"{describe_duration(dt.timedelta(minutes=health.tier.interval_minutes))}"
        )

    last = health.last_finished
    if last is not None and last.outcome in history.FAILURES:
        problems.append(f"tier {name}'s last run {last.outcome}: {last.error}")
    return problems


async def check_token(settings: Settings, token: str) -> TokenCheck:
    """Make one small listing request to learn whether the token works."""
    try:
        async with open_client(settings, token) as client:
            await client.check_access()
    except REFUSALS as exc:
        return TokenCheck("refused", str(exc))
    except ApiUnreachable as exc:
        return TokenCheck("unreachable", str(exc))
    except ApiError as exc:
        # The service answered, but not about the token: say so, no more.
        return TokenCheck("unknown", str(exc))
    return TokenCheck("works")


def describe_duration(duration: dt.timedelta) -> str:
    """A duration for a person: ``45 s``, ``12 min``, ``3 h 5 min``, ``2 d 4 h``."""
    seconds = int(duration.total_seconds())
    if seconds < 120:
        return f"{seconds} s"

    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if hours < 2:
        return f"{minutes} min"
    if days < 2:
        return f"{hours} h {minutes % 60} min"
    return f"{days} d {hours % 24} h"
