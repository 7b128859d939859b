"""Opening the mirror database, keeping its schema current, and translating
its failures into the store's errors.

Everything that touches a connection goes through a :class:`Database`: it
knows the two supported backends, sets SQLite up for one writer among many
readers (WAL, a busy timeout, ``BEGIN IMMEDIATE`` for writes so that two
writers never deadlock upgrading their locks), runs the Alembic migrations
shipped as ``mirror.migrations``, and turns SQLAlchemy's exceptions into the
classes of :mod:`mirror.errors` so that nothing above the store sees them.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import sqlalchemy as sa
import structlog
from alembic.command import upgrade as run_upgrade
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, Connection, Engine

from mirror import jsoncodec
from mirror.errors import (
    ConfigError,
    DatabaseLocked,
    DatabaseUnavailable,
    SchemaOutdated,
    StoreError,
)

log = structlog.get_logger(__name__)

# JSON columns (the raw payloads) are written and read through orjson.
JSON_CODEC: dict[str, Any] = {
    "json_serializer": jsoncodec.dumps,
    "json_deserializer": jsoncodec.loads,
}

SchemaState = Literal["empty", "outdated", "current", "ahead"]

DEFAULT_BUSY_TIMEOUT_MS = 30_000

# Seconds a PostgreSQL connection attempt may take before it counts as failed.
PG_CONNECT_TIMEOUT_S = 10

# Any fixed number: PostgreSQL advisory locks are named by a 64-bit integer.
MIGRATION_LOCK_KEY = 0x706F636B65746D69

# The execution option that tells the SQLite "begin" hook which BEGIN to emit.
BEGIN_OPTION = "mirror_sqlite_begin"

SUPPORTED_URLS = "sqlite:///path/to/mirror.db or postgresql+psycopg://user@host/dbname"

# Fragments of SQLite's error messages, checked in order, with the sentence we
# say instead. SQLite reports these conditions only as text.
SQLITE_FAILURES: tuple[tuple[str, type[StoreError], str], ...] = (
    ("locked", DatabaseLocked, "the database is locked by another connection"),
    ("busy", DatabaseLocked, "the database is busy in another connection"),
    ("readonly", DatabaseUnavailable, "the database is read-only"),
    ("read-only", DatabaseUnavailable, "the database is read-only"),
    ("unable to open", DatabaseUnavailable, "the database file cannot be opened"),
    ("disk i/o error", DatabaseUnavailable, "a disk I/O error occurred"),
    ("database or disk is full", DatabaseUnavailable, "the disk is full"),
    ("file is not a database", DatabaseUnavailable, "the file is not a database"),
    ("malformed", DatabaseUnavailable, "the database file is malformed"),
)

# PostgreSQL SQLSTATE codes (or their two-character classes) and what they mean
# for us; connection failures carry no SQLSTATE at all.
POSTGRES_FAILURES: dict[str, tuple[type[StoreError], str]] = {
    "55P03": (DatabaseLocked, "a lock is held by another connection"),
    "40P01": (DatabaseLocked, "a deadlock with another connection was detected"),
    "25006": (DatabaseUnavailable, "the database is read-only"),
    "08": (DatabaseUnavailable, "the connection to the server failed"),
    "53": (DatabaseUnavailable, "the server ran out of resources"),
    "57": (DatabaseUnavailable, "the server is shutting down or not accepting"),
    "3D": (DatabaseUnavailable, "the database does not exist"),
    "28": (DatabaseUnavailable, "the server refused the credentials"),
}


class Database:
    """An open mirror database, SQLite or PostgreSQL.

    Args:
        url: a SQLAlchemy URL, ``sqlite:///relative.db``,
            ``sqlite:////absolute/path.db`` or ``postgresql[+psycopg]://...``.
        busy_timeout_ms: how long a SQLite connection waits for another
            writer's lock before giving up with :class:`DatabaseLocked`.
        migrations: the folder of Alembic migrations to apply; the ones
            installed with pocket-mirror unless given.

    Raises:
        ConfigError: the URL names no supported database.
        DatabaseUnavailable: the SQLite file cannot be created.
    """

    def __init__(
        self,
        url: str,
        *,
        busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS,
        migrations: Path | None = None,
    ) -> None:
        parsed = parse_url(url)
        self.url = url
        self.display_url = sa.make_url(url).render_as_string(hide_password=True)
        self.dialect = parsed.get_backend_name()
        self.migrations = migrations_folder() if migrations is None else migrations

        if self.dialect == "sqlite":
            create_sqlite_file(sqlite_path(parsed), self.display_url)
            self.engine = create_sqlite_engine(parsed, busy_timeout_ms)
        else:
            self.engine = create_postgres_engine(parsed)

    def __repr__(self) -> str:
        return f"Database({self.display_url!r})"

    def __enter__(self) -> Database:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        """A transaction for reading, committed when the block ends."""
        with self.translate_errors(), self.engine.begin() as connection:
            yield connection

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        """A transaction for writing, committed when the block ends.

        On SQLite it starts with ``BEGIN IMMEDIATE``, taking the write lock at
        once, so a second writer waits (up to the busy timeout) instead of
        failing halfway through.
        """
        with (
            self.translate_errors(),
            self.engine.connect() as connection,
            begin_writing(connection),
        ):
            yield connection

    @contextlib.contextmanager
    def migrating(self) -> Iterator[Connection]:
        """A write transaction for migrations, taken by one migrator at a time.

        SQLite alters a table by building a new copy and dropping the old
        one, which enforced foreign keys would refuse for a referenced table;
        so they are off while migrating and checked before the commit.
        PostgreSQL migrators queue on an advisory lock that the commit
        releases, so a second one finds the schema already upgraded.
        """
        with self.translate_errors(), self.engine.connect() as connection:
            if self.dialect == "sqlite":
                with foreign_keys_suspended(connection), begin_writing(connection):
                    yield connection
                    refuse_foreign_key_violations(connection)
            else:
                with begin_writing(connection):
                    lock = sa.func.pg_advisory_xact_lock(MIGRATION_LOCK_KEY)
                    connection.execute(sa.select(lock))
                    yield connection

    @contextlib.contextmanager
    def translate_errors(self) -> Iterator[None]:
        """Turn SQLAlchemy exceptions raised in the block into store errors."""
        try:
            yield
        except sa_exc.SQLAlchemyError as exc:
            mistake = caller_mistake(exc)
            if mistake is not None:
                # The original already tells the whole story; chaining it to
                # SQLAlchemy's wrapper would only repeat it.
                raise mistake from None
            raise translate_error(exc, self.dialect, self.display_url) from exc

    def revision(self) -> str | None:
        """The database's current Alembic revision; None when it has none."""
        with self.read() as connection:
            return current_revision(connection)

    def schema_state(self) -> SchemaState:
        """How the database's schema compares to this version's migrations."""
        revision = self.revision()
        if revision is None:
            return "empty"
        if revision == head_of(self.migrations):
            return "current"
        return "outdated" if revision in known_revisions(self.migrations) else "ahead"

    def upgrade(self) -> tuple[str | None, str]:
        """Migrate the database to the newest schema.

        Returns:
            The revision before and after, e.g. ``(None, "0001")``.

        Raises:
            SchemaOutdated: the database is newer than this version knows.
        """
        with self.migrating() as connection:
            before = current_revision(connection)
            self.refuse_unknown_revision(before)
            config = migration_config(self.migrations, connection)
            run_upgrade(config, "head")
            after = head_of(self.migrations)

        log.info(
            "store.migrated",
            url=self.display_url,
            from_revision=before,
            to_revision=after,
        )
        return before, after

    def ensure_current(self) -> None:
        """Raise SchemaOutdated unless the schema is exactly this version's."""
        revision = self.revision()
        if revision is None:
            raise SchemaOutdated(
                f"the database {self.display_url} has no mirror schema yet",
                url=self.display_url,
            )
        self.refuse_unknown_revision(revision)
        head = head_of(self.migrations)
        if revision != head:
            raise SchemaOutdated(
                f"the database {self.display_url} has schema revision "
                f"{revision}, this version needs {head}",
                url=self.display_url,
            )

    def refuse_unknown_revision(self, revision: str | None) -> None:
        """Raise SchemaOutdated when a newer pocket-mirror migrated the database."""
        if revision is None or revision in known_revisions(self.migrations):
            return
        error = SchemaOutdated(
            f"the database {self.display_url} has schema revision {revision}, "
            "newer than this version knows (it knows up to "
            f"{head_of(self.migrations)})",
            url=self.display_url,
        )
        error.hint = "upgrade pocket-mirror, or use another database"
        raise error

    def close(self) -> None:
        """Close every pooled connection; the Database cannot be used after."""
        self.engine.dispose()


