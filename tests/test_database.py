"""Opening the mirror database: SQLite's setup, the supported URLs, and the
translation of database failures into the store's errors."""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import stat
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from mirror.errors import (
    ConfigError,
    DatabaseLocked,
    DatabaseUnavailable,
    MirrorError,
    StoreError,
)
from mirror.store.database import Database
from mirror.store.schema import recordings, sync_runs, transcript_segments

AWARE = dt.datetime(2024, 5, 17, 9, 30, 15, 250000, tzinfo=dt.UTC)


def sqlite_file(url: str) -> Path:
    """The file behind a sqlite:/// URL."""
    return Path(url.removeprefix("sqlite:///"))


def pragma(database: Database, name: str) -> object:
    """The value of one SQLite pragma on a connection from the pool."""
    with database.read() as connection:
        return connection.exec_driver_sql(f"PRAGMA {name}").scalar()


def recording_row(recording_id: str, created_at: dt.datetime) -> dict[str, object]:
    """The required columns of a recordings row."""
    return {
        "id": recording_id,
        "org_id": "org_test",
        "created_at": created_at,
        "raw": {"id": recording_id},
        "first_seen_at": AWARE,
        "last_seen_at": AWARE,
        "changed_at": AWARE,
        "listing_hash": "0" * 64,
    }


@pytest.fixture
def read_only_file(sqlite_url: str) -> Iterator[Path]:
    """A SQLite database file that cannot be written, even by root."""
    path = sqlite_file(sqlite_url)
    sqlite3.connect(path).close()
    path.chmod(0o444)
    immutable = os.geteuid() == 0
    if immutable:
        made = subprocess.run(["chattr", "+i", str(path)], capture_output=True)
        if made.returncode != 0:
            pytest.skip("running as root, and chattr cannot make the file read-only")

    yield path

    if immutable:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def test_sqlite_file_is_created_private(sqlite_url: str) -> None:
    """A new SQLite file and its WAL companions are readable by the owner only."""
    path = sqlite_file(sqlite_url)
    with Database(sqlite_url) as database:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600

        with database.write() as connection:
            connection.exec_driver_sql("CREATE TABLE probe (id INTEGER)")
            companions = [Path(f"{path}-wal"), Path(f"{path}-shm")]
            modes = {stat.S_IMODE(p.stat().st_mode) for p in companions}

    assert modes == {0o600}


def test_existing_sqlite_file_keeps_its_mode(sqlite_url: str) -> None:
    """Opening an existing file leaves its permissions as the owner set them."""
    path = sqlite_file(sqlite_url)
    sqlite3.connect(path).close()
    path.chmod(0o640)

    with Database(sqlite_url) as database:
        database.revision()

    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_relative_sqlite_url_is_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """sqlite:///name.db names a file in the current directory."""
    monkeypatch.chdir(tmp_path)
    with Database("sqlite:///relative.db") as database:
        assert database.revision() is None

    assert (tmp_path / "relative.db").is_file()


def test_sqlite_connections_are_set_up_for_one_writer_many_readers(
    sqlite_url: str,
) -> None:
    """Every SQLite connection runs in WAL mode with the safety pragmas on."""
    with Database(sqlite_url) as database:
        assert pragma(database, "journal_mode") == "wal"
        assert pragma(database, "busy_timeout") == 30000
        assert pragma(database, "foreign_keys") == 1
        assert pragma(database, "synchronous") == 1


def test_busy_timeout_is_configurable(sqlite_url: str) -> None:
    """The busy timeout given to the constructor reaches every connection."""
    with Database(sqlite_url, busy_timeout_ms=1234) as database:
        assert pragma(database, "busy_timeout") == 1234


