"""The systemd notify protocol, spoken to a real datagram socket."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from mirror.daemon.notify import Notifier, socket_address, watchdog_period


def receive(listener: socket.socket) -> dict[str, str]:
    """One datagram, parsed into its KEY=value fields."""
    data = listener.recv(4096).decode("utf-8")
    return dict(line.split("=", 1) for line in data.splitlines())


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[socket.socket]:
    """A datagram socket bound to a path, as systemd's notify socket is."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(tmp_path / "notify"))
        sock.settimeout(5)
        yield sock


def test_ready_and_status_arrive_as_key_value_lines(listener: socket.socket) -> None:
    """READY=1 comes with the STATUS line, in one datagram."""
    notifier = Notifier({"NOTIFY_SOCKET": listener.getsockname()})

    notifier.ready("sweeping hot")
    notifier.close()

    assert receive(listener) == {"READY": "1", "STATUS": "sweeping hot"}


def test_status_is_one_short_line(listener: socket.socket) -> None:
    """A status with line breaks or great length is sent as one short line."""
    notifier = Notifier({"NOTIFY_SOCKET": listener.getsockname()})

    notifier.status("first\nsecond " + "x" * 500)
    notifier.close()

    status = receive(listener)["STATUS"]
    assert status.startswith("first second x")
    assert len(status) <= 200


def test_abstract_namespace_socket_is_reached() -> None:
    """A NOTIFY_SOCKET starting with @ names a socket in the abstract namespace."""
    name = f"pocket-mirror-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(b"\0" + name.encode())
        sock.settimeout(5)
        notifier = Notifier({"NOTIFY_SOCKET": f"@{name}"})

        notifier.watchdog()
        notifier.close()

        assert receive(sock) == {"WATCHDOG": "1"}


def test_without_a_socket_messages_are_dropped() -> None:
    """Outside systemd nothing is sent and nothing fails."""
    notifier = Notifier({})

    notifier.ready("anything")
    notifier.stopping("anything")

    assert not notifier.enabled


def test_a_vanished_socket_does_not_stop_the_service(tmp_path: Path) -> None:
    """A notify socket that is gone costs a warning, not an exception."""
    notifier = Notifier({"NOTIFY_SOCKET": str(tmp_path / "gone")})

    notifier.status("still running")
    notifier.close()

    assert notifier.enabled


def test_watchdog_period_is_half_the_timeout() -> None:
    """Pings go at half of WATCHDOG_USEC, as systemd advises."""
    assert watchdog_period({"WATCHDOG_USEC": "10000000"}) == 5.0


def test_watchdog_for_another_process_is_ignored() -> None:
    """A WATCHDOG_PID naming another process means the watchdog is not ours."""
    environ = {"WATCHDOG_USEC": "10000000", "WATCHDOG_PID": str(os.getpid() + 1)}

    assert watchdog_period(environ) is None
    assert watchdog_period({"WATCHDOG_USEC": "0"}) is None
    assert watchdog_period({}) is None


def test_relative_socket_paths_are_refused() -> None:
    """Only absolute paths and @names are notify sockets."""
    assert socket_address("relative/path") is None
    assert socket_address("/run/systemd/notify") == "/run/systemd/notify"
    assert socket_address("@name") == b"\0name"
