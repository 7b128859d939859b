"""One sweeper per mirror: a lock that dies with the process holding it.

Two daemons pointed at one database would sweep the same organization
twice over and fight over its rows, so a daemon sweeps only while it holds
the database's sweeper lock. Both kinds of lock are released by the
operating system or the server when their holder dies, however it dies, so
a crashed daemon never leaves a stale lock behind:

- On SQLite, an exclusive ``flock`` on a file beside the database
  (``mirror.db.lock`` next to ``mirror.db``). The kernel drops it when the
  last descriptor closes, which a dead process does at once. It is a file of
  its own because SQLite takes POSIX locks on the database file, and a
  second descriptor on that file closed by this process would silently
  release SQLite's locks too. The file is never deleted: a new one made
  while an old one is held would let two holders in.
- On PostgreSQL, a session advisory lock taken on a dedicated connection;
  the server releases it when that session ends, including when its
  client vanishes.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa
import structlog

from mirror.errors import DatabaseUnavailable, StoreError
from mirror.store.database import Database, parse_url, sqlite_path, translate_error

log = structlog.get_logger(__name__)

# Any fixed number other than the migration lock's: it names the sweeper lock
# in PostgreSQL's space of advisory locks of the current database.
SWEEPER_LOCK_KEY = 0x706F636B65747377

LOCK_SUFFIX = ".lock"


class SweeperLock(Protocol):
    """A lock that at most one process holds for a database at a time."""

    description: str

    def acquire(self) -> bool:
        """Take the lock if it is free; True when this process now holds it."""
        ...

    def held_elsewhere(self) -> bool:
        """Whether another process holds the lock right now."""
        ...

    def still_held(self) -> bool:
        """Whether this process holds the lock it took, still."""
        ...

    def release(self) -> None:
        """Give the lock back (nothing happens if it is not held)."""
        ...


def sweeper_lock(database: Database) -> SweeperLock:
    """The sweeper lock of ``database``, not yet taken."""
    if database.dialect == "sqlite":
        path = sqlite_path(parse_url(database.url))
        return FileLock(Path(f"{path}{LOCK_SUFFIX}"))

    return AdvisoryLock(database.engine, database.display_url)


class FileLock:
    """An exclusive ``flock`` on a file, for a SQLite mirror.

    Args:
        path: the lock file, created (owner-only) when missing.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.description = str(path)
        self._descriptor: int | None = None

    def acquire(self) -> bool:
        """Take the lock if no other process holds it."""
        if self._descriptor is not None:
            return True

        descriptor = self._open()
        if not _try_flock(descriptor, fcntl.LOCK_EX):
            os.close(descriptor)
            return False

        _write_pid(descriptor)
        self._descriptor = descriptor
        log.info("daemon.lock_acquired", lock=self.description)
        return True

    def held_elsewhere(self) -> bool:
        """Whether another process holds the lock, found by asking for a
        shared lock and giving it straight back."""
        if self._descriptor is not None or not self.path.exists():
            return False

        descriptor = self._open()
        try:
            free = _try_flock(descriptor, fcntl.LOCK_SH)
        finally:
            os.close(descriptor)
        return not free

    def still_held(self) -> bool:
        """Whether the lock is held: a flock lasts as long as its descriptor."""
        return self._descriptor is not None

    def release(self) -> None:
        """Close the lock file, which drops the lock."""
        if self._descriptor is None:
            return

        os.close(self._descriptor)
        self._descriptor = None
        log.info("daemon.lock_released", lock=self.description)

    def _open(self) -> int:
        try:
            return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise DatabaseUnavailable(
                f"cannot open the lock file {self.path} ({exc.strerror})",
                url=str(self.path),
            ) from exc


