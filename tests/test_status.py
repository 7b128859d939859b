"""`pocket-mirror status`: the mirror's health, judged from its own records."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert

from mirror.clock import utcnow
from mirror.config import TierSettings
from mirror.daemon.health import describe_duration, tier_health
from mirror.emulator import Emulator
from mirror.store import schema
from mirror.store.database import Database
from tests.test_daemon import environment, run_status, write_config

HOT = TierSettings("hot", interval_minutes=10, reach_days=3, window_days=None)
ORG = "org_test"


def add_run(
    database: Database,
    *,
    minutes_ago: float,
    outcome: str,
    kind: str = "sweep",
    tier: str | None = "hot",
    error: str | None = None,
    held_back: int = 0,
    whole: bool = False,
) -> None:
    """Record a run that started and ended that many minutes ago."""
    at = utcnow() - dt.timedelta(minutes=minutes_ago)
    with database.write() as conn:
        conn.execute(
            insert(schema.sync_runs).values(
                org_id=ORG,
                kind=kind,
                tier=tier,
                window_start=None if whole else dt.date(2026, 1, 1),
                started_at=at,
                finished_at=None if outcome == "running" else at,
                outcome=outcome,
                error=error,
                held_back=held_back,
            )
        )


def judge(database: Database, tier: TierSettings = HOT) -> Any:
    with database.read() as conn:
        return tier_health(conn, ORG, tier, utcnow())


def test_recent_success_is_healthy(database: Database) -> None:
    """A tier whose last complete sweep is within twice its interval is fine."""
    add_run(database, minutes_ago=15, outcome="succeeded")

    health = judge(database)

    assert health.problems == []
    assert 14 * 60 < health.lag.total_seconds() < 16 * 60


def test_overdue_by_twice_the_interval_is_unhealthy(database: Database) -> None:
    """More than two intervals without a complete sweep makes a tier overdue."""
    add_run(database, minutes_ago=21, outcome="succeeded")

    health = judge(database)

    assert health.overdue
    assert "tier hot is overdue" in health.problems[0]


def test_last_failure_is_unhealthy_and_listed(database: Database) -> None:
    """A tier whose last finished run failed is unhealthy, with the error shown."""
    add_run(database, minutes_ago=5, outcome="succeeded")
    add_run(database, minutes_ago=1, outcome="failed", error="the service is down")

    health = judge(database)

    assert health.problems == ["tier hot's last run failed: the service is down"]
    assert [run.error for run in health.errors] == ["the service is down"]


def test_held_back_deletes_are_reported(database: Database) -> None:
    """A run refused by the mass-delete guard reports what it held back."""
    add_run(database, minutes_ago=1, outcome="refused", error="refused", held_back=40)

    health = judge(database)

    assert health.held_back == 40
    assert any("last run refused" in problem for problem in health.problems)


def test_a_running_sweep_is_judged_by_the_run_before(database: Database) -> None:
    """A run still going neither helps nor hurts: the last finished one counts."""
    add_run(database, minutes_ago=3, outcome="succeeded")
    add_run(database, minutes_ago=1, outcome="running")

    health = judge(database)

    assert health.last_run.outcome == "running"
    assert health.last_finished.outcome == "succeeded"
    assert health.problems == []


def test_interrupted_sweep_is_not_a_failure(database: Database) -> None:
    """A sweep stopped by a signal is not counted as a failure."""
    add_run(database, minutes_ago=3, outcome="succeeded")
    add_run(database, minutes_ago=1, outcome="interrupted", error="stopped")

    assert judge(database).problems == []


def test_a_backfill_of_all_history_counts_as_a_complete_sweep(
    database: Database,
) -> None:
    """A whole-history backfill covers every tier's reach; a partial one does not."""
    add_run(database, minutes_ago=2, outcome="succeeded", kind="backfill", tier=None)
    assert judge(database).lag is None

    add_run(
        database,
        minutes_ago=1,
        outcome="succeeded",
        kind="backfill",
        tier=None,
        whole=True,
    )
    assert judge(database).problems == []


def test_never_swept_is_unhealthy(database: Database) -> None:
    """A tier that never completed a sweep says so."""
    assert judge(database).problems == ["tier hot has never completed a sweep"]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (45, "45 s"),
        (600, "10 min"),
        (3 * 3600 + 300, "3 h 5 min"),
        (50 * 3600, "2 d 2 h"),
    ],
)
def test_durations_read_easily(seconds: int, text: str) -> None:
    """Lags and intervals are said in the largest units that fit."""
    assert describe_duration(dt.timedelta(seconds=seconds)) == text


def test_status_of_an_empty_mirror_exits_1(
    tmp_path: Path, emulator: Emulator, sqlite_url: str
) -> None:
    """A mirror that was never synced is unhealthy, and says so."""
    config = write_config(tmp_path / "config.toml", emulator, sqlite_url, "")

    result, report = run_status(config)

    assert result.returncode == 1
    assert report["healthy"] is False
    assert "nothing was synced" in report["problems"][0]


def test_status_exits_1_when_the_token_is_refused(
    tmp_path: Path, emulator: Emulator, database: Database
) -> None:
    """A token the service refuses makes the mirror unhealthy, whatever else."""
    add_run(database, minutes_ago=1, outcome="succeeded")
    tiers = "[sweeps.hot]\ninterval_minutes = 10\n"
    config = write_config(tmp_path / "config.toml", emulator, database.url, tiers)

    good, report = run_status(config)
    assert good.returncode == 0, good.stderr
    assert report["token"]["state"] == "works"

    bad, report = run_status(config, token="pk_revoked_token")
    assert bad.returncode == 1
    assert report["token"]["state"] == "refused"
    assert "pk_revoked_token" not in bad.stdout + bad.stderr


def test_status_offline_does_not_check_the_token(
    tmp_path: Path, emulator: Emulator, database: Database
) -> None:
    """With --offline no request is made, and the token is left unchecked."""
    add_run(database, minutes_ago=1, outcome="succeeded")
    tiers = "[sweeps.hot]\ninterval_minutes = 10\n"
    config = write_config(tmp_path / "config.toml", emulator, database.url, tiers)

    result, report = run_status(config, "--offline")

    assert result.returncode == 0, result.stderr
    assert report["token"]["state"] == "unchecked"
    assert emulator.requests.count() == 0


def test_status_text_names_each_tier_and_problem(
    tmp_path: Path, emulator: Emulator, database: Database
) -> None:
    """The report for a person has a verdict, a line per tier and the problems."""
    add_run(database, minutes_ago=1, outcome="failed", error="the service is down")
    tiers = "[sweeps.hot]\ninterval_minutes = 10\n"
    config = write_config(tmp_path / "config.toml", emulator, database.url, tiers)

    result = subprocess.run(
        [sys.executable, "-m", "mirror", "status", "--offline"],
        capture_output=True,
        text=True,
        env=environment(config),
        timeout=60,
    )

    assert result.returncode == 1
    assert "UNHEALTHY" in result.stdout
    assert "tier hot (every 10 min)" in result.stdout
    assert "the service is down" in result.stdout
