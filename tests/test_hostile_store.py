"""A hostile machine: the database locked, full, read-only or corrupt.

Each fault must end in one clear sentence and no half-written recording,
and the next run, once the fault is gone, must complete the mirror.
"""

from __future__ import annotations

import resource
import shutil
import signal
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from mirror.emulator import Emulator
from mirror.errors import DatabaseLocked
from mirror.store import schema
from mirror.store.database import Database
from tests.mirror_state import assert_mirror_equals
from tests.test_backfill import backfill
from tests.test_cli import human_lines, run_cli, write_config


@pytest.fixture
def mirror_file(tmp_path: Path) -> Path:
    return tmp_path / "mirror.db"


@pytest.fixture
def config(tmp_path: Path, emulator: Emulator, mirror_file: Path) -> Path:
    emulator.generate(400)
    return write_config(
        tmp_path / "config.toml",
        base_url=emulator.url,
        org_id=emulator.org_id,
        db=mirror_file,
    )


def assert_consistent(path: Path) -> None:
    """Every recording the file holds has all of its segments: no half writes."""
    with Database(f"sqlite:///{path}") as database, database.read() as conn:
        segments = schema.transcript_segments
        query = select(segments.c.recording_id, func.count()).group_by(
            segments.c.recording_id
        )
        counts: dict[str, int] = {r[0]: r[1] for r in conn.execute(query)}
        for row in conn.execute(select(schema.recordings)):
            assert counts.get(row.id, 0) == (row.segment_count or 0), row.id


@pytest.fixture
def held_lock(mirror_file: Path) -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(
        mirror_file, isolation_level=None, timeout=0, check_same_thread=False
    )
    yield connection
    connection.close()


def test_database_locked_mid_run_fails_clearly_then_completes(
    emulator: Emulator, mirror_file: Path, held_lock: sqlite3.Connection
) -> None:
    """Another writer holding the database stops the run; the next one finishes."""
    emulator.generate(350)
    with Database(f"sqlite:///{mirror_file}", busy_timeout_ms=200) as database:
        database.upgrade()

        def lock_at_page_three(number: int) -> None:
            if number == 3 and not held_lock.in_transaction:
                held_lock.execute("BEGIN IMMEDIATE")

        emulator.before_list_page = lock_at_page_three
        with pytest.raises(DatabaseLocked):
            backfill(emulator, database)
        held_lock.execute("ROLLBACK")
        emulator.before_list_page = None
        assert_consistent(mirror_file)

        backfill(emulator, database)
        assert_mirror_equals(database, emulator)


def test_disk_full_fails_clearly_then_completes(
    config: Path, mirror_file: Path, emulator: Emulator
) -> None:
    """A file size limit (a full disk) ends in one sentence; the next run completes."""
    assert run_cli("migrate", config=config).returncode == 0
    limit = mirror_file.stat().st_size + 300_000

    def limit_file_size() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    full = run_cli("backfill", config=config, preexec=limit_file_size)

    assert full.returncode == 1
    lines = human_lines(full.stderr)
    assert (len(lines) == 1 and "full" in lines[0]) or "I/O" in lines[0], lines
    assert_consistent(mirror_file)

    assert run_cli("backfill", config=config).returncode == 0
    with Database(f"sqlite:///{mirror_file}") as database:
        assert_mirror_equals(database, emulator)


def test_read_only_database_fails_clearly_then_completes(
    config: Path, mirror_file: Path, emulator: Emulator
) -> None:
    """A database file that cannot be written ends in one sentence."""
    assert run_cli("migrate", config=config).returncode == 0
    if shutil.which("chattr") is None:
        pytest.skip("chattr is needed to make a file read-only for root")
    locked = subprocess.run(["chattr", "+i", str(mirror_file)], capture_output=True)
    if locked.returncode != 0:
        pytest.skip(f"chattr +i is not supported here: {locked.stderr!r}")
    try:
        result = run_cli("backfill", config=config)
    finally:
        subprocess.run(["chattr", "-i", str(mirror_file)], check=True)

    assert result.returncode == 1
    lines = human_lines(result.stderr)
    assert len(lines) == 1, lines
    assert "database.url" in lines[0] or "read" in lines[0]

    assert run_cli("backfill", config=config).returncode == 0
    with Database(f"sqlite:///{mirror_file}") as database:
        assert_mirror_equals(database, emulator)


def test_corrupt_database_fails_clearly(config: Path, mirror_file: Path) -> None:
    """A file that is not a database ends in one sentence naming the database."""
    mirror_file.write_bytes(b"this is not a database file at all " * 200)
    mirror_file.chmod(0o600)

    result = run_cli("backfill", config=config)

    assert result.returncode == 1
    lines = human_lines(result.stderr)
    assert len(lines) == 1, lines
    assert "not a database" in lines[0] or "malformed" in lines[0]
