"""History and restore against the emulator over HTTP, on both backends: the
chosen version's fields are sent, and the restore is kept as a version."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from mirror.emulator import EmulatedRecording, Emulator
from mirror.errors import NotInMirror, PermissionDenied
from mirror.query.history import list_versions, plan_restore
from mirror.query.restore import restore_version
from mirror.store.database import Database
from mirror.sync.plan import DetailPolicy
from tests.fixtures_emulator import EmulatorFactory
from tests.test_backfill import TOKEN, backfill, settings
from tests.test_search import run_command, write_config

ORIGINAL = {
    "title": "Kickoff",
    "description": "The first meeting",
    "tags": ["tag_meeting", "tag_sales"],
}


def edited_recording(emulator: Emulator, database: Database) -> EmulatedRecording:
    """A recording mirrored as it was, then edited upstream and mirrored again."""
    record = emulator.new_recording(
        title=ORIGINAL["title"],
        description=ORIGINAL["description"],
        tags=[emulator.tag(tag_id) for tag_id in ORIGINAL["tags"]],
    )
    backfill(emulator, database)

    emulator.edit(
        record.id,
        title="Kickoff (renamed)",
        description="Edited by mistake",
        tags=[emulator.tag("tag_legal")],
    )
    backfill(emulator, database, policy=DetailPolicy(refresh_all=True))
    return record


def upstream(record: EmulatedRecording) -> dict[str, object]:
    """The fields a restore may change, as the emulator holds them."""
    return {
        "title": record.title,
        "description": record.description,
        "tags": sorted(tag.id for tag in record.tags or []),
    }


def test_history_lists_what_changed_and_when(
    emulator: Emulator, database: Database
) -> None:
    """The edit upstream left one version: the state before, and what changed."""
    record = edited_recording(emulator, database)

    [version] = list_versions(database, record.id)

    assert version.number == 1
    assert {"title", "description", "tags"} <= set(version.changed_fields)
    assert version.title == "Kickoff"


def test_restore_sends_exactly_the_versions_fields_and_records_it(
    emulator: Emulator, database: Database
) -> None:
    """PUT carries version 1's title, description and tags; a version is added."""
    record = edited_recording(emulator, database)
    plan = plan_restore(database, record.id, 1)
    before = emulator.requests.count("update")

    recorded = asyncio.run(
        restore_version(settings(emulator, database), TOKEN, database, plan)
    )

    assert recorded is True
    assert emulator.requests.count("update") == before + 1
    assert upstream(emulator.recordings[record.id]) == ORIGINAL
    versions = list_versions(database, record.id)
    assert [v.number for v in versions] == [1, 2]
    assert versions[1].title == "Kickoff (renamed)"
    assert plan_restore(database, record.id, 1).changes_anything is False


def test_restore_refused_for_a_viewer_token_says_why(
    make_emulator: EmulatorFactory, database: Database
) -> None:
    """A 403 ends in a sentence about the admin role, and nothing changes."""
    emulator = make_emulator(role="viewer")
    record = edited_recording(emulator, database)
    plan = plan_restore(database, record.id, 1)

    with pytest.raises(PermissionDenied, match="role is not admin"):
        asyncio.run(
            restore_version(settings(emulator, database), TOKEN, database, plan)
        )

    assert emulator.recordings[record.id].title == "Kickoff (renamed)"
    assert len(list_versions(database, record.id)) == 1


def test_restore_of_an_unknown_version_is_refused(
    emulator: Emulator, database: Database
) -> None:
    """A version the mirror does not hold is named in the error."""
    record = edited_recording(emulator, database)

    with pytest.raises(NotInMirror, match="has no version 7"):
        plan_restore(database, record.id, 7)
    with pytest.raises(NotInMirror, match="no recording 'rec_nope'"):
        list_versions(database, "rec_nope")


def test_restore_command_shows_the_plan_and_sends_only_with_yes(
    emulator: Emulator, database: Database, tmp_path: Path
) -> None:
    """Without --yes nothing is sent; with it, the version is restored."""
    record = edited_recording(emulator, database)
    config = write_config(tmp_path / "config.toml", database.url, emulator.url)

    shown = run_command("restore", record.id, "--version", "1", config=config)
    sent = run_command("restore", record.id, "--version", "1", "--yes", config=config)
    history = run_command("history", record.id, config=config)

    assert shown.returncode == 0, shown.stderr
    assert "title:       'Kickoff'  (now 'Kickoff (renamed)')" in shown.stdout
    assert "tags:        [tag_meeting, tag_sales]  (now [tag_legal])" in shown.stdout
    assert "nothing was sent" in shown.stdout
    assert sent.returncode == 0, sent.stderr
    assert "recorded as a new version" in sent.stdout
    assert upstream(emulator.recordings[record.id]) == ORIGINAL
    assert [line.split()[0] for line in history.stdout.splitlines()[2:]] == [
        "1",
        "2",
        "current",
    ]


def test_restore_command_exits_1_with_one_sentence_on_403(
    make_emulator: EmulatorFactory, database: Database, tmp_path: Path
) -> None:
    """A viewer token's restore exits 1, saying the role is not admin."""
    emulator = make_emulator(role="viewer")
    record = edited_recording(emulator, database)
    config = write_config(tmp_path / "config.toml", database.url, emulator.url)

    refused = run_command(
        "restore", record.id, "--version", "1", "--yes", config=config
    )

    assert refused.returncode == 1
    last = refused.stderr.splitlines()[-1]
    assert last.startswith("pocket-mirror: the service refused to restore recording")
    assert "the token's role is not admin" in last
    assert TOKEN not in refused.stderr
