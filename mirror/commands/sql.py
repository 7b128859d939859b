"""``pocket-mirror sql``: ask the mirror a question in SQL, read-only."""

from __future__ import annotations

import click

from mirror.cli import Context, fails_cleanly
from mirror.query.formats import as_csv, as_json, as_table
from mirror.query.sql import open_for_reading, run_read_only

FORMATS = {"table": as_table, "csv": as_csv, "json": as_json}


@click.command("sql")
@click.argument("statement")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(list(FORMATS)),
    default="table",
    show_default=True,
    help="How to print the rows.",
)
@click.pass_obj
@fails_cleanly
def command(context: Context, statement: str, output_format: str) -> None:
    """Run one SQL STATEMENT on the mirror through a read-only connection.

    A statement that tries to write is refused by the database and changes
    nothing. The views live_recordings, recording_transcripts and
    recordings_with_tags answer common questions in one line.
    """
    settings = context.settings()
    with open_for_reading(settings.database.url) as database:
        result = run_read_only(database, statement)
    click.echo(FORMATS[output_format](result), nl=output_format != "csv")
