"""The systemd notify protocol, spoken directly over a datagram socket.

A service of ``Type=notify`` tells systemd that it is ready, what it is
doing and that it is still alive by sending short ``KEY=value`` datagrams to
the socket named by ``$NOTIFY_SOCKET``: a path, or a name in the abstract
namespace when it starts with ``@``. Writing the few lines here keeps
libsystemd out of the dependencies. Outside systemd there is no socket and
every message is quietly dropped, so the daemon runs the same from a shell.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Mapping

import structlog

log = structlog.get_logger(__name__)

# systemd truncates a STATUS= line it shows; keep ours well inside that.
STATUS_LIMIT = 200


class Notifier:
    """Sends notify messages to the socket systemd gave this process.

    Args:
        environ: where ``NOTIFY_SOCKET``, ``WATCHDOG_USEC`` and
            ``WATCHDOG_PID`` are read from.
    """

    def __init__(self, environ: Mapping[str, str] = os.environ) -> None:
        self.address = socket_address(environ.get("NOTIFY_SOCKET", ""))
        self.watchdog_seconds = watchdog_period(environ)
        self._socket: socket.socket | None = None

    @property
    def enabled(self) -> bool:
        """Whether there is a socket to send to."""
        return self.address is not None

    def ready(self, status: str) -> None:
        """Say that start-up is done, with what the service now does."""
        self.send(READY="1", STATUS=status)

    def status(self, text: str) -> None:
        """Replace the one-line status that ``systemctl status`` shows."""
        self.send(STATUS=text)

    def watchdog(self) -> None:
        """Tell the watchdog that the loop doing the work is alive."""
        self.send(WATCHDOG="1")

    def reloading(self) -> None:
        """Say that the configuration is being read again."""
        self.send(RELOADING="1", MONOTONIC_USEC=str(time.monotonic_ns() // 1000))

    def stopping(self, status: str) -> None:
        """Say that the service is shutting down, and why."""
        self.send(STOPPING="1", STATUS=status)

    def send(self, **fields: str) -> None:
        """Send one datagram of ``KEY=value`` lines; drop it without a socket."""
        if self.address is None:
            return

        message = "\n".join(
            f"{key}={_one_line(value)}" for key, value in fields.items()
        )
        try:
            self._connected().sendto(message.encode("utf-8"), self.address)
        except OSError as exc:
            # systemd gone or restarting: the service itself must go on.
            log.warning("daemon.notify_failed", error=exc.strerror or str(exc))

    def close(self) -> None:
        """Close the socket, if one was opened."""
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def _connected(self) -> socket.socket:
        if self._socket is None:
            self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self._socket.setblocking(False)
        return self._socket


def socket_address(value: str) -> str | bytes | None:
    """The address ``$NOTIFY_SOCKET`` names, abstract ones as bytes with NUL."""
    if not value:
        return None

    if value.startswith("@"):
        return b"\0" + value[1:].encode("utf-8")

    if value.startswith("/"):
        return value

    log.warning("daemon.notify_socket_unsupported", reason="not a path or @name")
    return None


def watchdog_period(environ: Mapping[str, str]) -> float | None:
    """Seconds between watchdog pings: half of ``$WATCHDOG_USEC``, as systemd
    advises, or None when no watchdog watches this very process."""
    pid = environ.get("WATCHDOG_PID", "")
    if pid and pid != str(os.getpid()):
        return None

    try:
        microseconds = int(environ.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None

    return microseconds / 2_000_000 if microseconds > 0 else None


def _one_line(value: str) -> str:
    line = " ".join(value.split())
    return line if len(line) <= STATUS_LIMIT else line[: STATUS_LIMIT - 3] + "..."
