"""``pocket-mirror run``: the resident service that sweeps on schedule."""

from __future__ import annotations

import asyncio
import logging
import os
import sys

import click

from mirror.cli import Context, fails_cleanly
from mirror.config import config_path, sweep_tiers
from mirror.daemon.notify import Notifier
from mirror.daemon.scheduler import Daemon
from mirror.logs import configure_logging


@click.command("run")
@click.pass_obj
@fails_cleanly
def command(context: Context) -> None:
    """Sweep every tier of [sweeps] on its interval until stopped.

    Only one daemon sweeps a database at a time; another one waits for the
    lock. SIGTERM or SIGINT stops it cleanly (the running sweep resumes at
    the next start), SIGHUP reads the configuration again. Under systemd it
    speaks the notify protocol (Type=notify, with a watchdog). Logs go to
    standard output: JSON lines unless it is a terminal.
    """
    configure_logging(
        log_format=context.log_format,  # type: ignore[arg-type]
        verbose=context.verbose,
        stream=sys.stdout,
    )
    if not context.verbose:
        # APScheduler reports every job it runs; the sweeps' own events
        # already say that, with their counts.
        logging.getLogger("apscheduler").setLevel(logging.WARNING)

    settings = context.settings()
    sweep_tiers(settings)
    token = context.token(settings)
    daemon = Daemon(
        config_path=config_path(context.config_option, os.environ),
        settings=settings,
        token=token,
        notifier=Notifier(),
    )
    asyncio.run(daemon.run())
