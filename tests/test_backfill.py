"""Backfill, end to end: the real client against the emulator over HTTP,
into real SQLite files and the real PostgreSQL server."""

from __future__ import annotations

import asyncio
import dataclasses
import gc

import pytest
from sqlalchemy import func, select
from structlog.testing import capture_logs

from mirror.config import Settings, settings_for
from mirror.emulator import Emulator
from mirror.errors import MassDeleteRefused
from mirror.store import schema
from mirror.store.database import Database
from mirror.store.writer import MirrorWriter
from mirror.sync.engine import SweepOptions, Window
from mirror.sync.plan import DetailPolicy
from mirror.sync.runner import RunReport, run_backfill
from tests.mirror_state import assert_mirror_equals, held

TOKEN = "pk_test_token"


def settings(emulator: Emulator, database: Database) -> Settings:
    return settings_for(
        base_url=emulator.url, org_id=emulator.org_id, database_url=database.url
    )


def backfill(
    emulator: Emulator,
    database: Database,
    *,
    attempts: int = 6,
    timeout: float = 30.0,
    **options: object,
) -> RunReport:
    """Run a backfill in this process, with the real client and store."""
    configured = settings(emulator, database)
    api = dataclasses.replace(
        configured.api, max_attempts=attempts, timeout_seconds=timeout
    )
    return asyncio.run(
        run_backfill(
            dataclasses.replace(configured, api=api),
            TOKEN,
            database,
            window=Window(),
            options=SweepOptions(**options),  # type: ignore[arg-type]
        )
    )


def table_counts(database: Database) -> dict[str, int]:
    with database.read() as conn:
        return {
            table.name: conn.execute(
                select(func.count()).select_from(table)
            ).scalar_one()
            for table in schema.metadata.sorted_tables
        }


@pytest.mark.slow
def test_backfill_mirrors_every_recording_field_by_field(
    emulator: Emulator, database: Database
) -> None:
    """A backfill of 5,000 recordings leaves a mirror equal to the emulator."""
    emulator.generate(5000)

    report = backfill(emulator, database)

    assert report.outcome == "succeeded"
    assert report.result.counts.created == 5000
    assert_mirror_equals(database, emulator)


def test_second_backfill_fetches_nothing_and_changes_no_row(
    emulator: Emulator, database: Database
) -> None:
    """An unchanged organization costs no detail request and changes no row."""
    emulator.generate(300)
    backfill(emulator, database)
    before = held(database)
    emulator.requests.reset()

    report = backfill(emulator, database)

    assert emulator.requests.count("detail") == 0
    assert report.result.counts.unchanged == 300
    assert report.result.counts.created == report.result.counts.updated == 0
    assert held(database) == before
    assert table_counts(database)["recording_versions"] == 0


def test_backfill_under_injected_faults_still_ends_equal(
    emulator: Emulator, database: Database
) -> None:
    """5xx, 429 with Retry-After and dropped connections are retried through."""
    emulator.generate(600)
    emulator.behaviour.rate_5xx = 0.10
    emulator.behaviour.rate_429 = 0.05
    emulator.behaviour.rate_drop = 0.03

    # Faults this dense can hit one request many times in a row.
    report = backfill(emulator, database, attempts=15)

    assert report.stats.retries > 0
    assert emulator.requests.count(status=429) > 0
    assert emulator.requests.count(status=503) + emulator.requests.count(status=500) > 0
    assert_mirror_equals(database, emulator)


@pytest.mark.parametrize(
    "shapes",
    [
        {"tag_shape": "object", "recorder_shape": "object"},
        {"transcript_shape": "object", "summary_shape": "map"},
        {"tag_shape": "mixed", "recorder_shape": "mixed", "transcript_shape": "mixed"},
    ],
)
def test_backfill_accepts_every_payload_shape(
    emulator: Emulator, sqlite_database: Database, shapes: dict[str, str]
) -> None:
    """Richer shapes of tags, recorders, transcripts and summaries mirror alike."""
    emulator.generate(150)
    for name, value in shapes.items():
        setattr(emulator.behaviour, name, value)

    backfill(emulator, sqlite_database)

    assert_mirror_equals(sqlite_database, emulator)


