"""The README's first command works on a fresh machine."""

from __future__ import annotations

import shutil
import subprocess
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_demo_runs_in_a_fresh_virtual_environment(tmp_path: Path) -> None:
    """`pip install .` into a new venv, then `pocket-mirror demo`, works."""
    source = tmp_path / "source"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(".git", ".venv", "build", "*.egg-info", "*.db*"),
    )
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", str(source)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert install.returncode == 0, install.stderr[-3000:]

    demo = subprocess.run(
        [str(env_dir / "bin" / "pocket-mirror"), "demo"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )

    assert demo.returncode == 0, demo.stderr[-3000:]
    assert "backfill succeeded" in demo.stdout
    assert "created 300" in demo.stdout
    assert "SELECT" in demo.stdout
    assert (tmp_path / "pocket-mirror-demo.db").exists()
