"""Peak memory of a backfill at two sizes: pages must stream through.

Each backfill runs in a child process of its own, against the emulator in
another, into a fresh SQLite file; its peak resident set size comes from
the kernel's accounting of the finished child. The figure that matters is
the ratio of the two peaks: a backfill that held every page would grow
with the organization, one that streams stays flat.

Usage: python bench/memory.py [--small 10000] [--large 100000]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from backfill import ORG, TOKEN, start_emulator

CHILD = """
import asyncio, logging, sys
import structlog
structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
from mirror.config import settings_for
from mirror.store.database import Database
from mirror.sync.engine import SweepOptions, Window
from mirror.sync.runner import run_backfill
url, database_url, org, token = sys.argv[1:5]
database = Database(database_url)
database.upgrade()
settings = settings_for(base_url=url, org_id=org, database_url=database_url)
report = asyncio.run(
    run_backfill(settings, token, database, window=Window(), options=SweepOptions())
)
print(report.result.counts.created)
"""


def peak_rss_mib(recordings: int) -> tuple[float, int]:
    """Backfill ``recordings`` in a child; its peak RSS in MiB and its count."""
    process, url = start_emulator(recordings, 0.0)
    try:
        with tempfile.TemporaryDirectory() as folder:
            database_url = f"sqlite:///{Path(folder) / 'memory.db'}"
            before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            child = subprocess.run(
                [sys.executable, "-c", CHILD, url, database_url, ORG, TOKEN],
                capture_output=True,
                text=True,
                check=True,
            )
            peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    finally:
        process.terminate()
        process.wait()
    # ru_maxrss of children is the largest of any child so far: the sizes
    # run smallest first, so each reading is the newest child's own peak.
    return max(peak, before) / 1024, int(child.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=100_000)
    args = parser.parse_args()

    small, small_count = peak_rss_mib(args.small)
    large, large_count = peak_rss_mib(args.large)

    print(f"cpus {os.cpu_count()}")
    print(f"backfill of {small_count}: peak RSS {small:.0f} MiB")
    print(f"backfill of {large_count}: peak RSS {large:.0f} MiB")
    print(f"ratio large / small: {large / small:.2f}")


if __name__ == "__main__":
    main()
