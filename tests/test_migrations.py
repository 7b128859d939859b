"""The migrations build exactly the schema of mirror.store.schema, on both
backends, and the Database tells an empty, outdated, current or newer schema
apart."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.command import downgrade
from alembic.runtime.migration import MigrationContext
from structlog.testing import capture_logs

from mirror.errors import SchemaOutdated, StoreError
from mirror.store.database import (
    Database,
    head_revision,
    migration_config,
    migrations_folder,
)
from mirror.store.schema import (
    described_here,
    metadata,
    recordings,
    transcript_segments,
)

REPOSITORY = Path(__file__).resolve().parents[1]

PROBE_MIGRATION = '''"""Add a probe table."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "probe"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("probe", sa.Column("id", sa.Integer(), primary_key=True))
{extra}


def downgrade() -> None:
    op.drop_table("probe")
'''


def migrations_with_probe(tmp_path: Path, extra: str = "") -> Path:
    """A copy of the migrations with a probe revision on top."""
    folder = tmp_path / "migrations"
    shutil.copytree(
        migrations_folder(), folder, ignore=shutil.ignore_patterns("__pycache__")
    )
    probe = PROBE_MIGRATION.format(
        extra=textwrap.indent(extra, "    "), head=head_revision()
    )
    (folder / "versions" / "9999_probe.py").write_text(probe)
    return folder


def add_recording_with_a_segment(database: Database) -> None:
    """Store one recording and one transcript segment pointing at it."""
    moment = dt.datetime(2024, 5, 17, tzinfo=dt.UTC)
    recording = {
        "id": "rec_1",
        "org_id": "org_test",
        "created_at": moment,
        "raw": {},
        "first_seen_at": moment,
        "last_seen_at": moment,
        "changed_at": moment,
        "listing_hash": "0" * 64,
    }
    segment = {"recording_id": "rec_1", "position": 0, "text": "hello"}
    with database.write() as connection:
        connection.execute(sa.insert(recordings), recording)
        connection.execute(sa.insert(transcript_segments), segment)


def table_names(database: Database) -> set[str]:
    """The tables the database holds, without Alembic's own or search's."""
    with database.read() as connection:
        names = set(sa.inspect(connection).get_table_names())
    return {name for name in names if described_here(name, "table", {})} - {
        "alembic_version"
    }


def schema_differences(database: Database) -> list[object]:
    """What autogenerate would change to make the database match schema.py."""
    with database.read() as connection:
        opts = {"compare_type": True, "include_name": described_here}
        context = MigrationContext.configure(connection, opts=opts)
        return list(compare_metadata(context, metadata))


def test_upgrade_builds_exactly_the_schema_of_schema_py(database_url: str) -> None:
    """Upgrading an empty database leaves nothing for autogenerate to change."""
    with Database(database_url) as database:
        assert database.upgrade() == (None, head_revision())

        assert schema_differences(database) == []
        assert table_names(database) == set(metadata.tables)


def test_upgrade_names_constraints_like_schema_py(database: Database) -> None:
    """The migration's constraint and index names follow the naming convention."""
    with database.read() as connection:
        inspector = sa.inspect(connection)
        checks = {c["name"] for c in inspector.get_check_constraints("recordings")}
        keys = inspector.get_foreign_keys("transcript_segments")
        primary = inspector.get_pk_constraint("sync_runs")["name"]

    assert "ck_recordings_deletion_kind" in checks
    assert [key["name"] for key in keys] == ["fk_transcript_segments_recording_id"]
    if database.dialect == "postgresql":
        # SQLite does not keep the names of primary keys.
        assert primary == "pk_sync_runs"


def test_upgrade_twice_changes_nothing(database: Database) -> None:
    """A second upgrade of a current database reports the same revision twice."""
    assert database.upgrade() == (head_revision(), head_revision())

    assert database.schema_state() == "current"


def test_upgrade_logs_the_migration(database_url: str) -> None:
    """An upgrade logs one store.migrated event with both revisions."""
    with Database(database_url) as database, capture_logs() as logs:
        database.upgrade()

    assert logs == [
        {
            "event": "store.migrated",
            "log_level": "info",
            "url": database.display_url,
            "from_revision": None,
            "to_revision": head_revision(),
        }
    ]


def test_downgrade_to_base_and_upgrade_again(database: Database) -> None:
    """The initial migration's downgrade drops every table; upgrading rebuilds."""
    with database.write() as connection:
        downgrade(migration_config(database.migrations, connection), "base")

    assert database.revision() is None
    assert table_names(database) == set()

    database.upgrade()
    assert schema_differences(database) == []


def test_schema_state_of_an_empty_database(database_url: str) -> None:
    """A database no migration has touched is empty."""
    with Database(database_url) as database:
        assert database.revision() is None
        assert database.schema_state() == "empty"


def test_schema_state_of_a_migrated_database(database: Database) -> None:
    """A database at the newest revision is current."""
    assert database.revision() == head_revision()
    assert database.schema_state() == "current"


def test_schema_state_behind_a_newer_migration(
    database: Database, tmp_path: Path
) -> None:
    """A database one revision behind the migrations is outdated until upgraded."""
    newer = migrations_with_probe(tmp_path)
    with Database(database.url, migrations=newer) as behind:
        assert behind.schema_state() == "outdated"

        assert behind.upgrade() == (head_revision(), "probe")
        assert behind.schema_state() == "current"
        assert "probe" in table_names(behind)


def test_schema_state_ahead_of_this_version(database: Database, tmp_path: Path) -> None:
    """A database migrated by a newer version is ahead, and is left alone."""
    with Database(database.url, migrations=migrations_with_probe(tmp_path)) as newer:
        newer.upgrade()

    assert database.schema_state() == "ahead"
    with pytest.raises(SchemaOutdated, match="newer than this version knows"):
        database.upgrade()
    assert database.revision() == "probe"


def test_ensure_current_raises_on_an_empty_database(database_url: str) -> None:
    """An empty database is refused with a pointer to pocket-mirror migrate."""
    with Database(database_url) as database, pytest.raises(SchemaOutdated) as raised:
        database.ensure_current()

    assert "no mirror schema yet" in str(raised.value)
    assert "pocket-mirror migrate" in str(raised.value)


def test_ensure_current_raises_on_an_outdated_database(
    database: Database, tmp_path: Path
) -> None:
    """A database behind the migrations is refused, naming both revisions."""
    newer = migrations_with_probe(tmp_path)
    with (
        Database(database.url, migrations=newer) as behind,
        pytest.raises(
            SchemaOutdated,
            match=f"revision {head_revision()}, this version needs probe",
        ),
    ):
        behind.ensure_current()


def test_ensure_current_raises_on_a_newer_database(
    database: Database, tmp_path: Path
) -> None:
    """A database ahead of this version is refused, saying to upgrade the program."""
    with Database(database.url, migrations=migrations_with_probe(tmp_path)) as newer:
        newer.upgrade()

    with pytest.raises(SchemaOutdated) as raised:
        database.ensure_current()
    assert "upgrade pocket-mirror" in str(raised.value)


def test_ensure_current_accepts_a_current_database(database: Database) -> None:
    """A current database passes the check."""
    database.ensure_current()


def test_failed_migration_leaves_the_database_as_it_was(
    database: Database, tmp_path: Path
) -> None:
    """A migration that fails halfway is rolled back whole, DDL included."""
    broken = migrations_with_probe(tmp_path, extra='op.execute("SELECT nope()")')
    with Database(database.url, migrations=broken) as behind:
        with pytest.raises(StoreError):
            behind.upgrade()

        assert behind.revision() == head_revision()
        assert "probe" not in table_names(behind)


def test_alembic_command_line_migrates_a_database(tmp_path: Path) -> None:
    """Developers can run the alembic command with -x url=... from the checkout."""
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    subprocess.run(
        [sys.executable, "-m", "alembic", "-x", f"url={url}", "upgrade", "head"],
        cwd=REPOSITORY,
        check=True,
        capture_output=True,
    )

    with Database(url) as database:
        assert database.schema_state() == "current"


def test_sqlite_table_rebuild_keeps_the_rows_that_reference_it(
    sqlite_url: str, tmp_path: Path
) -> None:
    """A migration may rebuild a referenced SQLite table; its children stay."""
    # The views name the table; SQLite refuses to rename a table under them.
    rebuild = (
        'for view in ("recordings_with_tags", "recording_transcripts", '
        '"live_recordings"):\n'
        '    op.execute(f"DROP VIEW {view}")\n'
        'with op.batch_alter_table("recordings", recreate="always") as batch:\n'
        '    batch.add_column(sa.Column("probe", sa.Text()))'
    )
    with Database(sqlite_url) as database:
        database.upgrade()
        add_recording_with_a_segment(database)

    with Database(
        sqlite_url, migrations=migrations_with_probe(tmp_path, rebuild)
    ) as newer:
        newer.upgrade()

        with newer.read() as connection:
            segments = connection.execute(sa.select(transcript_segments)).all()
            enforced = connection.exec_driver_sql("PRAGMA foreign_keys").scalar()
    assert len(segments) == 1
    assert enforced == 1


def test_sqlite_migration_that_orphans_rows_is_rolled_back(
    sqlite_url: str, tmp_path: Path
) -> None:
    """A migration leaving rows without their parent is refused, changing nothing."""
    orphaning = 'op.execute("DELETE FROM recordings")'
    with Database(sqlite_url) as database:
        database.upgrade()
        add_recording_with_a_segment(database)

    folder = migrations_with_probe(tmp_path, orphaning)
    with Database(sqlite_url, migrations=folder) as newer:
        with pytest.raises(StoreError, match="transcript_segments pointing at"):
            newer.upgrade()

        assert newer.revision() == head_revision()
        assert "probe" not in table_names(newer)


def test_concurrent_upgrades_both_succeed(database_url: str) -> None:
    """Two processes migrating at once take turns; the second finds it done."""
    results: list[tuple[str | None, str]] = []
    errors: list[BaseException] = []

    def migrate() -> None:
        try:
            with Database(database_url) as database:
                results.append(database.upgrade())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=migrate) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    head = head_revision()
    assert set(results) == {(None, head), (head, head)}
