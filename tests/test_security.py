"""Secrets stay secret: the token, TLS, and who may read the mirror's files."""

from __future__ import annotations

import asyncio
import http.server
import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from mirror.api.client import PocketClient
from mirror.emulator import Emulator, Fault
from mirror.errors import ApiUnreachable
from tests.test_cli import run_cli, write_config

SECRET = "pk_live_secret_0123456789abcdef"


@pytest.fixture
def secret_emulator() -> Iterator[Emulator]:
    emulator = Emulator(org_id="org_test", token=SECRET, seed=5)
    emulator.generate(40)
    with emulator:
        yield emulator


@pytest.fixture
def config(tmp_path: Path, secret_emulator: Emulator) -> Path:
    """A configuration for the emulator that accepts only the secret token."""
    return write_config(
        tmp_path / "c.toml",
        base_url=secret_emulator.url,
        org_id="org_test",
        db=tmp_path / "m.db",
    )


def test_token_never_reaches_logs_at_any_level(
    config: Path, secret_emulator: Emulator
) -> None:
    """With debug logs, retries and failures, the token appears nowhere."""
    secret_emulator.inject("list", Fault(status=503), count=1)
    secret_emulator.inject("detail", Fault(drop=True), count=2)

    outputs = [
        run_cli("-v", "backfill", config=config, token=SECRET),
        run_cli(
            "-v", "--log-format", "console", "backfill", config=config, token=SECRET
        ),
        run_cli("-v", "backfill", config=config, token=SECRET + "x"),
    ]

    assert outputs[0].returncode == 0, outputs[0].stderr
    assert outputs[2].returncode == 1
    for result in outputs:
        assert SECRET not in result.stdout + result.stderr
    assert "api.retry_scheduled" in outputs[0].stderr


def test_token_never_reaches_the_database(tmp_path: Path, config: Path) -> None:
    """The mirror file holds no trace of the token."""
    assert run_cli("backfill", config=config, token=SECRET).returncode == 0

    for path in tmp_path.glob("m.db*"):
        assert SECRET.encode() not in path.read_bytes()


def test_config_readable_by_others_draws_a_warning(config: Path) -> None:
    """A configuration file others can read is named in a warning."""
    config.chmod(0o644)

    result = run_cli("migrate", config=config, token=SECRET)

    assert "config.readable_by_others" in result.stderr


def test_sqlite_file_is_readable_by_its_owner_only(
    tmp_path: Path, config: Path
) -> None:
    """The mirror and its WAL files are created with mode 0600."""
    assert run_cli("backfill", config=config, token=SECRET).returncode == 0

    for path in tmp_path.glob("m.db*"):
        assert path.stat().st_mode & 0o077 == 0, path


@pytest.fixture
def self_signed_server(tmp_path: Path) -> Iterator[str]:
    """An HTTPS server on loopback whose certificate nobody vouches for."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a self-signed certificate")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), http.server.BaseHTTPRequestHandler
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_tls_verification_stays_on(self_signed_server: str) -> None:
    """A certificate that does not verify is refused, not trusted."""

    async def list_once() -> None:
        client = PocketClient(
            base_url=self_signed_server, org_id="org_test", token=SECRET, max_attempts=1
        )
        async with client:
            await client.check_access()

    with pytest.raises(ApiUnreachable) as refused:
        asyncio.run(list_once())
    assert (
        "CERTIFICATE" in repr(refused.value.__cause__).upper()
        or "SSL" in str(refused.value.__cause__).upper()
    )
    assert SECRET not in str(refused.value)
