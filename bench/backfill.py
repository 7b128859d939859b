"""Backfill throughput, as a ratio to merely downloading the same data.

Starts the emulator in a process of its own (so it does not share the
interpreter lock with what is measured), then in one run:

1. the baseline: a bare httpx script lists every page by cursor and fetches
   every recording's detail at the same concurrency, parsing the JSON and
   nothing more;
2. a real backfill of the same organization into a fresh SQLite file (or
   the PostgreSQL database given with --database-url).

With --postgres-url naming a PostgreSQL server (any database on it), the
same backfill also runs into a fresh database created there, and its time
is reported as a ratio to the SQLite one.

Usage: python bench/backfill.py [--recordings N] [--latency-ms MS]
       [--concurrency C] [--postgres-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import os
import resource
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import sqlalchemy as sa
import structlog

from mirror.config import settings_for
from mirror.store.database import Database
from mirror.sync.engine import SweepOptions, Window
from mirror.sync.runner import run_backfill

TOKEN = "pk_bench_token_0001"
ORG = "org_bench"


def process_cpu(pid: int) -> float:
    """User plus system CPU seconds that process `pid` has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu() -> float:
    """User plus system CPU seconds of this process, all threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclasses.dataclass
class Phase:
    """Wall time and the CPU both sides spent in one part of the run."""

    seconds: float
    client_cpu: float
    emulator_cpu: float

    def describe(self, count: int) -> str:
        per = 1000 / max(count, 1)
        return (
            f"cpu per recording: this process {self.client_cpu * per:.2f} ms, "
            f"emulator {self.emulator_cpu * per:.2f} ms"
        )


@contextmanager
def measured(emulator_pid: int) -> Iterator[list[Phase]]:
    """Time the block, and the CPU of this process and of the emulator."""
    box: list[Phase] = []
    cpu, emulator, started = own_cpu(), process_cpu(emulator_pid), time.perf_counter()
    yield box
    box.append(
        Phase(
            time.perf_counter() - started,
            own_cpu() - cpu,
            process_cpu(emulator_pid) - emulator,
        )
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_emulator(
    recordings: int, latency_ms: float
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    command = [
        sys.executable, "-m", "mirror", "--log-format", "json", "emulate",
        "--port", str(port), "--recordings", str(recordings), "--org-id", ORG,
        "--token", TOKEN, "--latency-ms", str(latency_ms),
    ]  # fmt: skip
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            httpx.get(url, timeout=1)
            return process, url
        except httpx.TransportError:
            time.sleep(0.1)
    raise SystemExit("the emulator did not start")


async def download(url: str, concurrency: int) -> int:
    """The baseline: every page and every detail, parsed, at `concurrency`."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    limits = httpx.Limits(max_connections=concurrency)
    path = f"/api/v1/organization/{ORG}/recordings"
    gate = asyncio.Semaphore(concurrency)

    async with httpx.AsyncClient(
        base_url=url, headers=headers, limits=limits
    ) as client:

        async def detail(recording_id: str) -> None:
            async with gate:
                params = {"include": "transcript,summary,action_items"}
                (await client.get(f"{path}/{recording_id}", params=params)).json()

        tasks, cursor = [], None
        while True:
            params = {"limit": 100, **({"cursor": cursor} if cursor else {})}
            body = (await client.get(path, params=params)).json()
            tasks += [asyncio.create_task(detail(r["id"])) for r in body["recordings"]]
            cursor = body["pagination"].get("next_cursor")
            if not cursor:
                break
        await asyncio.gather(*tasks)
    return len(tasks)


def backfill(
    url: str, concurrency: int, database_url: str, emulator_pid: int
) -> tuple[Phase, int]:
    """A real backfill into a freshly migrated database, measured."""
    database = Database(database_url)
    database.upgrade()
    settings = settings_for(base_url=url, org_id=ORG, database_url=database_url)
    api = dataclasses.replace(settings.api, concurrency=concurrency)
    settings = dataclasses.replace(settings, api=api)
    with measured(emulator_pid) as phase:
        report = asyncio.run(
            run_backfill(
                settings, TOKEN, database, window=Window(), options=SweepOptions()
            )
        )
    database.close()
    return phase[0], report.result.counts.created


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recordings", type=int, default=20_000)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--postgres-url")
    args = parser.parse_args()
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING)
    )

    process, url = start_emulator(args.recordings, args.latency_ms)
    try:
        with measured(process.pid) as phase:
            downloaded = asyncio.run(download(url, args.concurrency))
        baseline = phase[0]

        with tempfile.TemporaryDirectory() as folder:
            database_url = f"sqlite:///{Path(folder) / 'bench.db'}"
            sqlite, created = backfill(url, args.concurrency, database_url, process.pid)
        postgres = None
        if args.postgres_url:
            with fresh_postgres(args.postgres_url) as database_url:
                postgres = backfill(url, args.concurrency, database_url, process.pid)[0]
    finally:
        process.terminate()
        process.wait()

    print(
        f"recordings: {args.recordings}, latency {args.latency_ms} ms, "
        f"concurrency {args.concurrency}, cpus {os.cpu_count()}"
    )
    print(
        f"download only: {downloaded} details in {baseline.seconds:.2f} s "
        f"({downloaded / baseline.seconds:.0f} recordings/s); "
        + baseline.describe(downloaded)
    )
    print(
        f"backfill:      {created} recordings in {sqlite.seconds:.2f} s "
        f"({created / sqlite.seconds:.0f} recordings/s); " + sqlite.describe(created)
    )
    print(f"ratio backfill / download: {sqlite.seconds / baseline.seconds:.2f}")
    if postgres is not None:
        print(
            f"backfill into PostgreSQL: {postgres.seconds:.2f} s; "
            + postgres.describe(created)
        )
        print(f"ratio PostgreSQL / SQLite: {postgres.seconds / sqlite.seconds:.2f}")


@contextmanager
def fresh_postgres(server_url: str) -> Iterator[str]:
    """A new, empty database on the server, dropped afterwards."""
    name = f"pocket_mirror_bench_{secrets.token_hex(4)}"
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield (
            sa.make_url(server_url)
            .set(database=name)
            .render_as_string(hide_password=False)
        )
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
