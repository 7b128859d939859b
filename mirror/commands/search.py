"""``pocket-mirror search``: find what was said, in which recording, and when."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import click

from mirror.cli import Context, fails_cleanly
from mirror.query.search import DEFAULT_LIMIT, Hit, SearchFilters, search
from mirror.query.timecodes import minutes_seconds
from mirror.store.database import Database

DAY = click.DateTime(["%Y-%m-%d"])

# Bold on and off; click.echo drops them when stdout is not a terminal.
BOLD, NORMAL = "\x1b[1m", "\x1b[22m"


@click.command("search")
@click.argument("query")
@click.option("--speaker", metavar="NAME", help="Only what this speaker said.")
@click.option("--since", type=DAY, help="Only recordings from this day on (UTC).")
@click.option("--until", type=DAY, help="Only recordings up to this day (UTC).")
@click.option(
    "--include-deleted", is_flag=True, help="Also recordings deleted upstream."
)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=DEFAULT_LIMIT,
    show_default=True,
    help="At most this many hits.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the hits as JSON.")
@click.pass_obj
@fails_cleanly
def command(
    context: Context,
    query: str,
    speaker: str | None,
    since: dt.datetime | None,
    until: dt.datetime | None,
    include_deleted: bool,
    limit: int,
    as_json: bool,
) -> None:
    """Search transcripts, titles and summaries for QUERY.

    Every word must match; words in double quotes must match as a phrase.
    Any other character is text to find, not syntax. Hits come newest
    recording first.
    """
    if since and until and since > until:
        raise click.UsageError("--since must not be after --until")
    filters = SearchFilters(
        speaker=speaker,
        since=since.date() if since else None,
        until=until.date() if until else None,
        include_deleted=include_deleted,
        limit=limit,
    )

    settings = context.settings()
    with Database(settings.database.url) as database:
        database.ensure_current()
        hits = search(database, query, filters)

    if as_json:
        click.echo(json.dumps([hit_document(hit) for hit in hits], ensure_ascii=False))
        return
    for hit in hits:
        click.echo(describe(hit))
    if not hits:
        click.echo("no hits", err=True)


def describe(hit: Hit) -> str:
    """Two lines for a person: the recording, then where and what matched."""
    day = hit.created_at.strftime("%Y-%m-%d %H:%M")
    deleted = f" (deleted: {hit.deletion})" if hit.deletion else ""
    heading = f"{day}  {hit.title or '(untitled)'}  [{hit.recording_id}]{deleted}"
    snippet = hit.snippet.render(BOLD, NORMAL)

    if hit.field != "transcript":
        return f"{heading}\n    {hit.field}: {snippet}"
    speaker = f"{hit.speaker}: " if hit.speaker else ""
    return f"{heading}\n    {minutes_seconds(hit.start_seconds)}  {speaker}{snippet}"


def hit_document(hit: Hit) -> dict[str, Any]:
    """A hit as JSON: the marks are ``[start, end)`` offsets into ``snippet``."""
    return {
        "recording_id": hit.recording_id,
        "title": hit.title,
        "created_at": hit.created_at.isoformat(),
        "deletion": hit.deletion,
        "field": hit.field,
        "speaker": hit.speaker,
        "start_seconds": hit.start_seconds,
        "time": None
        if hit.start_seconds is None
        else minutes_seconds(hit.start_seconds),
        "position": hit.position,
        "snippet": hit.snippet.text,
        "highlights": [list(mark) for mark in hit.snippet.marks],
    }