def parse_url(url: str) -> URL:
    """Parse a database URL, settling PostgreSQL on the psycopg 3 driver.

    Raises:
        ConfigError: the URL is malformed or names an unsupported database.
    """
    try:
        parsed = sa.make_url(url)
    except sa_exc.ArgumentError as exc:
        raise ConfigError(
            [f"database.url is not a database URL; expected {SUPPORTED_URLS}"]
        ) from exc

    if parsed.drivername in ("sqlite", "sqlite+pysqlite"):
        return check_sqlite_url(parsed)
    if parsed.drivername in ("postgresql", "postgresql+psycopg"):
        return parsed.set(drivername="postgresql+psycopg")
    raise ConfigError(
        [
            f"database.url uses {parsed.drivername!r}, which pocket-mirror does "
            f"not support; expected {SUPPORTED_URLS}"
        ]
    )


def check_sqlite_url(parsed: URL) -> URL:
    """Refuse SQLite URLs that name no file: an in-memory mirror is lost."""
    if parsed.database in (None, "", ":memory:"):
        raise ConfigError(
            [f"database.url names no SQLite file; expected {SUPPORTED_URLS}"]
        )
    return parsed


def sqlite_path(parsed: URL) -> Path:
    """The file a SQLite URL names, relative to the working directory if so."""
    assert parsed.database is not None
    return Path(parsed.database)


