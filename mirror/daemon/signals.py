"""What the daemon does on SIGTERM, SIGINT and SIGHUP.

The handlers run on the event loop, between the loop's steps, so they may
touch the daemon's state freely: they only set events and start tasks, and
the work itself happens in the loop like everything else.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
RELOAD_SIGNAL = signal.SIGHUP


def install_handlers(
    loop: asyncio.AbstractEventLoop,
    *,
    stop: Callable[[str], None],
    reload: Callable[[], None],
) -> None:
    """Call ``stop`` with the signal's name on SIGTERM or SIGINT, and
    ``reload`` on SIGHUP."""
    for number in STOP_SIGNALS:
        loop.add_signal_handler(number, stop, number.name)

    loop.add_signal_handler(RELOAD_SIGNAL, reload)


def remove_handlers(loop: asyncio.AbstractEventLoop) -> None:
    """Give the three signals back to their default handling."""
    for number in (*STOP_SIGNALS, RELOAD_SIGNAL):
        loop.remove_signal_handler(number)
