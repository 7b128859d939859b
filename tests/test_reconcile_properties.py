"""Reconciliation as a property: whatever happens upstream between syncs,
the mirror ends equal for live recordings and keeps every one it saw."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mirror.emulator import Emulator
from mirror.store.database import Database
from tests.mirror_state import assert_mirror_equals, held
from tests.test_backfill import TOKEN, backfill
from tests.test_deletes import EXPECTED_SOFT, SOFT_DELETE_MODES

operation = st.tuples(
    st.sampled_from(["add", "edit", "soft", "hard", "restore"]),
    st.integers(min_value=0, max_value=10_000),
)
rounds = st.lists(st.lists(operation, max_size=8), min_size=1, max_size=3)


def apply(emulator: Emulator, action: str, pick: int) -> None:
    """Apply one upstream change to a recording chosen by ``pick``."""
    records = sorted(emulator.recordings)
    if action == "add" or not records:
        emulator.new_recording()
        return
    target = emulator.recordings[records[pick % len(records)]]
    if action == "edit":
        emulator.edit(target.id, title=f"edited {pick} ✨")
    elif action == "soft" and target.deleted_at is None:
        emulator.soft_delete(target.id)
    elif action == "hard":
        emulator.hard_delete(target.id)
    elif action == "restore" and target.deleted_at is not None:
        emulator.restore(target.id)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(history=rounds, mode=st.sampled_from(SOFT_DELETE_MODES))
def test_mirror_follows_any_history_and_loses_nothing(
    history: list[list[tuple[str, int]]], mode: str
) -> None:
    """Adds, edits, soft and hard deletes and restores, synced in rounds."""
    emulator = Emulator(org_id="org_test", token=TOKEN, seed=len(history))
    emulator.behaviour.soft_delete = mode  # type: ignore[assignment]
    emulator.generate(15)
    ever_seen: set[str] = set()

    with tempfile.TemporaryDirectory() as folder, emulator:
        database = Database(f"sqlite:///{Path(folder) / 'm.db'}")
        database.upgrade()
        try:
            backfill(emulator, database)
            ever_seen |= visible(emulator, mode)
            for changes in history:
                for action, pick in changes:
                    apply(emulator, action, pick)
                backfill(emulator, database, allow_mass_delete=True)
                ever_seen |= visible(emulator, mode)

                assert_mirror_equals(database, emulator)
                check_deletions(database, emulator, ever_seen, mode)
        finally:
            database.close()


def visible(emulator: Emulator, mode: str) -> set[str]:
    """The recordings a listing shows now; one added and soft deleted between
    two syncs in a hidden mode is never seen, and cannot be kept."""
    listed = mode.startswith("listed")
    return {
        recording_id
        for recording_id, record in emulator.recordings.items()
        if listed or record.deleted_at is None
    }


def check_deletions(
    database: Database, emulator: Emulator, ever_seen: set[str], mode: str
) -> None:
    """Every id ever synced is still held, marked as upstream shows it."""
    state = held(database)
    assert ever_seen <= set(state)
    for recording_id in ever_seen:
        record = emulator.recordings.get(recording_id)
        if record is None:
            assert state[recording_id]["deletion"] == "hard", recording_id
        elif record.deleted_at is not None:
            assert state[recording_id]["deletion"] == EXPECTED_SOFT.get(mode, "soft")
        else:
            assert state[recording_id]["deletion"] is None, recording_id
