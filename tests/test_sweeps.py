"""Incremental sweeps, end to end: tiers of windows against the emulator over
HTTP, into real SQLite files and the real PostgreSQL server."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import itertools
import math
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from mirror.api.parse import parse_detail, parse_listed
from mirror.clock import utcnow
from mirror.config import DEFAULT_TIERS, TierSettings, load_settings, sweep_tiers
from mirror.emulator import Emulator, Fault, render
from mirror.errors import AuthenticationFailed, ConfigError
from mirror.store import schema
from mirror.store.checkpoints import SweepPosition, load_position, save_position
from mirror.store.content import (
    FINGERPRINT_PREFIX,
    content_from_detail,
    fingerprint,
    listing_fingerprint,
)
from mirror.store.database import Database
from mirror.sync.engine import Window
from mirror.sync.runner import RunReport
from mirror.sync.sweeps import run_tier
from mirror.sync.tiers import tier_windows
from tests import test_cli as cli
from tests.mirror_state import assert_mirror_equals, held, utc
from tests.test_backfill import TOKEN, backfill, settings

TIERS = {tier.name: tier for tier in DEFAULT_TIERS}


def sweep(
    emulator: Emulator, database: Database, tier: str | TierSettings
) -> RunReport:
    chosen = TIERS[tier] if isinstance(tier, str) else tier
    return asyncio.run(run_tier(settings(emulator, database), TOKEN, database, chosen))


def in_window(emulator: Emulator, window: Window) -> int:
    """How many live recordings of the emulator a window's listing shows."""
    days = [r.created_at.date() for r in emulator.recordings.values() if not r.deleted]
    return sum(
        1
        for day in days
        if (window.start is None or day >= window.start)
        and (window.end is None or day <= window.end)
    )


def fewest_list_requests(emulator: Emulator, tier: TierSettings) -> list[int]:
    """The least list requests each window of a tier needs: ceil(N/100), or 1."""
    oldest = min(r.created_at for r in emulator.recordings.values()).date()
    windows = tier_windows(tier, utcnow().date(), oldest)
    return [max(1, math.ceil(in_window(emulator, w) / 100)) for w in windows]


def versions(database: Database) -> list[dict[str, object]]:
    with database.read() as conn:
        rows = conn.execute(select(schema.recording_versions)).mappings()
        return [dict(row) for row in rows]


def runs(database: Database) -> list[dict[str, object]]:
    with database.read() as conn:
        query = select(schema.sync_runs).order_by(schema.sync_runs.c.id)
        return [dict(row) for row in conn.execute(query).mappings()]


def position(database: Database, tier: str) -> SweepPosition | None:
    with database.read() as conn:
        return load_position(conn, org_id="org_test", tier=tier)


def test_full_tier_windows_share_their_edges_and_cover_all_history() -> None:
    """Full-tier windows: newest first, 90 days, sharing edge days, open far ends."""
    windows = tier_windows(TIERS["full"], dt.date(2026, 12, 3), dt.date(2025, 1, 15))

    assert windows[0] == Window(dt.date(2026, 9, 5), None)
    assert windows[1] == Window(dt.date(2026, 6, 8), dt.date(2026, 9, 5))
    assert windows[-1] == Window(None, dt.date(2025, 3, 20))
    for newer, older in itertools.pairwise(windows):
        assert older.end == newer.start
    assert len(windows) == 8


def test_reach_tiers_sweep_one_window_from_their_first_day_on() -> None:
    """A tier with a reach and no window length is one window, open at the end."""
    today = dt.date(2026, 3, 1)

    assert tier_windows(TIERS["hot"], today) == [Window(dt.date(2026, 2, 26), None)]
    assert tier_windows(TIERS["warm"], today) == [Window(dt.date(2026, 1, 15), None)]


def test_unchanged_organization_costs_listing_and_rolling_refresh_only(
    emulator: Emulator, database: Database
) -> None:
    """Unchanged: no detail but the rolling refresh, and the fewest list pages."""
    emulator.generate(2000)
    backfill(emulator, database)

    measured = {}
    for name, tier in TIERS.items():
        emulator.requests.reset()
        report = sweep(emulator, database, name)
        fewest = fewest_list_requests(emulator, tier)
        measured[name] = (
            emulator.requests.count("list"),
            sum(fewest),
            len(fewest),
            emulator.requests.count("detail"),
            emulator.requests.count("detail", status=304),
        )
        assert report.outcome == "succeeded"
        assert report.result.counts.created == report.result.counts.updated == 0
    print("list requests (made, fewest, windows), details (all, 304):", measured)

    for name, (made, least, *_) in measured.items():
        assert made == least, name
    assert measured["hot"][3] == measured["warm"][3] == 0
    assert measured["full"][3] == measured["full"][4] == math.ceil(2000 * 0.02)
    assert versions(database) == []


