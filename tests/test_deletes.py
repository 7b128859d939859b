"""Remote deletes: told apart, guarded, and undone when a recording returns."""

from __future__ import annotations

import pytest

from mirror.emulator import Emulator
from mirror.store.database import Database
from tests.mirror_state import held
from tests.test_backfill import backfill

SOFT_DELETE_MODES = [
    "hidden_404",
    "hidden_410",
    "hidden_marker",
    "hidden_flag",
    "listed_marker",
    "listed_flag",
]
# What the mirror can tell: a soft delete that answers 404 looks hard.
EXPECTED_SOFT = {"hidden_404": "hard"}


@pytest.mark.parametrize("mode", SOFT_DELETE_MODES)
def test_soft_and_hard_deletes_are_told_apart(
    emulator: Emulator, database: Database, mode: str
) -> None:
    """Under every soft-delete switch, each delete is marked as the API shows it."""
    emulator.behaviour.soft_delete = mode  # type: ignore[assignment]
    ids = emulator.generate(60)
    backfill(emulator, database)
    emulator.soft_delete(ids[0])
    emulator.hard_delete(ids[1])

    report = backfill(emulator, database)

    state = held(database)
    assert state[ids[0]]["deletion"] == EXPECTED_SOFT.get(mode, "soft")
    assert state[ids[1]]["deletion"] == "hard"
    assert {i for i, row in state.items() if row["deletion"]} == set(ids[:2])
    assert report.result.counts.soft_deleted + report.result.counts.hard_deleted == 2


@pytest.mark.parametrize("mode", SOFT_DELETE_MODES)
def test_restored_recording_is_live_again(
    emulator: Emulator, database: Database, mode: str
) -> None:
    """A soft-deleted recording that comes back upstream is live in the mirror."""
    emulator.behaviour.soft_delete = mode  # type: ignore[assignment]
    ids = emulator.generate(30)
    backfill(emulator, database)
    emulator.soft_delete(ids[3])
    backfill(emulator, database)
    assert held(database)[ids[3]]["deletion"] is not None

    emulator.restore(ids[3])
    report = backfill(emulator, database)

    assert held(database)[ids[3]]["deletion"] is None
    assert report.result.counts.restored == 1


def test_soft_delete_that_becomes_permanent_turns_hard(
    emulator: Emulator, database: Database
) -> None:
    """A recording soft deleted, then deleted for good, ends marked hard."""
    emulator.behaviour.soft_delete = "hidden_410"
    ids = emulator.generate(20)
    backfill(emulator, database)
    emulator.soft_delete(ids[0])
    backfill(emulator, database)
    emulator.hard_delete(ids[0])

    backfill(emulator, database)

    assert held(database)[ids[0]]["deletion"] == "hard"


def test_deleted_recordings_keep_their_data(
    emulator: Emulator, database: Database
) -> None:
    """Marking a recording deleted removes nothing the mirror holds."""
    ids = emulator.generate(20)
    backfill(emulator, database)
    before = held(database)[ids[5]]
    emulator.hard_delete(ids[5])

    backfill(emulator, database)

    after = held(database)[ids[5]]
    assert after.pop("deletion") == "hard"
    before.pop("deletion")
    assert after == before


def test_failed_listing_marks_nothing_deleted(
    emulator: Emulator, database: Database
) -> None:
    """A sweep whose listing fails half way infers no delete at all."""
    from mirror.emulator import Fault
    from mirror.errors import ServerError

    ids = emulator.generate(250)
    backfill(emulator, database)
    for recording_id in ids[:3]:
        emulator.hard_delete(recording_id)

    def fail_from_page_two(number: int) -> None:
        if number == 2:
            emulator.inject("list", Fault(status=500), count=1000)

    emulator.before_list_page = fail_from_page_two
    with pytest.raises(ServerError):
        backfill(emulator, database)

    assert all(row["deletion"] is None for row in held(database).values())


def test_dry_run_reports_deletes_without_marking(
    emulator: Emulator, database: Database
) -> None:
    """A dry run confirms candidates and reports them, marking none."""
    ids = emulator.generate(40)
    backfill(emulator, database)
    emulator.hard_delete(ids[0])

    report = backfill(emulator, database, dry_run=True)

    assert [m.recording_id for m in report.result.planned_marks] == [ids[0]]
    assert held(database)[ids[0]]["deletion"] is None
