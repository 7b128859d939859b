"""The sweeper lock: one holder per database, gone when its holder dies."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mirror.daemon.lock import FileLock, SweeperLock, sweeper_lock
from mirror.emulator import Emulator
from mirror.store.database import Database

# structlog, unconfigured, would print its events on stdout before the answer.
HOLDER = """
import sys, time, structlog
structlog.configure(logger_factory=structlog.ReturnLoggerFactory())
from mirror.store.database import Database
from mirror.daemon.lock import sweeper_lock
lock = sweeper_lock(Database(sys.argv[1]))
taken = lock.acquire()
print("held" if taken else "busy", flush=True)
time.sleep(60)
"""


@pytest.fixture
def two_locks(database_url: str) -> Iterator[tuple[SweeperLock, SweeperLock]]:
    """Two locks on one database, as two daemons would hold them."""
    first, second = Database(database_url), Database(database_url)
    locks = sweeper_lock(first), sweeper_lock(second)
    yield locks
    for lock in locks:
        lock.release()
    first.close()
    second.close()


def wait_until_free(lock: SweeperLock, seconds: float = 10) -> bool:
    """Try to take the lock until it is free or time runs out."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if lock.acquire():
            return True
        time.sleep(0.05)
    return False


def test_second_holder_is_refused_until_release(
    two_locks: tuple[SweeperLock, SweeperLock],
) -> None:
    """While one holds the lock another cannot take it; after release it can."""
    first, second = two_locks

    assert first.acquire()
    assert not second.acquire()
    assert second.held_elsewhere()

    first.release()
    assert not second.held_elsewhere()
    assert second.acquire()


def test_acquire_is_idempotent_for_the_holder(
    two_locks: tuple[SweeperLock, SweeperLock],
) -> None:
    """Asking again for a lock already held keeps it, and says so."""
    first, second = two_locks

    assert first.acquire()
    assert first.acquire()
    assert not first.held_elsewhere()
    assert not second.acquire()


def test_looking_does_not_take_the_lock(
    two_locks: tuple[SweeperLock, SweeperLock],
) -> None:
    """Finding out whether a daemon holds the lock leaves it free to take."""
    first, second = two_locks

    assert not first.held_elsewhere()
    assert second.acquire()


def test_lock_dies_with_its_process(database_url: str) -> None:
    """A holder killed with SIGKILL leaves no lock behind."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, database_url], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        assert "held" in holder.stdout.readline()
        with Database(database_url) as database:
            lock = sweeper_lock(database)
            assert lock.held_elsewhere()
            assert not lock.acquire()

            holder.kill()
            holder.wait(timeout=10)
            assert wait_until_free(lock)
            lock.release()
    finally:
        holder.kill()
        holder.wait(timeout=10)
        if holder.stdout is not None:
            holder.stdout.close()


def test_sqlite_lock_is_a_private_file_beside_the_database(sqlite_url: str) -> None:
    """On SQLite the lock is mirror.db.lock, readable by its owner only."""
    with Database(sqlite_url) as database:
        lock = sweeper_lock(database)
        assert isinstance(lock, FileLock)
        assert lock.acquire()

        assert lock.path.name == "mirror.db.lock"
        assert lock.path.stat().st_mode & 0o777 == 0o600
        lock.release()


def test_holder_knows_when_its_lock_is_gone(database_url: str) -> None:
    """A lock still held says so; one released, or whose PostgreSQL session
    was ended, does not."""
    with Database(database_url) as database:
        lock = sweeper_lock(database)
        assert not lock.still_held()
        assert lock.acquire()
        assert lock.still_held()

        if database.dialect == "postgresql":
            with database.engine.connect() as other:
                other.exec_driver_sql(
                    "SELECT pg_terminate_backend(pid) FROM pg_locks "
                    "WHERE locktype = 'advisory' AND pid <> pg_backend_pid()"
                )
                other.commit()
            assert not lock.still_held()
        lock.release()
        assert not lock.still_held()


def test_sync_refuses_to_sweep_beside_a_daemon(
    tmp_path: Path, emulator: Emulator
) -> None:
    """`pocket-mirror sync` exits 1 while another process holds the sweeper lock."""
    from tests.test_cli import human_lines, run_cli, write_config

    emulator.generate(5)
    mirror_file = tmp_path / "mirror.db"
    config = write_config(
        tmp_path / "c.toml", base_url=emulator.url, org_id="org_test", db=mirror_file
    )
    assert run_cli("migrate", config=config).returncode == 0

    with Database(f"sqlite:///{mirror_file}") as database:
        lock = sweeper_lock(database)
        assert lock.acquire()
        try:
            refused = run_cli("sync", "--tier", "hot", config=config)
        finally:
            lock.release()
        allowed = run_cli("sync", "--tier", "hot", config=config)

    assert refused.returncode == 1
    assert "another pocket-mirror is sweeping" in human_lines(refused.stderr)[0]
    assert allowed.returncode == 0, allowed.stderr
