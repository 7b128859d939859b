"""``pocket-mirror restore``: send an earlier version of a recording back."""

from __future__ import annotations

import asyncio

import click

from mirror.cli import Context, fails_cleanly
from mirror.query.history import Editable, RestorePlan, plan_restore
from mirror.query.restore import restore_version
from mirror.store.database import Database


@click.command("restore")
@click.argument("recording_id")
@click.option(
    "--version",
    "number",
    type=click.IntRange(min=1),
    required=True,
    help="The version to restore (see pocket-mirror history).",
)
@click.option("--yes", is_flag=True, help="Send it; without this, only show it.")
@click.pass_obj
@fails_cleanly
def command(context: Context, recording_id: str, number: int, yes: bool) -> None:
    """Restore the title, description and tags of a version of RECORDING_ID.

    Shows what would be sent with PUT; sends it only with --yes. Updating a
    recording needs a token with the admin role. The restore is recorded in
    the mirror's history as a new version.
    """
    settings = context.settings()
    with Database(settings.database.url) as database:
        database.ensure_current()
        plan = plan_restore(database, recording_id, number)
        click.echo(describe(plan))
        if not yes:
            click.echo("nothing was sent; run again with --yes to send it")
            return

        token = context.token(settings)
        recorded = asyncio.run(restore_version(settings, token, database, plan))
    click.echo(
        f"restored version {number} of {recording_id}"
        + ("; recorded as a new version" if recorded else "; nothing changed")
    )


def describe(plan: RestorePlan) -> str:
    """What PUT would carry, field by field, beside what the mirror holds."""
    wanted, current = plan.wanted, plan.current
    lines = [f"restore version {plan.version} of {plan.recording_id} sends with PUT:"]
    lines.append(field_line("title", wanted.title, current.title))
    lines.append(field_line("description", wanted.description, current.description))
    lines.append(
        f"  tags:        {tag_list(wanted)}"
        + (
            ""
            if sorted(wanted.tags) == sorted(current.tags)
            else f"  (now {tag_list(current)})"
        )
    )
    if not plan.changes_anything:
        lines.append("the service already holds these values")
    return "\n".join(lines)


def field_line(name: str, wanted: str | None, current: str | None) -> str:
    """One field's line: the value sent, and the current one if it differs."""
    label = f"  {name + ':':<12} "
    if wanted is None:
        return f"{label}(not sent: the version has none, and the API cannot clear it)"
    if wanted == current:
        return f"{label}{wanted!r} (unchanged)"
    return f"{label}{wanted!r}  (now {current!r})"


def tag_list(editable: Editable) -> str:
    """Tag ids in brackets; [] for none."""
    return "[" + ", ".join(editable.tags) + "]"