class AdvisoryLock:
    """A PostgreSQL session advisory lock on a connection kept for it alone.

    Args:
        engine: the mirror's engine; one of its connections is set aside.
        display_url: the database, for messages.
    """

    def __init__(self, engine: sa.Engine, display_url: str) -> None:
        self.engine = engine
        self.description = f"advisory lock {SWEEPER_LOCK_KEY} on {display_url}"
        self._display_url = display_url
        self._connection: sa.Connection | None = None

    def acquire(self) -> bool:
        """Take the lock if no other session holds it."""
        if self._connection is not None:
            return True

        connection = self._connect()
        taken = self._ask(connection, sa.func.pg_try_advisory_lock(SWEEPER_LOCK_KEY))
        if not taken:
            connection.close()
            return False

        self._connection = connection
        log.info("daemon.lock_acquired", lock=self.description)
        return True

    def held_elsewhere(self) -> bool:
        """Whether another session holds the lock, read from ``pg_locks``
        without taking it."""
        if self._connection is not None:
            return False

        with self._connect() as connection:
            return self._ask(connection, _held_in_pg_locks(SWEEPER_LOCK_KEY))

    def still_held(self) -> bool:
        """Whether the lock's session still holds it: a server restart or a
        cut connection ends the session, and the lock with it."""
        if self._connection is None:
            return False

        try:
            return self._ask(
                self._connection,
                _held_in_pg_locks(SWEEPER_LOCK_KEY, by_this_session=True),
            )
        except StoreError:
            return False

    def release(self) -> None:
        """End the lock's session, which releases the lock."""
        if self._connection is None:
            return

        connection, self._connection = self._connection, None
        try:
            self._ask(connection, sa.func.pg_advisory_unlock(SWEEPER_LOCK_KEY))
        except StoreError:
            # The session is gone, and its lock went with it.
            log.debug("daemon.lock_session_gone", lock=self.description)
        finally:
            connection.close()
        log.info("daemon.lock_released", lock=self.description)

    def _connect(self) -> sa.Connection:
        try:
            # Autocommit: the lock belongs to the session, and an open
            # transaction left idle for hours would hold back vacuum.
            return self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        except sa.exc.SQLAlchemyError as exc:
            raise self._unavailable(exc) from exc

    def _ask(self, connection: sa.Connection, question: sa.ColumnElement[Any]) -> bool:
        try:
            return bool(connection.execute(sa.select(question)).scalar_one())
        except sa.exc.SQLAlchemyError as exc:
            raise self._unavailable(exc) from exc

    def _unavailable(self, exc: sa.exc.SQLAlchemyError) -> StoreError:
        return translate_error(exc, "postgresql", self._display_url)


def _held_in_pg_locks(
    key: int, *, by_this_session: bool = False
) -> sa.ColumnElement[bool]:
    """A query for whether any session (or the asking one) holds the
    advisory lock ``key``.

    PostgreSQL shows a bigint advisory key split in two: its high half as
    ``classid``, its low half as ``objid``, with ``objsubid`` 1.
    """
    locks = sa.table(
        "pg_locks",
        sa.column("locktype"),
        sa.column("database"),
        sa.column("classid"),
        sa.column("objid"),
        sa.column("objsubid"),
        sa.column("granted"),
        sa.column("pid"),
    )
    databases = sa.table("pg_database", sa.column("oid"), sa.column("datname"))
    current_database = (
        sa.select(databases.c.oid)
        .where(databases.c.datname == sa.func.current_database())
        .scalar_subquery()
    )
    condition = sa.and_(
        locks.c.locktype == "advisory",
        locks.c.database == current_database,
        sa.cast(locks.c.classid, sa.BigInteger) == key >> 32,
        sa.cast(locks.c.objid, sa.BigInteger) == key & 0xFFFFFFFF,
        locks.c.objsubid == 1,
        locks.c.granted,
    )
    if by_this_session:
        condition = sa.and_(condition, locks.c.pid == sa.func.pg_backend_pid())
    return sa.exists().where(condition)


def _try_flock(descriptor: int, kind: int) -> bool:
    try:
        fcntl.flock(descriptor, kind | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _write_pid(descriptor: int) -> None:
    """Leave the holder's pid in the file, for a person wondering who it is."""
    os.ftruncate(descriptor, 0)
    os.pwrite(descriptor, f"{os.getpid()}\n".encode(), 0)