def test_rolling_refresh_moves_on_to_the_next_share(
    emulator: Emulator, database: Database
) -> None:
    """Each full sweep refreshes a different share, longest unrefreshed first."""
    emulator.generate(200)
    backfill(emulator, database)

    refreshed = []
    for _ in range(2):
        emulator.requests.reset()
        sweep(emulator, database, "full")
        refreshed.append(
            {t for e, _, t, _ in emulator.requests.entries if e == "detail"}
        )

    assert len(refreshed[0]) == len(refreshed[1]) == 4
    assert not refreshed[0] & refreshed[1]


def test_a_recording_on_a_shared_edge_day_is_refreshed_once(
    emulator: Emulator, database: Database
) -> None:
    """Two windows list an edge day; the refresh fetches its recordings once."""
    emulator.generate(150)
    edge = tier_windows(TIERS["full"], utcnow().date(), dt.date(2020, 1, 1))[0].start
    assert edge is not None
    on_edge = [
        emulator.new_recording(created_at=dt.datetime.combine(edge, t, dt.UTC))
        for t in (dt.time(0, 0), dt.time(12, 30), dt.time(23, 59, 59))
    ]
    backfill(emulator, database)
    configured = settings(emulator, database)
    everything = dataclasses.replace(configured.sync, rolling_refresh_fraction=1.0)
    configured = dataclasses.replace(configured, sync=everything)

    emulator.requests.reset()
    asyncio.run(run_tier(configured, TOKEN, database, TIERS["full"]))

    fetched = [t for e, _, t, _ in emulator.requests.entries if e == "detail"]
    assert len(fetched) == len(set(fetched)) == len(emulator.recordings)
    for record in on_edge:
        assert sum(record.id in target for target in fetched) == 1


def test_new_recording_appears_after_the_next_hot_sweep(
    emulator: Emulator, database: Database
) -> None:
    """A recording made upstream is in the mirror after one hot sweep."""
    emulator.generate(300)
    backfill(emulator, database)
    new = emulator.new_recording()

    report = sweep(emulator, database, "hot")

    assert report.result.counts.created == 1
    assert new.id in held(database)
    assert_mirror_equals(database, emulator)


def test_title_edit_on_an_old_recording_is_found_by_the_full_sweep(
    emulator: Emulator, database: Database
) -> None:
    """An old title edit is found by the full tier only, its old state versioned."""
    emulator.generate(300)
    backfill(emulator, database)
    oldest = min(emulator.recordings.values(), key=lambda r: r.created_at)
    old_title = oldest.title
    emulator.edit(oldest.id, title="Renamed long after ✍️")

    assert sweep(emulator, database, "hot").result.counts.updated == 0
    assert sweep(emulator, database, "warm").result.counts.updated == 0
    report = sweep(emulator, database, "full")

    assert report.result.counts.updated == 1
    assert held(database)[oldest.id]["title"] == "Renamed long after ✍️"
    (version,) = versions(database)
    assert version["recording_id"] == oldest.id
    assert "title" in version["changed_fields"]  # type: ignore[operator]
    assert version["snapshot"]["title"] == old_title  # type: ignore[index]
    assert version["sync_run_id"] == report.run_id


def test_each_tier_run_is_recorded_and_leaves_no_checkpoint(
    emulator: Emulator, database: Database
) -> None:
    """A finished tier run leaves a succeeded sweep row and no saved position."""
    emulator.generate(120)

    report = sweep(emulator, database, "full")

    (run,) = runs(database)
    assert run["kind"] == "sweep"
    assert run["tier"] == "full"
    assert run["outcome"] == "succeeded"
    assert run["id"] == report.run_id
    assert run["created"] == 120
    assert run["list_requests"] == emulator.requests.count("list")
    assert position(database, "full") is None
    assert_mirror_equals(database, emulator)


def test_refused_cursor_restarts_the_window_from_its_start(
    emulator: Emulator, database: Database
) -> None:
    """A saved cursor the service refuses (400) is dropped, not fatal."""
    emulator.generate(250)
    stale = SweepPosition(
        run_id=None,
        sweep_started_at=utcnow() - dt.timedelta(hours=1),
        window_index=0,
        window_start=None,
        window_end=None,
        cursor="bm90LWEtY3Vyc29y",
        pages=2,
    )
    with database.write() as conn:
        save_position(conn, org_id=emulator.org_id, tier="once", position=stale)
    once = TierSettings("once", interval_minutes=60, reach_days=None, window_days=None)

    report = sweep(emulator, database, once)

    assert report.outcome == "succeeded"
    assert emulator.requests.count("list", status=400) == 1
    assert report.result.counts.created == 250
    assert position(database, "once") is None
    assert_mirror_equals(database, emulator)


