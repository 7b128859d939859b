"""Full-text search on both backends: right hits, filters honoured, and any
text a user can type taken without an error."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from mirror.api.parse import parse_detail
from mirror.emulator import EmulatedRecording, Emulator, render
from mirror.emulator.fake import LOCALES, TAGS, TRICKY, USERS
from mirror.emulator.records import Segment
from mirror.query.search import Hit, SearchFilters, search
from mirror.query.terms import fts5_query, parse_terms
from mirror.store.database import Database
from mirror.store.recordings import load_known
from mirror.store.writer import DeletionMark, MirrorWriter, RecordingWrite
from tests.fixtures_db import postgres_server_url

INCLUDE = {"transcript", "summary", "action_items"}

# The generated transcripts are cut to this many segments, so that a mirror
# of 5,000 recordings is built in seconds; every kind of text still occurs.
SEGMENTS_KEPT = 12

NEEDLE = "the marmalade contract renews in April"


def write_records(database: Database, records: Iterable[EmulatedRecording]) -> None:
    """Store recordings as a sync would: the emulator's payload, parsed, saved."""
    behaviour = Emulator().behaviour
    writes = []
    for record in records:
        detail = parse_detail(render.detail(record, behaviour, INCLUDE))
        writes.append(RecordingWrite(listed=detail.listed, detail=detail))

    now = dt.datetime.now(dt.UTC)
    for start in range(0, len(writes), 500):
        with database.write() as connection:
            writer = MirrorWriter(connection, org_id="org_test", now=now, run_id=None)
            batch = writes[start : start + 500]
            known = load_known(connection, [w.listed.id for w in batch])
            writer.save(batch, known)


def shortened(emulator: Emulator) -> None:
    """Cut every generated transcript to its first segments."""
    for record in emulator.recordings.values():
        if record.transcript is not None:
            record.transcript = record.transcript[:SEGMENTS_KEPT]


def add_needle(emulator: Emulator) -> EmulatedRecording:
    """A recording with one known phrase, said by Priya at 12:34.2."""
    return emulator.new_recording(
        title="Supplier review",
        created_at=dt.datetime(2025, 6, 3, 15, 0, tzinfo=dt.UTC),
        transcript=[
            Segment("Chen", "Let's go over this week's priorities.", 0.0, 4.5),
            Segment("Priya", f"I checked: {NEEDLE}.", 754.2, 760.0),
        ],
    )


@pytest.fixture(scope="module")
def emulated() -> Emulator:
    """5,000 generated recordings and the needle, not served: nothing fetches."""
    emulator = Emulator(org_id="org_test", seed=11)
    emulator.generate(5000)
    shortened(emulator)
    add_needle(emulator)
    return emulator


@pytest.fixture(
    scope="module",
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ],
)
def big_mirror(
    request: pytest.FixtureRequest,
    emulated: Emulator,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Database]:
    """A mirror of the 5,000 recordings, built once per backend."""
    with module_database(request.param, tmp_path_factory) as url:
        database = Database(url)
        database.upgrade()
        write_records(database, emulated.recordings.values())
        yield database
        database.close()


