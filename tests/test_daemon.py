"""The daemon as systemd runs it: a real process, real signals, a real
notify socket, against the emulator over loopback, with intervals of
seconds."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from mirror.emulator import Emulator
from mirror.emulator.behaviour import Fault
from tests.fixtures_emulator import EmulatorFactory

pytestmark = pytest.mark.slow

TOKEN = "pk_test_token"

UNITS = Path(__file__).resolve().parents[1] / "systemd"
INSTALLED_PROGRAM = "/opt/pocket-mirror/bin/pocket-mirror"

# An all-history tier every three seconds.
FAST_TIER = "[sweeps.hot]\ninterval_minutes = 0.05\n"

Event = dict[str, Any]


def write_config(
    path: Path, emulator: Emulator, database_url: str, tiers: str, **api: Any
) -> Path:
    """A configuration for the emulator, with the sweep tiers given as TOML."""
    options = {"timeout_seconds": 5, "max_attempts": 2, **api}
    lines = [
        "[api]",
        f'base_url = "{emulator.url}"',
        f'org_id = "{emulator.org_id}"',
        *(f"{key} = {value!r}" for key, value in options.items()),
        "[database]",
        f'url = "{database_url}"',
        tiers,
    ]
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)
    return path


def environment(config: Path, token: str = TOKEN, **extra: str) -> dict[str, str]:
    """The environment a command runs in: the token and the configuration."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")
    }
    return {
        **env,
        "POCKET_API_TOKEN": token,
        "POCKET_MIRROR_CONFIG": str(config),
        **extra,
    }