def test_changes_between_two_pages_are_neither_lost_nor_wrongly_marked(
    emulator: Emulator, database: Database
) -> None:
    """Mid-listing adds and deletes: none lost, no live one marked, deletes found."""
    ids = emulator.generate(600)
    backfill(emulator, database)
    newest_first = sorted(
        ids, key=lambda i: emulator.recordings[i].created_at, reverse=True
    )
    listed_already, not_yet = newest_first[10:15], newest_first[450:455]
    middle = emulator.recordings[newest_first[480]].created_at
    added: list[str] = []

    def change(page: int) -> None:
        if page != 3 or added:
            return
        for recording_id in listed_already + not_yet:
            emulator.hard_delete(recording_id)
        for offset in range(5):
            moment = middle + dt.timedelta(seconds=offset + 1)
            added.append(emulator.new_recording(created_at=moment).id)
            added.append(emulator.new_recording().id)

    emulator.before_list_page = change
    whole = TierSettings("all", interval_minutes=60, reach_days=None, window_days=None)
    first = sweep(emulator, database, whole)
    state = held(database)

    assert {i for i, row in state.items() if row["deletion"]} == set(not_yet)
    assert first.result.counts.hard_deleted == 5
    live_held = set(emulator.recordings) & set(state)
    assert all(state[i]["deletion"] is None for i in live_held)
    assert set(added[0::2]) <= set(state)

    sweep(emulator, database, whole)
    state = held(database)
    deleted = {i for i, row in state.items() if row["deletion"] == "hard"}
    assert deleted == set(listed_already + not_yet)
    assert set(added) <= set(state)
    assert_mirror_equals(database, emulator)


def test_failed_run_is_resumed_by_the_next_one(
    emulator: Emulator, database: Database
) -> None:
    """A run failed halfway is resumed by the next, which lists less and ends equal."""
    emulator.generate(600)
    lists = 0

    def refuse_the_seventh(page: int) -> None:
        nonlocal lists
        lists += 1
        if lists == 7:
            emulator.inject("list", Fault(status=401))

    emulator.before_list_page = refuse_the_seventh
    with pytest.raises(AuthenticationFailed):
        sweep(emulator, database, "full")
    saved = position(database, "full")
    assert saved is not None and saved.window_index > 0
    emulator.before_list_page = None
    emulator.requests.reset()

    resumed = sweep(emulator, database, "full")

    assert resumed.outcome == "succeeded"
    assert [run["outcome"] for run in runs(database)] == ["failed", "succeeded"]
    whole = fewest_list_requests(emulator, TIERS["full"])
    assert emulator.requests.count("list") < sum(whole)
    assert_mirror_equals(database, emulator)


def edge_moments(windows: list[Window]) -> list[dt.datetime]:
    """The first and last millisecond of every day a window starts or ends on."""
    days = {w.start for w in windows if w.start} | {w.end for w in windows if w.end}
    moments = []
    for day in sorted(days):
        midnight = utc(day.year, day.month, day.day)
        moments.append(midnight)
        moments.append(midnight - dt.timedelta(milliseconds=1))
        moments.append(midnight + dt.timedelta(days=1, milliseconds=-1))
    return moments


@pytest.mark.parametrize("tier", ["hot", "full"])
def test_recordings_on_window_edges_are_swept(
    emulator: Emulator, database: Database, tier: str
) -> None:
    """Recordings at 23:59:59.999 and 00:00:00.000 UTC on window edges are swept."""
    windows = tier_windows(TIERS[tier], utcnow().date())
    first_day = windows[-1].start
    moments = [
        m for m in edge_moments(windows) if first_day is None or m.date() >= first_day
    ]
    today = utcnow().date()
    moments.append(
        utc(today.year, today.month, today.day, 23, 59, 59)
        + dt.timedelta(microseconds=999_000)
    )
    made = [emulator.new_recording(created_at=m).id for m in moments]

    sweep(emulator, database, tier)

    assert set(made) <= set(held(database))
    assert_mirror_equals(database, emulator)


