"""The requests a sync makes when nothing changed, over the fewest it needs.

Backfills an emulated organization into a fresh SQLite file, then runs each
sweep tier once with nothing changed upstream, and reports per tier the list
requests made over the minimum (one per 100 recordings of each window, at
least one per window) and the detail requests made (only the full tier's
rolling refresh should make any, each answered 304 with ETags).

Usage: python bench/sync_requests.py [--recordings N]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import tempfile
from pathlib import Path

import structlog

from mirror.clock import utcnow
from mirror.config import DEFAULT_TIERS, settings_for
from mirror.emulator import Emulator
from mirror.store.database import Database
from mirror.sync.engine import SweepOptions, Window
from mirror.sync.runner import run_backfill
from mirror.sync.sweeps import run_tier
from mirror.sync.tiers import tier_windows

TOKEN = "pk_bench_token_0002"


def in_window(emulator: Emulator, window: Window) -> int:
    days = [r.created_at.date() for r in emulator.recordings.values()]
    return sum(
        1
        for day in days
        if (window.start is None or day >= window.start)
        and (window.end is None or day <= window.end)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recordings", type=int, default=5000)
    args = parser.parse_args()
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING)
    )

    emulator = Emulator(org_id="org_bench", token=TOKEN, seed=11)
    emulator.generate(args.recordings)
    oldest = min(r.created_at for r in emulator.recordings.values()).date()
    with tempfile.TemporaryDirectory() as folder, emulator:
        url = f"sqlite:///{Path(folder) / 'sync.db'}"
        database = Database(url)
        database.upgrade()
        settings = settings_for(
            base_url=emulator.url, org_id="org_bench", database_url=url
        )
        asyncio.run(
            run_backfill(
                settings, TOKEN, database, window=Window(), options=SweepOptions()
            )
        )
        print(f"recordings: {args.recordings}")
        for tier in DEFAULT_TIERS:
            emulator.requests.reset()
            asyncio.run(run_tier(settings, TOKEN, database, tier))
            windows = tier_windows(tier, utcnow().date(), oldest)
            fewest = sum(
                max(1, math.ceil(in_window(emulator, w) / 100)) for w in windows
            )
            made = emulator.requests.count("list")
            details = emulator.requests.count("detail")
            not_modified = emulator.requests.count("detail", status=304)
            print(
                f"{tier.name:5s} list requests {made} over minimum {fewest} "
                f"= {made / fewest:.2f} ({len(windows)} windows); "
                f"detail requests {details} ({not_modified} answered 304)"
            )
        database.close()


if __name__ == "__main__":
    main()
