"""``pocket-mirror migrate``: bring the database to the latest schema."""

from __future__ import annotations

import click

from mirror.cli import Context, fails_cleanly
from mirror.store.database import Database


@click.command("migrate")
@click.pass_obj
@fails_cleanly
def command(context: Context) -> None:
    """Upgrade the mirror database to the latest schema."""
    settings = context.settings()
    with Database(settings.database.url) as database:
        before, after = database.upgrade()
    if before == after:
        click.echo(f"{database.display_url} is at the latest schema ({after})")
    else:
        click.echo(
            f"{database.display_url} upgraded from {before or 'empty'} to {after}"
        )