def write_config(path: Path, *, emulator: Emulator, database: Database) -> Path:
    path.write_text(
        "[api]\n"
        f'base_url = "{emulator.url}"\n'
        f'org_id = "{emulator.org_id}"\n'
        "concurrency = 8\n"
        "timeout_seconds = 10\n"
        "[database]\n"
        f'url = "{database.url}"\n'
    )
    path.chmod(0o600)
    return path


def start_sync(config: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "POCKET_API_TOKEN": TOKEN, "POCKET_MIRROR_CONFIG": str(config)}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mirror",
            "--log-format",
            "json",
            "sync",
            "--tier",
            "full",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def progress_of(database: Database) -> tuple[int, int, str | None] | None:
    saved = position(database, "full")
    return None if saved is None else (saved.window_index, saved.pages, saved.cursor)


def wait_for_progress(
    database: Database,
    before: tuple[int, int, str | None] | None,
    process: subprocess.Popen[bytes],
) -> None:
    """Poll until the saved position moved on from ``before``, or the process ended."""
    deadline = time.monotonic() + 60
    while progress_of(database) == before and process.poll() is None:
        assert time.monotonic() < deadline, "the sync made no progress"
        time.sleep(0.02)


def kill_at(process: subprocess.Popen[bytes], delay: float) -> bool:
    """SIGKILL the process after ``delay`` seconds; True if it was still running."""
    try:
        process.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGKILL)
    return process.wait(timeout=30) == -signal.SIGKILL


@pytest.mark.slow
def test_sweep_killed_at_random_moments_resumes_and_ends_equal(
    emulator: Emulator, database: Database, tmp_path: Path
) -> None:
    """A sweep SIGKILLed ten times then resumed ends equal, listing less than anew."""
    # Every other kill waits for the run to save a page first, so the runs
    # make progress however slow the machine; the others may strike anywhere,
    # from start-up to the middle of a page's transaction.
    emulator.generate(1500)
    emulator.behaviour.latency_ms = 25
    config = write_config(
        tmp_path / "config.toml", emulator=emulator, database=database
    )
    moments = random.Random(20261203)

    kills = 0
    while kills < 10:
        before = progress_of(database)
        process = start_sync(config)
        if kills % 2:
            wait_for_progress(database, before, process)
        kills += kill_at(process, moments.uniform(0.0, 1.0 if kills % 2 else 2.0))
    saved = position(database, "full")
    assert saved is not None
    assert saved.window_index > 0 or saved.pages > 0

    emulator.requests.reset()
    final = start_sync(config)
    assert final.wait(timeout=120) == 0
    resumed_lists = emulator.requests.count("list")

    assert_mirror_equals(database, emulator)
    assert all(row["deletion"] is None for row in held(database).values())
    assert position(database, "full") is None
    outcomes = [run["outcome"] for run in runs(database)]
    assert outcomes[-1] == "succeeded"
    assert set(outcomes[:-1]) == {"running"}

    emulator.behaviour.latency_ms = 0
    emulator.requests.reset()
    sweep(emulator, database, dataclasses.replace(TIERS["full"], name="fresh"))
    fresh_lists = emulator.requests.count("list")
    print(f"list requests: resumed {resumed_lists}, fresh {fresh_lists}")
    assert resumed_lists < fresh_lists


def test_sync_command_runs_every_tier_and_summarises_each(
    emulator: Emulator, sqlite_url: str, tmp_path: Path
) -> None:
    """`sync` runs hot, warm and full once, one summary each, exit 0."""
    emulator.generate(40)
    with Database(sqlite_url) as database:
        config = write_config(tmp_path / "c.toml", emulator=emulator, database=database)

    result = cli.run_cli("sync", config=config)

    assert result.returncode == 0, result.stderr
    heads = [line for line in result.stdout.splitlines() if not line.startswith(" ")]
    assert [head.split(":")[0] for head in heads] == ["hot", "warm", "full"]
    assert "full: sweep succeeded: listed 40 recordings" in result.stdout


def test_sync_command_refuses_an_unknown_tier(
    emulator: Emulator, sqlite_url: str, tmp_path: Path
) -> None:
    """`sync --tier NAME` with no such tier is a usage error naming the tiers."""
    with Database(sqlite_url) as database:
        config = write_config(tmp_path / "c.toml", emulator=emulator, database=database)

    result = cli.run_cli("sync", "--tier", "lukewarm", config=config)

    assert result.returncode == 2
    assert "there is no tier 'lukewarm'; the tiers are: hot, warm, full" in (
        result.stderr
    )