def test_refresh_details_refetches_and_finds_description_edits(
    emulator: Emulator, sqlite_database: Database
) -> None:
    """--refresh-details refetches every detail, catching unlisted edits."""
    ids = emulator.generate(50)
    backfill(emulator, sqlite_database)
    emulator.edit(ids[0], description="edited after the backfill ✍️")
    emulator.behaviour.etags = False
    emulator.requests.reset()

    report = backfill(emulator, sqlite_database, policy=DetailPolicy(refresh_all=True))

    assert emulator.requests.count("detail") == 50
    assert report.result.counts.updated == 1
    assert held(sqlite_database)[ids[0]]["description"] == "edited after the backfill ✍️"
    assert table_counts(sqlite_database)["recording_versions"] == 1


def test_refresh_details_with_etags_gets_not_modified(
    emulator: Emulator, sqlite_database: Database
) -> None:
    """With ETags, a refresh of unchanged recordings is answered 304."""
    emulator.generate(40)
    backfill(emulator, sqlite_database)
    emulator.requests.reset()

    report = backfill(emulator, sqlite_database, policy=DetailPolicy(refresh_all=True))

    assert emulator.requests.count("detail", status=304) == 40
    assert report.result.counts.unchanged == 40


def test_dry_run_writes_nothing(emulator: Emulator, sqlite_database: Database) -> None:
    """--dry-run reports what would change and leaves the mirror as it was."""
    emulator.generate(120)

    report = backfill(emulator, sqlite_database, dry_run=True)

    assert report.outcome == "dry_run"
    assert report.result.counts.created == 120
    assert emulator.requests.count("detail") == 0
    assert table_counts(sqlite_database)["recordings"] == 0
    assert table_counts(sqlite_database)["sync_runs"] == 0


def test_each_run_is_recorded(emulator: Emulator, sqlite_database: Database) -> None:
    """Every run leaves one sync_runs row with its outcome and counts."""
    emulator.generate(30)
    backfill(emulator, sqlite_database)

    with sqlite_database.read() as conn:
        run = conn.execute(select(schema.sync_runs)).one()
    assert run.kind == "backfill"
    assert run.outcome == "succeeded"
    assert run.created == 30
    assert run.list_requests == 1
    assert run.detail_requests == 30
    assert run.finished_at >= run.started_at


def test_mass_delete_guard_holds_then_can_be_overridden(
    emulator: Emulator, database: Database
) -> None:
    """Deleting more than the guard allows marks nothing, unless allowed."""
    ids = emulator.generate(100)
    backfill(emulator, database)
    for recording_id in ids[:20]:
        emulator.hard_delete(recording_id)

    with pytest.raises(MassDeleteRefused) as refused:
        backfill(emulator, database)
    assert refused.value.count == 20
    assert all(row["deletion"] is None for row in held(database).values())

    report = backfill(emulator, database, allow_mass_delete=True)
    assert report.result.counts.hard_deleted == 20
    state = held(database)
    assert {i for i, row in state.items() if row["deletion"] == "hard"} == set(ids[:20])
    assert len(state) == 100


def test_a_run_freezes_the_heap_it_starts_with_and_thaws_it_after(
    emulator: Emulator, sqlite_database: Database
) -> None:
    """The collector skips the objects that predate a run, during it only."""
    emulator.generate(5)
    frozen_during: list[int] = []
    emulator.before_list_page = lambda number: frozen_during.append(
        gc.get_freeze_count()
    )

    backfill(emulator, sqlite_database)

    assert frozen_during and min(frozen_during) > 1000
    assert gc.get_freeze_count() == 0


def test_an_unexpected_error_is_recorded_with_its_type(
    emulator: Emulator, sqlite_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fault in pocket-mirror itself still closes the run's row, saying what."""
    emulator.generate(3)

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the writer broke")

    # An internal fault cannot be provoked through the real parts alone.
    monkeypatch.setattr(MirrorWriter, "save", broken)
    with capture_logs() as logs, pytest.raises(RuntimeError):
        backfill(emulator, sqlite_database)

    with sqlite_database.read() as conn:
        run = conn.execute(select(schema.sync_runs)).one()
    assert (run.outcome, run.error) == ("failed", "RuntimeError: the writer broke")
    failed = [e for e in logs if e["event"] == "sweep.failed"]
    assert [e["error"] for e in failed] == ["RuntimeError: the writer broke"]
