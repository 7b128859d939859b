"""``pocket-mirror history``: the versions the mirror kept of a recording."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import click

from mirror.cli import Context, fails_cleanly
from mirror.query.history import Version, current_state, list_versions
from mirror.store.database import Database


@click.command("history")
@click.argument("recording_id")
@click.pass_obj
@fails_cleanly
def command(context: Context, recording_id: str) -> None:
    """List the kept versions of RECORDING_ID: what changed, and when.

    Version N is the recording as it was before the N-th change the mirror
    saw; `pocket-mirror restore RECORDING_ID --version N` sends it back.
    """
    settings = context.settings()
    with Database(settings.database.url) as database:
        database.ensure_current()
        versions = list_versions(database, recording_id)
        current = current_state(database, recording_id)
    click.echo(render_history(recording_id, versions, current))


def render_history(
    recording_id: str, versions: list[Version], current: Mapping[str, Any]
) -> str:
    """A table of versions, then the current state."""
    lines = [f"{recording_id}: {len(versions)} kept versions"]
    lines.append(f"  {'version':<8} {'until':<17} {'then changed':<36} title then")
    for version in versions:
        changed = ", ".join(version.changed_fields)
        lines.append(
            f"  {version.number:<8} {when(version.captured_at):<17} "
            f"{changed:<36} {one_line(version.title)}"
        )

    deleted = f" (deleted: {current['deletion']})" if current["deletion"] else ""
    lines.append(
        f"  {'current':<8} {when(current['changed_at']):<17} {'':<36} "
        f"{one_line(current['title'])}{deleted}"
    )
    return "\n".join(lines)


def when(moment: dt.datetime) -> str:
    """A UTC time to the minute."""
    return moment.strftime("%Y-%m-%d %H:%M")


def one_line(text: str | None) -> str:
    """A title on one line, ``(untitled)`` when there is none."""
    return " ".join(text.split()) if text else "(untitled)"