def test_sync_command_exits_1_when_a_tier_fails(
    emulator: Emulator, sqlite_url: str, tmp_path: Path
) -> None:
    """A tier that fails is reported in one line per tier and exits 1."""
    with Database(sqlite_url) as database:
        config = write_config(tmp_path / "c.toml", emulator=emulator, database=database)

    result = cli.run_cli(
        "sync", "--tier", "hot", config=config, token="pk_wrong_token_123"
    )

    assert result.returncode == 1
    (line,) = cli.human_lines(result.stderr)
    assert line.startswith("pocket-mirror: tier hot failed: ")
    assert "pk_wrong_token_123" not in result.stderr


def test_sweep_tiers_default_to_hot_warm_and_full(tmp_path: Path) -> None:
    """Without [sweeps], the tiers are hot (3 days), warm (45) and full."""
    settings = load_settings(config_file(tmp_path, ""))

    assert sweep_tiers(settings) == (
        TierSettings("hot", 10, 3, None),
        TierSettings("warm", 360, 45, None),
        TierSettings("full", 1440, None, 90),
    )
    assert settings.sync.processing_age_hours == 48
    assert settings.sync.rolling_refresh_fraction == 0.02


def test_sweep_tiers_are_read_in_the_order_written(tmp_path: Path) -> None:
    """Written tiers replace the defaults; absent bounds stay open."""
    text = (
        "[sweeps.recent]\ninterval_minutes = 5\nreach_days = 1\n"
        "[sweeps.everything]\ninterval_minutes = 720.5\nwindow_days = 30\n"
    )
    settings = load_settings(config_file(tmp_path, text))

    assert sweep_tiers(settings) == (
        TierSettings("recent", 5, 1, None),
        TierSettings("everything", 720.5, None, 30),
    )


def test_sweep_tiers_report_every_problem_at_once(tmp_path: Path) -> None:
    """Typos, missing intervals and bad day counts are all named together."""
    text = (
        "[sweeps.a]\nreach_day = 3\n"
        "[sweeps.b]\ninterval_minutes = 0\nwindow_days = 1\nreach_days = -2\n"
    )
    settings = load_settings(config_file(tmp_path, text))

    with pytest.raises(ConfigError) as caught:
        sweep_tiers(settings)

    assert caught.value.problems == [
        "sweeps.a.interval_minutes is required but missing",
        "unknown key sweeps.a.reach_day; did you mean 'reach_days'?",
        "sweeps.b.interval_minutes must be a number greater than 0, not 0",
        "sweeps.b.reach_days must be a whole number of at least 0, not -2",
        "sweeps.b.window_days must be a whole number of at least 2, not 1",
    ]


def config_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text('[api]\norg_id = "org_test"\n' + text)
    path.chmod(0o600)
    return path


def test_fingerprints_of_the_earlier_form_still_match(
    emulator: Emulator, database: Database
) -> None:
    """A mirror whose fingerprints predate the current form refetches nothing."""
    emulator.generate(120)
    backfill(emulator, database)
    earlier = "0" * 64
    include = {"transcript", "summary", "action_items"}
    with database.write() as conn:
        for record in emulator.recordings.values():
            listed = parse_listed(render.list_item(record, emulator.behaviour))
            detail = parse_detail(render.detail(record, emulator.behaviour, include))
            conn.execute(
                schema.recordings.update()
                .where(schema.recordings.c.id == record.id)
                .values(
                    listing_hash=listing_fingerprint(listed, like=earlier),
                    detail_hash=fingerprint(content_from_detail(detail), like=earlier),
                )
            )
    configured = settings(emulator, database)
    no_refresh = dataclasses.replace(configured.sync, rolling_refresh_fraction=0.0)
    configured = dataclasses.replace(configured, sync=no_refresh)

    emulator.requests.reset()
    report = asyncio.run(run_tier(configured, TOKEN, database, TIERS["full"]))

    assert report.outcome == "succeeded"
    assert emulator.requests.count("detail") == 0
    assert report.result.counts.updated == 0
    assert versions(database) == []

    edited = next(iter(emulator.recordings))
    emulator.edit(edited, title="edited upstream")
    asyncio.run(run_tier(configured, TOKEN, database, TIERS["full"]))
    with database.read() as conn:
        rows = conn.execute(
            select(
                schema.recordings.c.id,
                schema.recordings.c.listing_hash,
                schema.recordings.c.detail_hash,
            )
        ).all()
    for recording_id, listing_hash, detail_hash in rows:
        current = recording_id == edited
        assert listing_hash.startswith(FINGERPRINT_PREFIX) == current
        assert detail_hash.startswith(FINGERPRINT_PREFIX) == current
