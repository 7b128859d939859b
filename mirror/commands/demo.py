"""``pocket-mirror demo``: see the whole product work in one command.

It starts the emulator on a free loopback port, backfills a few hundred
recordings into a SQLite file, and prints what it did and a few SQL queries
to try, with their answers.
"""

from __future__ import annotations

import asyncio
import secrets
import sqlite3
from pathlib import Path

import click

from mirror.cli import fails_cleanly
from mirror.config import settings_for
from mirror.emulator import Emulator
from mirror.logs import register_secret
from mirror.store.database import Database
from mirror.sync.engine import SweepOptions, Window
from mirror.sync.runner import run_backfill

from .backfill import prepare, summary

QUERIES = (
    (
        "The five newest recordings",
        "SELECT substr(created_at, 1, 16) AS created, title, language "
        "FROM recordings ORDER BY created_at DESC LIMIT 5",
    ),
    (
        "Who speaks most",
        "SELECT speaker, count(*) AS segments, round(sum(end_seconds - start_seconds)) "
        "AS seconds FROM transcript_segments GROUP BY speaker "
        "ORDER BY seconds DESC LIMIT 5",
    ),
    (
        "Recordings per tag",
        "SELECT tag_id, count(*) AS recordings FROM recording_tags "
        "GROUP BY tag_id ORDER BY recordings DESC LIMIT 5",
    ),
)


@click.command("demo")
@click.option("--recordings", type=int, default=300, show_default=True)
@click.option(
    "--database",
    "path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("pocket-mirror-demo.db"),
    show_default=True,
)
@fails_cleanly
def command(recordings: int, path: Path) -> None:
    """Mirror an emulated organization into a local SQLite file."""
    token = f"pk_demo_{secrets.token_hex(8)}"
    register_secret(token)
    emulator = Emulator(org_id="org_demo", token=token, seed=2026)
    emulator.generate(recordings)

    with emulator:
        click.echo(f"emulator serving {recordings} recordings at {emulator.url}")
        settings = settings_for(
            base_url=emulator.url,
            org_id="org_demo",
            database_url=f"sqlite:///{path}",
        )
        with Database(settings.database.url) as database:
            prepare(database)
            report = asyncio.run(
                run_backfill(
                    settings, token, database, window=Window(), options=SweepOptions()
                )
            )
    click.echo(summary(report))
    show_queries(path)


def show_queries(path: Path) -> None:
    """Print a few queries to try on the mirror, with their answers."""
    click.echo(f"\nThe mirror is {path}. A few queries to try on it:")
    with sqlite3.connect(path) as conn:
        for title, sql in QUERIES:
            click.echo(f"\n-- {title}\n{sql};")
            for row in conn.execute(sql):
                click.echo("   " + " | ".join(str(value) for value in row))