def test_write_raises_database_locked_while_another_writer_holds_the_lock(
    sqlite_url: str,
) -> None:
    """write() waits the busy timeout for another writer, then gives up."""
    with Database(sqlite_url, busy_timeout_ms=200) as database:
        database.upgrade()
        other = sqlite3.connect(sqlite_file(sqlite_url), isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        started = time.monotonic()
        try:
            with pytest.raises(DatabaseLocked) as raised, database.write():
                pass
        finally:
            other.close()

    assert time.monotonic() - started >= 0.2
    assert "locked" in str(raised.value)
    assert raised.value.url == database.display_url


def test_write_succeeds_once_the_other_writer_is_done(sqlite_url: str) -> None:
    """A write refused for a lock works again when the lock is released."""
    with Database(sqlite_url, busy_timeout_ms=50) as database:
        database.upgrade()
        other = sqlite3.connect(sqlite_file(sqlite_url), isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(DatabaseLocked), database.write():
            pass
        other.close()

        with database.write() as connection:
            connection.execute(sa.insert(recordings), recording_row("rec_1", AWARE))
        assert pragma(database, "foreign_keys") == 1


def test_concurrent_writers_take_turns(sqlite_url: str) -> None:
    """Writers in several threads wait for each other; no update is lost."""
    with Database(sqlite_url) as database:
        database.upgrade()
        with database.write() as connection:
            connection.execute(sa.insert(recordings), recording_row("rec_1", AWARE))

        def increment(times: int) -> None:
            for _ in range(times):
                with database.write() as connection:
                    count = connection.execute(
                        sa.select(recordings.c.segment_count)
                    ).scalar()
                    connection.execute(
                        sa.update(recordings).values(segment_count=(count or 0) + 1)
                    )

        threads = [threading.Thread(target=increment, args=(25,)) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        with database.read() as connection:
            total = connection.execute(sa.select(recordings.c.segment_count)).scalar()
    assert total == 100


def test_read_proceeds_while_another_writer_holds_the_lock(
    sqlite_url: str,
) -> None:
    """Readers are not blocked by a writer, thanks to WAL."""
    with Database(sqlite_url, busy_timeout_ms=200) as database:
        database.upgrade()
        other = sqlite3.connect(sqlite_file(sqlite_url), isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            with database.read() as connection:
                count = connection.execute(
                    sa.select(sa.func.count()).select_from(recordings)
                ).scalar()
        finally:
            other.close()

    assert count == 0


def test_write_takes_the_write_lock_at_once(sqlite_url: str) -> None:
    """Inside write(), another connection cannot start writing."""
    with Database(sqlite_url) as database, database.write():
        other = sqlite3.connect(sqlite_file(sqlite_url), timeout=0)
        try:
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
        finally:
            other.close()


def test_read_only_file_raises_database_unavailable(read_only_file: Path) -> None:
    """A database file that cannot be written is reported as unavailable."""
    with (
        Database(f"sqlite:///{read_only_file}") as database,
        pytest.raises(DatabaseUnavailable, match="read-only"),
    ):
        database.upgrade()


def test_corrupt_file_raises_database_unavailable(sqlite_url: str) -> None:
    """A file that is not a SQLite database is reported as unavailable."""
    sqlite_file(sqlite_url).write_bytes(b"this is no database\x00\xff" * 512)

    with Database(sqlite_url) as database, pytest.raises(DatabaseUnavailable) as raised:
        database.revision()

    assert "not a database" in str(raised.value)
    assert sqlite_url in str(raised.value)


def test_folder_in_place_of_the_file_raises_database_unavailable(
    tmp_path: Path,
) -> None:
    """A URL naming a folder instead of a file is reported as unavailable."""
    with (
        Database(f"sqlite:///{tmp_path}") as database,
        pytest.raises(DatabaseUnavailable, match="cannot be opened"),
    ):
        database.revision()


def test_missing_parent_directory_raises_database_unavailable(tmp_path: Path) -> None:
    """A SQLite path in a folder that does not exist fails at once, naming it."""
    folder = tmp_path / "missing"

    with pytest.raises(DatabaseUnavailable, match="does not exist") as raised:
        Database(f"sqlite:///{folder / 'mirror.db'}")

    assert str(folder) in str(raised.value)


@pytest.mark.parametrize(
    "url",
    [
        "mysql://user@localhost/mirror",
        "postgresql+psycopg2://postgres@localhost/mirror",
        "sqlite://",
        "sqlite:///:memory:",
        "not a url at all",
    ],
)
def test_unsupported_url_raises_config_error(url: str) -> None:
    """A URL that names no supported database is a configuration problem."""
    with pytest.raises(ConfigError, match="expected sqlite:///"):
        Database(url)


def test_plain_postgresql_url_uses_psycopg_3() -> None:
    """postgresql:// URLs are served by the psycopg 3 driver."""
    database = Database("postgresql://postgres@127.0.0.1:1/mirror")

    assert database.dialect == "postgresql"
    assert database.engine.dialect.driver == "psycopg"
    database.close()


def test_display_url_hides_the_password() -> None:
    """The URL shown in messages and logs masks the password."""
    database = Database("postgresql+psycopg://mirror:s3cret@127.0.0.1:1/mirror")

    assert database.url == "postgresql+psycopg://mirror:s3cret@127.0.0.1:1/mirror"
    assert database.display_url == "postgresql+psycopg://mirror:***@127.0.0.1:1/mirror"
    database.close()


def test_unreachable_postgres_raises_database_unavailable() -> None:
    """A server that refuses connections is unavailable; the password stays out."""
    with (
        Database("postgresql://mirror:s3cret@127.0.0.1:1/mirror") as database,
        pytest.raises(DatabaseUnavailable) as raised,
    ):
        database.revision()

    assert "cannot connect" in str(raised.value)
    assert "s3cret" not in str(raised.value)
    assert isinstance(raised.value.__cause__, sa.exc.OperationalError)


def test_store_errors_are_mirror_errors_not_sqlalchemy_ones(database: Database) -> None:
    """A statement the database refuses surfaces as a StoreError."""
    orphan = {"recording_id": "missing", "position": 0, "text": "hello"}

    with pytest.raises(StoreError) as raised, database.write() as connection:
        connection.execute(sa.insert(transcript_segments), orphan)

    assert isinstance(raised.value, MirrorError)
    assert not isinstance(raised.value, sa.exc.SQLAlchemyError)


def test_utc_datetime_round_trips_as_aware_utc(database: Database) -> None:
    """A timestamp in any zone comes back as the same instant, aware, in UTC."""
    tokyo = AWARE.astimezone(dt.timezone(dt.timedelta(hours=9)))
    with database.write() as connection:
        connection.execute(sa.insert(recordings), recording_row("rec_1", tokyo))

    with database.read() as connection:
        created_at = connection.execute(sa.select(recordings.c.created_at)).scalar()

    assert created_at == AWARE
    assert created_at.tzinfo is dt.UTC


def test_utc_datetime_refuses_naive_timestamps(database: Database) -> None:
    """A naive datetime is a ValueError, not a silently assumed zone."""
    naive = AWARE.replace(tzinfo=None)

    with pytest.raises(ValueError, match="naive"), database.write() as connection:
        connection.execute(sa.insert(recordings), recording_row("rec_1", naive))


def test_write_commits_when_the_block_ends(database: Database) -> None:
    """What a write() block wrote is there for the next reader."""
    with database.write() as connection:
        connection.execute(sa.insert(recordings), recording_row("rec_1", AWARE))

    with database.read() as connection:
        ids = connection.execute(sa.select(recordings.c.id)).scalars().all()
    assert ids == ["rec_1"]


def test_write_rolls_back_when_the_block_raises(database: Database) -> None:
    """An exception inside write() leaves nothing of the block behind."""
    with pytest.raises(RuntimeError), database.write() as connection:
        connection.execute(sa.insert(recordings), recording_row("rec_1", AWARE))
        raise RuntimeError("changed my mind")

    with database.read() as connection:
        count = connection.execute(
            sa.select(sa.func.count()).select_from(recordings)
        ).scalar()
    assert count == 0


def test_sync_run_ids_are_assigned_by_the_database(database: Database) -> None:
    """Inserting a sync run without an id gets one, on both backends."""
    run = {
        "org_id": "org_test",
        "kind": "backfill",
        "started_at": AWARE,
        "outcome": "running",
    }
    with database.write() as connection:
        first = connection.execute(sa.insert(sync_runs), run).inserted_primary_key
        second = connection.execute(sa.insert(sync_runs), run).inserted_primary_key

    assert first is not None and second is not None
    assert second[0] > first[0]


@pytest.mark.postgres
def test_missing_postgres_database_raises_database_unavailable(
    postgres_admin: sa.Engine,
) -> None:
    """A database the server does not have is unavailable, saying so."""
    url = postgres_admin.url.set(database="pocket_mirror_no_such_database")

    with (
        Database(url.render_as_string(hide_password=False)) as database,
        pytest.raises(DatabaseUnavailable, match="does not exist"),
    ):
        database.revision()


@pytest.mark.postgres
def test_postgres_lock_timeout_raises_database_locked(postgres_url: str) -> None:
    """A PostgreSQL lock held past the lock_timeout is reported as locked."""
    impatient = (
        sa.make_url(postgres_url)
        .update_query_dict({"options": "-c lock_timeout=100"})
        .render_as_string(hide_password=False)
    )
    with Database(postgres_url) as holder, Database(impatient) as waiter:
        holder.upgrade()
        with holder.write() as connection:
            connection.exec_driver_sql("LOCK TABLE recordings IN ACCESS EXCLUSIVE MODE")
            with pytest.raises(DatabaseLocked), waiter.write() as blocked:
                blocked.execute(sa.insert(recordings), recording_row("rec_1", AWARE))