def create_sqlite_file(path: Path, display_url: str) -> None:
    """Create the SQLite file readable by its owner only, if it is missing.

    SQLite gives its ``-wal`` and ``-shm`` files the database file's mode, so
    creating the file ourselves keeps the whole mirror private.
    """
    if path.exists():
        return

    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        return
    except FileNotFoundError as exc:
        raise DatabaseUnavailable(
            f"the folder {path.parent} for the database {display_url} does not "
            "exist; create it first",
            url=display_url,
        ) from exc
    except OSError as exc:
        raise DatabaseUnavailable(
            f"cannot create the database file {path} ({exc.strerror})",
            url=display_url,
        ) from exc


def create_sqlite_engine(parsed: URL, busy_timeout_ms: int) -> Engine:
    """An engine whose connections are set up for WAL and explicit BEGINs."""
    engine = sa.create_engine(parsed, **JSON_CODEC)
    event.listen(engine, "connect", functools.partial(set_pragmas, busy_timeout_ms))
    event.listen(engine, "begin", emit_sqlite_begin)
    return engine


def set_pragmas(busy_timeout_ms: int, dbapi_connection: Any, record: Any) -> None:
    """Configure a new SQLite connection and take its transactions over.

    With the driver's own transaction handling off, SQLAlchemy's "begin"
    event decides what BEGIN to send; the busy timeout comes first so that
    switching to WAL waits for other connections' locks too.
    """
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA synchronous = NORMAL")
    finally:
        cursor.close()


def emit_sqlite_begin(connection: Connection) -> None:
    """Start a SQLite transaction, ``BEGIN IMMEDIATE`` when writing."""
    begin = connection.get_execution_options().get(BEGIN_OPTION, "BEGIN")
    connection.exec_driver_sql(begin)


@contextlib.contextmanager
def begin_writing(connection: Connection) -> Iterator[None]:
    """A transaction for writing on a connection (BEGIN IMMEDIATE on SQLite)."""
    connection.execution_options(**{BEGIN_OPTION: "BEGIN IMMEDIATE"})
    with connection.begin():
        yield


@contextlib.contextmanager
def foreign_keys_suspended(connection: Connection) -> Iterator[None]:
    """Turn SQLite's foreign key enforcement off around a transaction.

    The pragma is a no-op inside a transaction, so it goes straight to the
    driver's connection before SQLAlchemy begins one.
    """
    driver_connection = connection.connection.driver_connection
    assert driver_connection is not None
    driver_connection.execute("PRAGMA foreign_keys = OFF")
    try:
        yield
    finally:
        driver_connection.execute("PRAGMA foreign_keys = ON")


def refuse_foreign_key_violations(connection: Connection) -> None:
    """Raise StoreError, rolling the migration back, if rows lost their parents."""
    violations = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
    if violations:
        raise StoreError(
            f"the migration would leave {len(violations)} rows of table "
            f"{violations[0][0]} pointing at missing rows; nothing was changed"
        )


