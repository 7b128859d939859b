"""Search latency on a large mirror: median and 95th percentile.

Builds a mirror of generated recordings (100,000 by default, each transcript
cut to 24 segments, about two million segments in all) through the real
parser and writer, so the search indexes are filled by the same triggers a
sync fires; then runs a fixed mix of searches (rare and common words,
phrases, every filter, text that looks like query syntax, several scripts)
and reports the latency of each and of all together.

Usage: python bench/search.py [--recordings N] [--database-url URL]
       [--keep PATH] [--repeat R]

Without --database-url the mirror is a SQLite file in a temporary folder
(or the file given with --keep). A database that already holds a mirror,
from an earlier run, is measured as it is; an empty one is built first.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import statistics
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

import structlog

from mirror.api.parse import parse_detail
from mirror.emulator import EmulatedRecording, Emulator, render
from mirror.query.search import SearchFilters, search
from mirror.store.database import Database
from mirror.store.writer import MirrorWriter, RecordingWrite

SEGMENTS_KEPT = 24
BATCH = 1000
INCLUDE = {"transcript", "summary", "action_items"}

QUERIES: tuple[tuple[str, SearchFilters], ...] = (
    ('"push the release to Friday"', SearchFilters()),
    ("pricing", SearchFilters()),
    ("customer pricing again", SearchFilters()),
    ("priorities", SearchFilters(speaker="Priya")),
    ("blocker migration", SearchFilters(since=dt.date(2025, 1, 1))),
    ('"revisit this next week"', SearchFilters(until=dt.date(2024, 6, 30))),
    ('"DROP TABLE recordings; --"', SearchFilters()),
    ("NEAR(launch date) col:value ^boost", SearchFilters()),
    ("Größere Änderungen", SearchFilters()),
    ("الإصدار", SearchFilters()),
    ("Quarterly Review", SearchFilters()),
    ("nonexistentword", SearchFilters()),
)


def main() -> None:
    """Build (or reuse) the mirror, run the searches, print the figures."""
    options = parse_arguments()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    logging.getLogger("alembic").setLevel(logging.WARNING)

    with Database(database_url(options)) as database:
        if database.schema_state() == "empty":
            build(database, options.recordings)
        report(measure(database, options.repeat), database)


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recordings", type=int, default=100_000)
    parser.add_argument("--database-url", help="a database to fill, or to reuse")
    parser.add_argument("--keep", type=Path, help="a SQLite file to fill, or to reuse")
    parser.add_argument("--repeat", type=int, default=15, help="runs of each search")
    return parser.parse_args()


def database_url(options: argparse.Namespace) -> str:
    """The mirror to measure."""
    if options.database_url:
        return str(options.database_url)
    if options.keep:
        return f"sqlite:///{options.keep}"
    folder = Path(tempfile.mkdtemp(prefix="search-bench-"))
    return f"sqlite:///{folder / 'mirror.db'}"


def build(database: Database, count: int) -> None:
    """Fill the mirror with ``count`` generated recordings."""
    started = time.perf_counter()
    database.upgrade()
    emulator = Emulator(org_id="org_bench", seed=2026)
    emulator.generate(count)
    records = list(emulator.recordings.values())

    segments = 0
    for start in range(0, len(records), BATCH):
        segments += write(database, records[start : start + BATCH], emulator)
        print(f"\rbuilt {start + BATCH:,} recordings", end="", file=sys.stderr)
    seconds = time.perf_counter() - started
    print(
        f"\nbuilt {count:,} recordings, {segments:,} segments in {seconds:.0f} s",
        file=sys.stderr,
    )


def write(
    database: Database, records: Iterable[EmulatedRecording], emulator: Emulator
) -> int:
    """Store a batch as a sync would; returns how many segments it held."""
    writes, segments = [], 0
    for record in records:
        if record.transcript is not None:
            record.transcript = record.transcript[:SEGMENTS_KEPT]
            segments += len(record.transcript)
        detail = parse_detail(render.detail(record, emulator.behaviour, INCLUDE))
        writes.append(RecordingWrite(listed=detail.listed, detail=detail))

    with database.write() as connection:
        now = dt.datetime.now(dt.UTC)
        writer = MirrorWriter(connection, org_id="org_bench", now=now, run_id=None)
        writer.save(writes, {})
    return segments


def measure(database: Database, repeat: int) -> dict[str, list[float]]:
    """Milliseconds per run of each search, after one warm-up run each."""
    timings: dict[str, list[float]] = {}
    for text, filters in QUERIES:
        search(database, text, filters)
        label = describe(text, filters)
        timings[label] = []
        for _ in range(repeat):
            started = time.perf_counter()
            search(database, text, filters)
            timings[label].append((time.perf_counter() - started) * 1000)
    return timings


def describe(text: str, filters: SearchFilters) -> str:
    """A search as one short label: its text and the filters it sets."""
    extras = [
        f"{name}={value}"
        for name, value in (
            ("speaker", filters.speaker),
            ("since", filters.since),
            ("until", filters.until),
        )
        if value is not None
    ]
    return " ".join([text, *extras])


def report(timings: dict[str, list[float]], database: Database) -> None:
    """Print each search's median and p95, then all searches together."""
    print(f"search latency on {database.display_url} (ms)")
    print(f"{'median':>8} {'p95':>8}  search")
    for label, samples in timings.items():
        print(
            f"{statistics.median(samples):8.1f} {percentile(samples, 95):8.1f}  {label}"
        )
    every = [sample for samples in timings.values() for sample in samples]
    print(
        f"{statistics.median(every):8.1f} {percentile(every, 95):8.1f}  "
        f"all {len(every)} searches"
    )


def percentile(samples: list[float], percent: float) -> float:
    """The sample below which ``percent`` of the samples lie (nearest rank)."""
    ordered = sorted(samples)
    rank = max(0, min(len(ordered) - 1, round(percent / 100 * len(ordered)) - 1))
    return ordered[rank]


if __name__ == "__main__":
    main()