class DaemonProcess:
    """``python -m mirror run`` in a subprocess, its JSON events collected."""

    def __init__(self, config: Path, **extra_env: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mirror", "run"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=environment(config, **extra_env),
        )
        self.events: list[Event] = []
        self.stderr = ""
        self._lock = threading.Lock()
        self._readers = [
            threading.Thread(target=self._read_events, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def named(self, name: str) -> list[Event]:
        """The events of that name so far."""
        with self._lock:
            return [event for event in self.events if event.get("event") == name]

    def wait_for(
        self, name: str, count: int = 1, timeout: float = 30, **fields: Any
    ) -> Event:
        """Wait until ``count`` events of that name (with those fields) came."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [
                event
                for event in self.named(name)
                if all(event.get(key) == value for key, value in fields.items())
            ]
            if len(found) >= count:
                return found[count - 1]
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"no {name} event #{count} came; {self.describe()}")

    def send_signal(self, number: signal.Signals) -> None:
        """Send the daemon a signal."""
        self.process.send_signal(number)

    def stop(self, number: signal.Signals = signal.SIGTERM, timeout: float = 15) -> int:
        """Send a signal and wait for the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(number)
        return self.wait(timeout)

    def wait(self, timeout: float = 15) -> int:
        """Wait for the process to end and its output to be read."""
        status = self.process.wait(timeout=timeout)
        for reader in self._readers:
            reader.join(timeout=5)
        return status

    def kill(self) -> None:
        """End the process at once, if it still runs."""
        if self.process.poll() is None:
            self.process.kill()
        self.wait()

    def describe(self) -> str:
        """The daemon's state and last words, for assertion messages."""
        with self._lock:
            names = [event.get("event") for event in self.events][-30:]
        return f"exit={self.process.poll()} events={names} stderr={self.stderr[-2000:]}"

    def _read_events(self) -> None:
        assert self.process.stdout is not None
        with self.process.stdout:
            for line in self.process.stdout:
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                with self._lock:
                    self.events.append(event)

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        with self.process.stderr:
            for line in self.process.stderr:
                self.stderr += line


class NotifyListener:
    """A notify socket like systemd's, collecting every message sent to it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.messages: list[dict[str, str]] = []
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._socket.bind(str(path))
        self._socket.settimeout(0.2)
        self._running = True
        self._thread = threading.Thread(target=self._receive, daemon=True)
        self._thread.start()

    def wait_for(
        self, check: Callable[[list[dict[str, str]]], bool], timeout: float = 30
    ) -> list[dict[str, str]]:
        """Wait until the messages so far satisfy ``check``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            messages = list(self.messages)
            if check(messages):
                return messages
            time.sleep(0.05)
        raise AssertionError(f"the notify messages never did: {self.messages[-20:]}")

    def close(self) -> None:
        """Stop listening."""
        self._running = False
        self._thread.join(timeout=5)
        self._socket.close()

    def _receive(self) -> None:
        while self._running:
            try:
                data = self._socket.recv(4096)
            except TimeoutError:
                continue
            lines = data.decode("utf-8").splitlines()
            self.messages.append(dict(line.split("=", 1) for line in lines))


def rows(database_url: str, query: str) -> list[sa.Row[Any]]:
    """The rows of a query on the mirror, read with a connection of its own."""
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as connection:
            return list(connection.execute(sa.text(query)))
    finally:
        engine.dispose()


def run_status(
    config: Path, *args: str, token: str = TOKEN
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """Run `status --json` in a process of its own; its result and report."""
    result = subprocess.run(
        [sys.executable, "-m", "mirror", "status", "--json", *args],
        capture_output=True,
        text=True,
        env=environment(config, token=token),
        timeout=60,
    )
    return result, json.loads(result.stdout)


@pytest.fixture
def daemons() -> Iterator[list[DaemonProcess]]:
    """Daemons started by a test, killed after it if still running."""
    started: list[DaemonProcess] = []
    yield started
    for daemon in started:
        daemon.kill()


def start(daemons: list[DaemonProcess], config: Path, **env: str) -> DaemonProcess:
    daemon = DaemonProcess(config, **env)
    daemons.append(daemon)
    return daemon


def test_sweeps_on_schedule_and_follows_upstream(
    tmp_path: Path, emulator: Emulator, sqlite_url: str, daemons: list[DaemonProcess]
) -> None:
    """Each tier runs again on its interval, and each run brings in what
    changed upstream: a new recording, an edit, a delete."""
    ids = emulator.generate(20)
    config = write_config(tmp_path / "config.toml", emulator, sqlite_url, FAST_TIER)
    daemon = start(daemons, config)
    daemon.wait_for("sweep.finished")

    added = emulator.new_recording(title="Added upstream")
    emulator.edit(ids[0], title="Edited upstream")
    emulator.hard_delete(ids[1])
    finished = len(daemon.named("sweep.finished"))
    daemon.wait_for("sweep.finished", count=finished + 2)
    assert daemon.stop() == 0, daemon.describe()

    titles = {
        r.id: r.title for r in rows(sqlite_url, "SELECT id, title FROM recordings")
    }
    assert titles[added.id] == "Added upstream"
    assert titles[ids[0]] == "Edited upstream"
    deleted = rows(sqlite_url, f"SELECT deletion FROM recordings WHERE id = '{ids[1]}'")
    assert deleted[0][0] == "hard"

    starts = [
        dt.datetime.fromisoformat(str(row[0]))
        for row in rows(sqlite_url, "SELECT started_at FROM sync_runs ORDER BY id")
    ]
    gaps = [
        (later - earlier).total_seconds()
        for earlier, later in itertools.pairwise(starts)
    ]
    assert len(starts) >= 3
    assert all(gap >= 2.5 for gap in gaps), gaps


def test_sigterm_during_a_sweep_exits_0_and_the_next_start_resumes(
    tmp_path: Path,
    make_emulator: EmulatorFactory,
    sqlite_url: str,
    daemons: list[DaemonProcess],
) -> None:
    """SIGTERM mid-sweep exits 0 within 10 s with the run marked interrupted;
    the next start goes on from the checkpoint instead of starting over."""
    emulator = make_emulator()
    emulator.generate(400)
    emulator.behaviour.latency_ms = 40
    tiers = "[sweeps.full]\ninterval_minutes = 60\n"
    config = write_config(
        tmp_path / "config.toml", emulator, sqlite_url, tiers, concurrency=2
    )
    daemon = start(daemons, config)
    daemon.wait_for("sweep.page_saved")

    asked = time.monotonic()
    assert daemon.stop() == 0, daemon.describe()
    assert time.monotonic() - asked < 10
    run = rows(sqlite_url, "SELECT outcome, error FROM sync_runs")
    assert run[0][0] == "interrupted"
    saved = rows(sqlite_url, "SELECT pages FROM sweep_checkpoints WHERE tier = 'full'")
    assert saved and saved[0][0] >= 1

    emulator.behaviour.latency_ms = 0
    again = start(daemons, config)
    assert again.wait_for("sweep.started")["resumed"] is True
    assert again.wait_for("sweep.window_started")["resumed_pages"] >= 1
    again.wait_for("sweep.finished", timeout=60)
    assert again.stop() == 0, again.describe()

    assert rows(sqlite_url, "SELECT count(*) FROM recordings")[0][0] == 400
    assert rows(sqlite_url, "SELECT count(*) FROM sweep_checkpoints")[0][0] == 0


def test_ready_status_and_watchdog_reach_the_notify_socket(
    tmp_path: Path, emulator: Emulator, sqlite_url: str, daemons: list[DaemonProcess]
) -> None:
    """READY=1 once scheduled, STATUS with the last sweep's outcome, WATCHDOG=1
    at half the watchdog timeout, and STOPPING=1 on SIGTERM."""
    emulator.generate(5)
    config = write_config(tmp_path / "config.toml", emulator, sqlite_url, FAST_TIER)
    listener = NotifyListener(tmp_path / "notify")
    try:
        daemon = start(
            daemons, config, NOTIFY_SOCKET=str(listener.path), WATCHDOG_USEC="400000"
        )
        messages = listener.wait_for(
            lambda got: (
                any("last sweep: hot succeeded" in m.get("STATUS", "") for m in got)
                and sum(m.get("WATCHDOG") == "1" for m in got) >= 3
            )
        )
        assert daemon.stop() == 0, daemon.describe()
        listener.wait_for(lambda got: any(m.get("STOPPING") == "1" for m in got))
    finally:
        listener.close()

    ready = [n for n, m in enumerate(messages) if m.get("READY") == "1"]
    first_status = next(
        n for n, m in enumerate(messages) if "last sweep" in m.get("STATUS", "")
    )
    assert ready and ready[0] < first_status


def test_sighup_reloads_or_says_why_not(
    tmp_path: Path, emulator: Emulator, sqlite_url: str, daemons: list[DaemonProcess]
) -> None:
    """SIGHUP with a broken file keeps the old configuration and says why;
    with a good one, the new tiers are scheduled."""
    config = write_config(tmp_path / "config.toml", emulator, sqlite_url, FAST_TIER)
    daemon = start(daemons, config)
    daemon.wait_for("daemon.ready")

    config.write_text(config.read_text() + "[sweeps.hot.typo]\n")
    daemon.send_signal(signal.SIGHUP)
    refused = daemon.wait_for("daemon.reload_refused")
    assert "sweeps.hot" in refused["reason"]

    write_config(
        config, emulator, sqlite_url, "[sweeps.fresh]\ninterval_minutes = 0.05\n"
    )
    daemon.send_signal(signal.SIGHUP)
    assert daemon.wait_for("daemon.reloaded")["tiers"] == ["fresh"]
    daemon.wait_for("sweep.finished", tier="fresh")
    assert daemon.stop() == 0, daemon.describe()


def test_second_daemon_waits_while_the_first_sweeps(
    tmp_path: Path,
    emulator: Emulator,
    database_url: str,
    daemons: list[DaemonProcess],
) -> None:
    """A second daemon on the same database does not sweep while the first
    runs, and takes over once the first is killed."""
    emulator.generate(5)
    config = write_config(tmp_path / "config.toml", emulator, database_url, FAST_TIER)
    first = start(daemons, config)
    first.wait_for("daemon.ready")
    second = start(daemons, config)
    second.wait_for("daemon.lock_busy")

    first.wait_for("sweep.finished", count=3)
    assert second.named("sweep.started") == []
    assert second.named("daemon.ready") == []

    first.process.kill()
    first.wait()
    second.wait_for("sweep.finished", timeout=20)
    assert second.stop() == 0, second.describe()


def test_status_reports_lag_and_failures_truthfully(
    tmp_path: Path, emulator: Emulator, sqlite_url: str, daemons: list[DaemonProcess]
) -> None:
    """After good sweeps `status --json` is healthy with a small lag; after a
    failed sweep it shows the failure and exits 1."""
    emulator.generate(5)
    config = write_config(tmp_path / "config.toml", emulator, sqlite_url, FAST_TIER)
    daemon = start(daemons, config)
    daemon.wait_for("sweep.finished")
    assert daemon.stop() == 0, daemon.describe()

    patient = write_config(
        tmp_path / "patient.toml",
        emulator,
        sqlite_url,
        "[sweeps.hot]\ninterval_minutes = 10\n",
    )
    healthy, report = run_status(patient)
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    hot = report["tiers"][0]
    assert hot["last_run"]["outcome"] == "succeeded"
    assert 0 <= hot["lag_seconds"] < 60
    assert report["token"]["state"] == "works"

    emulator.inject("list", Fault(status=500), count=20)
    daemon = start(daemons, config)
    daemon.wait_for("sweep.failed")
    assert daemon.stop() == 0, daemon.describe()

    failing, report = run_status(patient)
    assert failing.returncode == 1
    hot = report["tiers"][0]
    assert hot["last_run"]["outcome"] == "failed"
    assert "HTTP 500" in hot["errors"][0]["error"]
    assert any("last run failed" in problem for problem in report["problems"])


def installed_units(tmp_path: Path) -> Path:
    """The units as installed, with the program where this checkout has it."""
    beside_python = Path(sys.executable).with_name("pocket-mirror")
    program = (
        str(beside_python) if beside_python.exists() else shutil.which("pocket-mirror")
    )
    if not program:
        pytest.skip("the pocket-mirror script is not installed")
    folder = tmp_path / "units"
    folder.mkdir()
    for unit in UNITS.iterdir():
        text = unit.read_text().replace(INSTALLED_PROGRAM, program)
        (folder / unit.name).write_text(text)
    return folder


@pytest.fixture
def systemd_analyze() -> str:
    """The systemd-analyze program, or a skip saying how to get it."""
    program = shutil.which("systemd-analyze")
    if program is None:
        pytest.skip("systemd-analyze is missing (on Debian: apt-get install systemd)")
    return program


def test_units_pass_systemd_analyze_verify(
    tmp_path: Path, systemd_analyze: str
) -> None:
    """The service, the oneshot service and the timer verify cleanly."""
    folder = installed_units(tmp_path)
    units = sorted(str(unit) for unit in folder.iterdir())

    result = subprocess.run(
        [systemd_analyze, "verify", *units], capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr


@pytest.mark.parametrize(
    "unit", ["pocket-mirror.service", "pocket-mirror-sync.service"]
)
def test_services_rate_2_or_lower_in_systemd_analyze_security(
    tmp_path: Path, systemd_analyze: str, unit: str
) -> None:
    """Both services are hardened to an exposure level of 2.0 or lower."""
    result = subprocess.run(
        [systemd_analyze, "security", "--offline=true", str(UNITS / unit)],
        capture_output=True,
        text=True,
        timeout=60,
    )

    found = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert found, result.stdout + result.stderr
    assert float(found.group(1)) <= 2.0