def create_postgres_engine(parsed: URL) -> Engine:
    """An engine for PostgreSQL that checks pooled connections before use."""
    connect_args: dict[str, Any] = {}
    if "connect_timeout" not in parsed.query:
        connect_args["connect_timeout"] = PG_CONNECT_TIMEOUT_S
    return sa.create_engine(
        parsed, pool_pre_ping=True, connect_args=connect_args, **JSON_CODEC
    )


def caller_mistake(exc: sa_exc.SQLAlchemyError) -> Exception | None:
    """The caller's own error that SQLAlchemy wrapped, if that is what happened.

    A value the caller got wrong (a naive datetime for a UTC column) raises
    in a type's bind processing; SQLAlchemy wraps it in a StatementError.
    """
    if not isinstance(exc, sa_exc.StatementError):
        return None
    if isinstance(exc, sa_exc.DBAPIError):
        return None

    original = exc.orig
    if isinstance(original, Exception) and not isinstance(
        original, sa_exc.SQLAlchemyError
    ):
        return original
    return None


def translate_error(
    exc: sa_exc.SQLAlchemyError, dialect: str, display_url: str
) -> StoreError:
    """The store error to raise instead of a SQLAlchemy exception."""
    error_class, sentence = classify(exc, dialect)
    original = getattr(exc, "orig", None)
    detail = first_line(str(original) if original is not None else str(exc))
    return error_class(f"{sentence} ({display_url}): {detail}", url=display_url)


def classify(exc: sa_exc.SQLAlchemyError, dialect: str) -> tuple[type[StoreError], str]:
    """Which store error a SQLAlchemy exception is, and how to say it."""
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return DatabaseUnavailable, "the connection to the database was lost"
    if dialect == "sqlite":
        return classify_sqlite(exc)
    return classify_postgres(exc)


def classify_sqlite(exc: sa_exc.SQLAlchemyError) -> tuple[type[StoreError], str]:
    """Match SQLite's error text against the conditions we know."""
    text = str(getattr(exc, "orig", exc)).lower()
    for fragment, error_class, sentence in SQLITE_FAILURES:
        if fragment in text:
            return error_class, sentence
    return StoreError, "the database refused a statement"


def classify_postgres(exc: sa_exc.SQLAlchemyError) -> tuple[type[StoreError], str]:
    """Match the SQLSTATE of a psycopg error against the conditions we know."""
    if not isinstance(exc, sa_exc.DBAPIError):
        return StoreError, "the database failed"

    sqlstate = getattr(exc.orig, "sqlstate", None)
    if sqlstate is None and isinstance(exc, sa_exc.OperationalError):
        return DatabaseUnavailable, "cannot connect to the PostgreSQL server"

    code = sqlstate or ""
    known = POSTGRES_FAILURES.get(code) or POSTGRES_FAILURES.get(code[:2])
    return known or (StoreError, "the database refused a statement")


def first_line(text: str, limit: int = 300) -> str:
    """The first line of an error text, cut short if long."""
    line = text.strip().splitlines()[0] if text.strip() else "no detail"
    return line if len(line) <= limit else line[: limit - 3] + "..."


def current_revision(connection: Connection) -> str | None:
    """The Alembic revision recorded in the database on this connection."""
    return MigrationContext.configure(connection).get_current_revision()


def migrations_folder() -> Path:
    """Where the installed migrations (the repository's alembic/) live."""
    try:
        env_script = resources.files("mirror.migrations").joinpath("env.py")
    except ModuleNotFoundError:
        # An editable install cannot map a folder without __init__.py into
        # the regular package mirror, so there the checkout's folder serves.
        return Path(__file__).resolve().parents[2] / "alembic"
    return Path(str(env_script)).parent


def migration_config(folder: Path, connection: Connection | None = None) -> Config:
    """An Alembic configuration built in code, optionally bound to a connection."""
    config = Config()
    config.set_main_option("script_location", str(folder).replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@functools.cache
def load_scripts(folder: Path) -> ScriptDirectory:
    """The migration scripts in a folder, read once."""
    return ScriptDirectory.from_config(migration_config(folder))


def head_revision() -> str:
    """The newest schema revision this version of pocket-mirror knows."""
    return head_of(migrations_folder())


def head_of(folder: Path) -> str:
    """The newest revision in a folder of migrations."""
    head = load_scripts(folder).get_current_head()
    assert head is not None, f"the migrations in {folder} hold no revisions"
    return head


def known_revisions(folder: Path) -> frozenset[str]:
    """Every revision a folder of migrations holds."""
    scripts = load_scripts(folder).walk_revisions()
    return frozenset(script.revision for script in scripts)
