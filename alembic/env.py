"""Runs pocket-mirror's migrations for Alembic.

pocket-mirror itself calls Alembic with an open connection (in
``config.attributes["connection"]``), inside the write transaction of a
:class:`mirror.store.database.Database`, so a migration commits whole or not
at all. Developers running the ``alembic`` command instead pass the database
as ``-x url=...`` or ``sqlalchemy.url``; the connection then comes from a
``Database`` too, so it gets the same SQLite setup. Logging is left as the
caller configured it.
"""

from __future__ import annotations

from typing import Any, Literal

from alembic.autogenerate.api import AutogenContext
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection

from alembic import context
from mirror.store.database import Database
from mirror.store.schema import UTCDateTime, described_here, metadata


def configured_url() -> str:
    """The database URL given on the command line or in the configuration."""
    url = context.get_x_argument(as_dictionary=True).get("url")
    url = url or context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("give the database as: alembic -x url=<database url> ...")
    return url


def render_item(
    kind: str, item: Any, autogen_context: AutogenContext
) -> str | Literal[False]:
    """Write our UTC timestamps into new migrations as the type they store.

    A migration is frozen history; it must not change meaning when
    ``mirror.store.schema`` does, so it spells out the plain column type.
    JSONB gets the same plain spelling.
    """
    if kind == "type" and isinstance(item, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    if kind == "type" and isinstance(item, JSONB):
        # Alembic's own rendering names an unimported Text type.
        autogen_context.imports.add("from sqlalchemy.dialects import postgresql")
        return "postgresql.JSONB()"
    return False


def run_migrations(connection: Connection) -> None:
    """Migrate through a connection whose transaction the caller owns."""
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite can alter little in place; batch mode copies the table.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        render_item=render_item,
        include_name=described_here,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    """Write the migrations' SQL out instead of running it (``--sql``)."""
    context.configure(
        url=configured_url(),
        target_metadata=metadata,
        literal_binds=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Migrate the given connection, or open the configured database."""
    connection = context.config.attributes.get("connection")
    if connection is not None:
        run_migrations(connection)
        return

    with Database(configured_url()) as database, database.migrating() as connection:
        run_migrations(connection)


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
