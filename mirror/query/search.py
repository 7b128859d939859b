"""Full-text search over transcripts, titles and summaries.

SQLite answers from its FTS5 indexes, PostgreSQL from GIN indexes on
``to_tsvector('simple', ...)``; both are built by the migrations and kept in
step with every write. Hits come newest recording first, then in the
recording's own order, the same on either backend. Deleted recordings are
left out unless asked for.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row
from sqlalchemy.sql.elements import ColumnElement

from mirror.query.records import Selection, selection_clauses
from mirror.query.snippet import Snippet, make_snippet
from mirror.query.terms import SearchTerms, fts5_query, parse_terms, words_of
from mirror.store import schema
from mirror.store.database import Database

recordings = schema.recordings
segments = schema.transcript_segments

AnySelect: TypeAlias = sa.Select[*tuple[Any, ...]]

HitField = Literal["title", "summary", "transcript"]

DEFAULT_LIMIT = 20

# Where a kind of hit sorts among the hits of one recording.
_FIELD_ORDER: dict[HitField, int] = {"title": 0, "summary": 1, "transcript": 2}

# PostgreSQL's generated columns of to_tsvector('simple', ...), GIN-indexed;
# they are not in the schema's metadata, which both backends share.
_PG_SEGMENT_VECTOR = "transcript_segments.search_vector"
_PG_RECORDING_VECTOR = "recordings.search_vector"


@dataclass(frozen=True, slots=True)
class SearchFilters:
    """What narrows a search down.

    Args:
        speaker: only segments this speaker said (title and summary hits,
            which have no speaker, are left out then).
        since: only recordings made on this UTC day or later.
        until: only recordings made on this UTC day or earlier.
        include_deleted: also recordings deleted upstream.
        limit: at most this many hits.
    """

    speaker: str | None = None
    since: dt.date | None = None
    until: dt.date | None = None
    include_deleted: bool = False
    limit: int = DEFAULT_LIMIT


@dataclass(frozen=True, slots=True)
class Hit:
    """One place a search matched: a transcript segment, a title or a summary."""

    recording_id: str
    title: str | None
    created_at: dt.datetime
    deletion: str | None
    field: HitField
    snippet: Snippet
    speaker: str | None = None
    start_seconds: float | None = None
    position: int | None = None


def search(
    database: Database, text: str, filters: SearchFilters | None = None
) -> list[Hit]:
    """Find what the user typed, as words and quoted phrases that all match.

    Any text at all is accepted; text without a single word finds nothing.
    """
    filters = filters or SearchFilters()
    terms = parse_terms(text)
    if not terms.searchable or filters.limit <= 0:
        return []

    with database.read() as connection:
        hits = segment_hits(connection, terms, filters)
        if filters.speaker is None:
            hits += recording_hits(connection, terms, filters)
    return sorted(hits, key=hit_order)[: filters.limit]


def segment_hits(
    connection: Connection, terms: SearchTerms, filters: SearchFilters
) -> list[Hit]:
    """Transcript segments that match, with their recordings."""
    position: ColumnElement[int]
    if connection.dialect.name == "sqlite":
        query = _sqlite_segment_match(_segment_columns(segments), terms)
        query = query.where(*speaker_filter(filters))
        position = segments.c.position
    else:
        matches = _pg_segment_matches(terms, filters)
        query = _segment_columns(matches).select_from(
            matches.join(recordings, recordings.c.id == matches.c.recording_id)
        )
        position = matches.c.position

    query = query.where(*recording_filters(filters))
    query = query.order_by(*_newest_first(), position)
    rows = connection.execute(query.limit(filters.limit))
    return [_segment_hit(row, terms) for row in rows]


def recording_hits(
    connection: Connection, terms: SearchTerms, filters: SearchFilters
) -> list[Hit]:
    """Recordings whose title or summary matches."""
    query: AnySelect = sa.select(
        recordings.c.id,
        recordings.c.title,
        recordings.c.created_at,
        recordings.c.deletion,
        recordings.c.summary_markdown,
    )
    if connection.dialect.name == "sqlite":
        query = _sqlite_recording_match(query, terms)
    else:
        matches = _pg_recording_matches(terms)
        query = query.where(recordings.c.id.in_(sa.select(matches.c.id)))

    query = query.where(*recording_filters(filters)).order_by(*_newest_first())
    rows = connection.execute(query.limit(filters.limit))
    return [_recording_hit(row, terms) for row in rows]


def recording_filters(filters: SearchFilters) -> list[ColumnElement[bool]]:
    """The conditions on recordings: deletion and the day range."""
    selection = Selection(filters.since, filters.until, filters.include_deleted)
    return selection_clauses(selection)


def speaker_filter(filters: SearchFilters) -> list[ColumnElement[bool]]:
    """The condition on the speaker: as written, or differing only in case."""
    if filters.speaker is None:
        return []
    name = filters.speaker
    return [
        sa.or_(
            segments.c.speaker == name,
            sa.func.lower(segments.c.speaker) == sa.func.lower(name),
        )
    ]


def hit_order(hit: Hit) -> tuple[Any, ...]:
    """Newest recording first; in a recording, title, summary, then segments."""
    return (
        -hit.created_at.timestamp(),
        hit.recording_id,
        _FIELD_ORDER[hit.field],
        hit.position or 0,
    )


def _sqlite_segment_match(query: AnySelect, terms: SearchTerms) -> AnySelect:
    index = sa.table("transcript_segments_fts", sa.column("rowid"))
    rowid: ColumnElement[int] = sa.literal_column("transcript_segments.rowid")
    match = sa.text("transcript_segments_fts MATCH :segment_match")
    return (
        query.select_from(index)
        .join(segments, rowid == index.c.rowid)
        .join(recordings, recordings.c.id == segments.c.recording_id)
        .where(match.bindparams(segment_match=fts5_query(terms)))
    )


def _sqlite_recording_match(query: AnySelect, terms: SearchTerms) -> AnySelect:
    index = sa.table("recordings_fts", sa.column("rowid"))
    rowid: ColumnElement[int] = sa.literal_column("recordings.rowid")
    match = sa.text("recordings_fts MATCH :recording_match")
    return (
        query.select_from(index)
        .join(recordings, rowid == index.c.rowid)
        .where(match.bindparams(recording_match=fts5_query(terms)))
    )


def _segment_columns(source: Any) -> AnySelect:
    return sa.select(
        recordings.c.id,
        recordings.c.title,
        recordings.c.created_at,
        recordings.c.deletion,
        source.c.position,
        source.c.speaker,
        source.c.start_seconds,
        source.c.text,
    )


# The matches are collected from the GIN index first, then ordered. Left to
# itself, the planner may walk recordings newest first hoping to meet the
# limit early, which for a word that occurs rarely or never reads the whole
# mirror.
def _pg_segment_matches(terms: SearchTerms, filters: SearchFilters) -> sa.CTE:
    query = sa.select(segments).where(
        _pg_match(_PG_SEGMENT_VECTOR, terms), *speaker_filter(filters)
    )
    return query.cte("segment_matches").prefix_with("MATERIALIZED")


def _pg_recording_matches(terms: SearchTerms) -> sa.CTE:
    query = sa.select(recordings.c.id).where(_pg_match(_PG_RECORDING_VECTOR, terms))
    return query.cte("recording_matches").prefix_with("MATERIALIZED")


def _pg_match(vector: str, terms: SearchTerms) -> ColumnElement[bool]:
    # phraseto_tsquery reads its argument as plain text, never as syntax;
    # '&&' requires every term.
    config: ColumnElement[Any] = sa.literal_column("'simple'::regconfig")
    queries: list[ColumnElement[Any]] = [
        sa.func.phraseto_tsquery(config, term) for term in terms.terms if words_of(term)
    ]
    combined = functools.reduce(lambda left, right: left.op("&&")(right), queries)
    return sa.literal_column(vector).op("@@", return_type=sa.Boolean)(combined)


def _newest_first() -> tuple[Any, ...]:
    return recordings.c.created_at.desc(), recordings.c.id


def _segment_hit(row: Row[Any], terms: SearchTerms) -> Hit:
    return Hit(
        recording_id=row.id,
        title=row.title,
        created_at=row.created_at,
        deletion=row.deletion,
        field="transcript",
        snippet=make_snippet(row.text, terms.words),
        speaker=row.speaker,
        start_seconds=row.start_seconds,
        position=row.position,
    )


def _recording_hit(row: Row[Any], terms: SearchTerms) -> Hit:
    title_snippet = make_snippet(row.title or "", terms.words)
    in_title = bool(title_snippet.marks) or not row.summary_markdown
    return Hit(
        recording_id=row.id,
        title=row.title,
        created_at=row.created_at,
        deletion=row.deletion,
        field="title" if in_title else "summary",
        snippet=title_snippet
        if in_title
        else make_snippet(row.summary_markdown, terms.words),
    )
