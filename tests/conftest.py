"""Shared fixtures: real databases (SQLite files, the PostgreSQL server) and a
real emulator of the Pocket API listening on a loopback socket."""

from __future__ import annotations

pytest_plugins = ["tests.fixtures_db", "tests.fixtures_emulator"]