@contextlib.contextmanager
def module_database(backend: str, factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database URL for one module: a SQLite file, or a PostgreSQL database."""
    if backend == "sqlite":
        yield f"sqlite:///{factory.mktemp('mirror') / 'mirror.db'}"
        return

    server = postgres_server_url()
    name = f"pocket_mirror_test_{uuid.uuid4().hex[:16]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE template0')
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
        admin.dispose()


def live_segments(
    emulator: Emulator,
) -> Iterator[tuple[EmulatedRecording, int, Segment]]:
    """Every segment of every live recording, with its position."""
    for record in emulator.recordings.values():
        if record.deleted_at is None:
            for position, segment in enumerate(record.transcript or []):
                yield record, position, segment


def segment_hits(hits: list[Hit]) -> list[Hit]:
    """The hits in transcripts, leaving out titles and summaries."""
    return [hit for hit in hits if hit.field == "transcript"]


def everything(**filters: object) -> SearchFilters:
    """Filters with a limit that no test reaches."""
    return SearchFilters(limit=1_000_000, **filters)  # type: ignore[arg-type]


def test_search_finds_a_phrase_with_its_recording_speaker_and_time(
    big_mirror: Database, emulated: Emulator
) -> None:
    """A quoted phrase finds its one segment: the recording, speaker and time."""
    needle = next(
        r for r in emulated.recordings.values() if r.title == "Supplier review"
    )

    hits = search(big_mirror, f'"{NEEDLE}"')

    assert [(h.recording_id, h.speaker, h.start_seconds) for h in hits] == [
        (needle.id, "Priya", 754.2)
    ]
    assert hits[0].title == "Supplier review"
    assert hits[0].created_at == dt.datetime(2025, 6, 3, 15, 0, tzinfo=dt.UTC)
    marked = [hits[0].snippet.text[s:e] for s, e in hits[0].snippet.marks]
    assert marked == NEEDLE.split()


@pytest.mark.parametrize(
    "phrase",
    [
        "push the release to Friday",
        "أعتقد أننا يجب أن نؤجل الإصدار",
        "Größere Änderungen",
    ],
)
def test_search_finds_every_segment_holding_a_phrase(
    big_mirror: Database, emulated: Emulator, phrase: str
) -> None:
    """Every segment that holds the phrase is a hit, and nothing else is."""
    expected = {
        (record.id, position)
        for record, position, segment in live_segments(emulated)
        if phrase.lower() in segment.text.lower()
    }

    hits = search(big_mirror, f'"{phrase}"', everything())

    assert expected
    assert {(h.recording_id, h.position) for h in segment_hits(hits)} == expected


def test_search_honours_speaker_and_day_filters(
    big_mirror: Database, emulated: Emulator
) -> None:
    """--speaker and --since/--until narrow the hits exactly."""
    since, until = dt.date(2025, 1, 1), dt.date(2025, 6, 30)
    expected = {
        (record.id, position)
        for record, position, segment in live_segments(emulated)
        if "priorities" in segment.text.lower()
        and segment.speaker == "Priya"
        and since <= record.created_at.date() <= until
    }

    filters = everything(speaker="priya", since=since, until=until)
    hits = search(big_mirror, "priorities", filters)

    assert expected
    assert {(h.recording_id, h.position) for h in segment_hits(hits)} == expected
    assert {h.speaker for h in hits} == {"Priya"}


def test_search_lists_newest_recordings_first_up_to_the_limit(
    big_mirror: Database,
) -> None:
    """Hits come newest recording first, and --limit cuts them."""
    hits = search(big_mirror, "priorities", SearchFilters(limit=25))

    assert len(hits) == 25
    times = [h.created_at for h in hits]
    assert times == sorted(times, reverse=True)


def test_search_leaves_deleted_recordings_out_unless_asked(
    big_mirror: Database, emulated: Emulator
) -> None:
    """A recording deleted upstream is found only with include_deleted."""
    needle = next(
        r for r in emulated.recordings.values() if r.title == "Supplier review"
    )
    mark_deleted(big_mirror, needle.id)
    try:
        hidden = search(big_mirror, f'"{NEEDLE}"')
        shown = search(big_mirror, f'"{NEEDLE}"', SearchFilters(include_deleted=True))
    finally:
        mark_live(big_mirror, needle.id)

    assert hidden == []
    assert [(h.recording_id, h.deletion) for h in shown] == [(needle.id, "soft")]


def mark_deleted(database: Database, recording_id: str) -> None:
    with database.write() as connection:
        writer = MirrorWriter(
            connection, org_id="org_test", now=dt.datetime.now(dt.UTC), run_id=None
        )
        writer.mark_deleted([DeletionMark(recording_id, "soft")])


def mark_live(database: Database, recording_id: str) -> None:
    with database.write() as connection:
        writer = MirrorWriter(
            connection, org_id="org_test", now=dt.datetime.now(dt.UTC), run_id=None
        )
        writer.restore([recording_id])


def test_search_finds_titles_and_summaries(
    big_mirror: Database, emulated: Emulator
) -> None:
    """A title's words find the recording, marked as a title hit."""
    hits = search(big_mirror, "supplier review")

    assert [(h.field, h.title) for h in hits] == [("title", "Supplier review")]
    summary_hits = search(big_mirror, '"key decisions"', SearchFilters(limit=5))
    assert {h.field for h in summary_hits} == {"summary"}


def typed_texts() -> list[str]:
    """Everything the emulator writes, and the syntax of both search engines."""
    texts: list[str] = list(TRICKY)
    for locale in LOCALES:
        texts += [*locale.speakers, *locale.titles, *locale.phrases]
    texts += [tag.name or tag.id for tag in TAGS]
    texts += [user.display_name for user in USERS]
    texts += ['"', '""', '"unclosed', "*", "-", "^", ":", "(", ")", "NEAR(", "AND"]
    texts += ["OR NOT", "'", "\\", "%", "_", "!!!", "a:b", "&|!<->", "🎉", "  "]
    texts += ["x\x00y", "\u202eevil", "ﷺ", "👩🏽‍💻 devs"]
    return texts


def test_search_takes_any_text_without_an_error(big_mirror: Database) -> None:
    """Every text the emulator produces, and raw query syntax, searches cleanly."""
    for text in typed_texts():
        search(big_mirror, text, SearchFilters(limit=3))
        search(big_mirror, f'"{text}"', SearchFilters(limit=3))


@settings(max_examples=150, deadline=None)
@given(text=st.text(max_size=40))
def test_search_takes_arbitrary_text(big_mirror: Database, text: str) -> None:
    """Any string at all, control characters and lone quotes included, searches."""
    hits = search(big_mirror, text, SearchFilters(limit=2))

    assert len(hits) <= 2


def test_search_finds_the_tricky_fragments_themselves(big_mirror: Database) -> None:
    """Text that looks like query syntax is found as the text it is."""
    for fragment in TRICKY:
        hits = search(big_mirror, f'"{fragment}"', SearchFilters(limit=3))

        assert hits, fragment
        assert all(h.snippet.marks for h in hits), fragment


def test_query_text_becomes_quoted_terms() -> None:
    """Phrases in double quotes stay together; FTS5 sees only quoted strings."""
    terms = parse_terms('budget "ship it" AND -x "unclosed phrase')

    assert terms.terms == ("budget", "ship it", "AND", "-x", "unclosed phrase")
    assert fts5_query(parse_terms('say "a""b"')) == '"say" "a" "b"'
    assert fts5_query(parse_terms('col:"x" !!!')) == '"col:" "x"'
    assert not parse_terms("🎉 !!! ---").searchable


def test_index_follows_every_write_path(database: Database) -> None:
    """New, changed, shortened and removed text is found or gone at once."""
    emulator = Emulator(org_id="org_test", seed=3)
    record = emulator.new_recording(
        title="Alpha kickoff",
        transcript=[
            Segment("Ana", "zebra crossing", 0, 1),
            Segment("Ben", "yak shaving", 1, 2),
        ],
    )
    write_records(database, [record])
    assert [h.speaker for h in search(database, "zebra")] == ["Ana"]

    record.title = "Omega kickoff"
    record.transcript = [Segment("Ana", "walrus crossing", 0, 1)]
    write_records(database, [record])

    assert search(database, "zebra") == []
    assert search(database, "yak") == []
    assert search(database, "alpha") == []
    assert [h.speaker for h in search(database, "walrus")] == ["Ana"]
    assert [h.field for h in search(database, "omega")] == ["title"]


def write_config(
    path: Path, database_url: str, base_url: str = "http://127.0.0.1:9"
) -> Path:
    """A configuration file for the command line, private like a real one."""
    path.write_text(
        f'[api]\nbase_url = "{base_url}"\norg_id = "org_test"\n'
        "timeout_seconds = 2\nmax_attempts = 2\n"
        f'[database]\nurl = "{database_url}"\n'
    )
    path.chmod(0o600)
    return path


def run_command(
    *args: str, config: Path, token: str = "pk_test_token"
) -> subprocess.CompletedProcess[str]:
    """Run ``pocket-mirror`` in a real process."""
    env = {**os.environ, "POCKET_API_TOKEN": token, "POCKET_MIRROR_CONFIG": str(config)}
    return subprocess.run(
        [sys.executable, "-m", "mirror", "--log-format", "json", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_search_command_prints_hits_for_people_and_as_json(
    big_mirror: Database, tmp_path: Path
) -> None:
    """The command prints title, date, speaker, mm:ss and the snippet; or JSON."""
    config = write_config(tmp_path / "config.toml", big_mirror.url)

    plain = run_command("search", NEEDLE, "--speaker", "Priya", config=config)
    as_json = run_command("search", f'"{NEEDLE}"', "--json", config=config)

    assert plain.returncode == 0, plain.stderr
    assert plain.stdout.splitlines()[0].startswith("2025-06-03 15:00  Supplier review")
    assert plain.stdout.splitlines()[1] == f"    12:34  Priya: I checked: {NEEDLE}."
    [hit] = json.loads(as_json.stdout)
    assert (hit["speaker"], hit["time"], hit["field"]) == (
        "Priya",
        "12:34",
        "transcript",
    )
    assert hit["snippet"][hit["highlights"][0][0] :].startswith("the marmalade")
