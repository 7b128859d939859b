"""The command line as a user meets it: a real process, real exit statuses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from mirror.emulator import Emulator

TOKEN = "pk_test_token"


def write_config(path: Path, *, base_url: str, org_id: str, db: Path) -> Path:
    path.write_text(
        "[api]\n"
        f'base_url = "{base_url}"\n'
        f'org_id = "{org_id}"\n'
        "timeout_seconds = 2\n"
        "max_attempts = 2\n"
        "[database]\n"
        f'url = "sqlite:///{db}"\n'
    )
    path.chmod(0o600)
    return path


def run_cli(
    *args: str,
    config: Path,
    token: str = TOKEN,
    cwd: Path | None = None,
    preexec: Callable[[], None] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m mirror ARGS`` in a child process, as a user would."""
    env = {**os.environ, "POCKET_API_TOKEN": token, "POCKET_MIRROR_CONFIG": str(config)}
    return subprocess.run(
        [sys.executable, "-m", "mirror", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
        preexec_fn=preexec,
    )


def human_lines(stderr: str) -> list[str]:
    """The lines of stderr that are not JSON log events."""
    lines = []
    for line in stderr.splitlines():
        try:
            json.loads(line)
        except ValueError:
            lines.append(line)
    return [line for line in lines if line.strip()]


@pytest.fixture
def config(tmp_path: Path, emulator: Emulator) -> Path:
    emulator.generate(30)
    return write_config(
        tmp_path / "config.toml",
        base_url=emulator.url,
        org_id=emulator.org_id,
        db=tmp_path / "mirror.db",
    )


def test_backfill_command_mirrors_and_says_so(config: Path, tmp_path: Path) -> None:
    """`backfill` migrates an empty database, says so, and reports its counts."""
    result = run_cli("backfill", config=config)

    assert result.returncode == 0, result.stderr
    assert "store.migrated" in result.stderr
    assert "created 30" in result.stdout
    assert (tmp_path / "mirror.db").stat().st_mode & 0o777 == 0o600


def test_logs_are_json_lines_off_a_terminal(config: Path) -> None:
    """Off a terminal every log line is a JSON event with a stable name."""
    result = run_cli("backfill", config=config)

    events = [
        json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")
    ]
    names = {event["event"] for event in events}
    assert {"sweep.started", "sweep.page_saved", "sweep.finished"} <= names
    assert TOKEN not in result.stderr + result.stdout


def test_wrong_token_ends_with_one_clear_line(config: Path) -> None:
    """A refused token exits 1 with one sentence that says what to check."""
    result = run_cli("backfill", config=config, token="pk_wrong_token_123")

    assert result.returncode == 1
    lines = human_lines(result.stderr)
    assert len(lines) == 1, lines
    assert "check that the token" in lines[0]
    assert "pk_wrong_token_123" not in result.stderr


def test_wrong_organization_ends_with_one_clear_line(
    tmp_path: Path, emulator: Emulator
) -> None:
    """An unknown organization exits 1 and points at api.org_id."""
    config = write_config(
        tmp_path / "c.toml",
        base_url=emulator.url,
        org_id="org_nope",
        db=tmp_path / "m.db",
    )
    result = run_cli("backfill", config=config)

    assert result.returncode == 1
    lines = human_lines(result.stderr)
    assert len(lines) == 1, lines
    assert "api.org_id" in lines[0]


def test_unreachable_host_ends_with_one_clear_line(tmp_path: Path) -> None:
    """No server at the base URL exits 1 and points at the URL and network."""
    config = write_config(
        tmp_path / "c.toml",
        base_url="http://127.0.0.1:9",
        org_id="org_test",
        db=tmp_path / "m.db",
    )
    result = run_cli("backfill", config=config)

    assert result.returncode == 1
    lines = human_lines(result.stderr)
    assert len(lines) == 1, lines
    assert "api.base_url" in lines[0]


def test_configuration_problems_exit_2_all_at_once(tmp_path: Path) -> None:
    """A broken configuration exits 2 and lists every problem together."""
    config = tmp_path / "c.toml"
    config.write_text('[api]\nbase_url = "http://example.com"\ncolour = 1\n')
    config.chmod(0o600)

    result = run_cli("backfill", config=config)

    assert result.returncode == 2
    assert "org_id" in result.stderr
    assert "colour" in result.stderr
    assert "http" in result.stderr


def test_mass_delete_refusal_exits_non_zero(config: Path, emulator: Emulator) -> None:
    """A refused mass delete exits 1 and names the override."""
    assert run_cli("backfill", config=config).returncode == 0
    for recording_id in list(emulator.recordings)[:15]:
        emulator.hard_delete(recording_id)

    refused = run_cli("backfill", config=config)
    allowed = run_cli("backfill", "--allow-mass-delete", config=config)

    assert refused.returncode == 1
    assert "--allow-mass-delete" in refused.stderr
    assert allowed.returncode == 0, allowed.stderr
    assert "15 hard" in allowed.stdout


def test_migrate_command_is_idempotent(config: Path) -> None:
    """`migrate` upgrades once, then says the schema is current."""
    first = run_cli("migrate", config=config)
    second = run_cli("migrate", config=config)

    assert first.returncode == second.returncode == 0
    assert "upgraded" in first.stdout
    assert "latest schema" in second.stdout
