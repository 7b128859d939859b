"""``pocket-mirror export``: take the mirror elsewhere, as files."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from mirror.cli import Context, fails_cleanly
from mirror.query.export import FORMATS, ExportFormat, ExportReport, export
from mirror.query.records import Selection
from mirror.store.database import Database

DAY = click.DateTime(["%Y-%m-%d"])


@click.command("export")
@click.option(
    "--format",
    "export_format",
    type=click.Choice(FORMATS),
    required=True,
    help="Markdown notes, one JSON Lines file, or SRT or WebVTT subtitles.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="The folder to write into (created if missing).",
)
@click.option("--since", type=DAY, help="Only recordings from this day on (UTC).")
@click.option("--until", type=DAY, help="Only recordings up to this day (UTC).")
@click.option(
    "--include-deleted", is_flag=True, help="Also recordings deleted upstream."
)
@click.option(
    "--prune",
    is_flag=True,
    help="Remove files an earlier export wrote for recordings deleted since.",
)
@click.pass_obj
@fails_cleanly
def command(
    context: Context,
    export_format: ExportFormat,
    out: Path,
    since: dt.datetime | None,
    until: dt.datetime | None,
    include_deleted: bool,
    prune: bool,
) -> None:
    """Write the mirror's recordings into a folder of files.

    Markdown writes one note per recording, with front matter, the summary,
    the action items and the timed transcript; jsonl writes everything the
    mirror holds into recordings.jsonl; srt and vtt write subtitles. Run it
    again to bring the folder up to date: only files whose content changed
    are rewritten, and no file is deleted unless --prune is given.
    """
    if since and until and since > until:
        raise click.UsageError("--since must not be after --until")
    selection = Selection(
        since=since.date() if since else None,
        until=until.date() if until else None,
        include_deleted=include_deleted,
    )

    settings = context.settings()
    with Database(settings.database.url) as database:
        database.ensure_current()
        report = export(database, out, export_format, selection, prune=prune)
    click.echo(summary(report, out))


def summary(report: ExportReport, out: Path) -> str:
    """What the export did, in a line or two."""
    lines = [
        f"exported into {out}: {len(report.written)} written, "
        f"{report.unchanged} unchanged, {len(report.removed)} removed"
    ]
    if report.kept:
        lines.append(
            f"  kept {len(report.kept)} files of recordings deleted since an "
            "earlier export; --prune removes them"
        )
    return "\n".join(lines)
