"""The ``pocket-mirror`` command: a thin face over the library.

Each command parses its options, calls into the library and prints a short
human summary. Logging is configured here and nowhere else. Every error the
library raises on purpose arrives as a :class:`mirror.errors.MirrorError`
and leaves as one sentence on standard error and the exit status of its
branch of the tree: 2 for configuration and usage, 1 for a failed sync.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar

import click
import stamina.instrumentation

from mirror import __version__
from mirror.config import Settings, config_path, load_settings, read_token
from mirror.errors import MirrorError
from mirror.logs import configure_logging, register_secret
from mirror.progress import CurrentStderr

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(slots=True)
class Context:
    """What the global options say, for the commands to use."""

    config_option: str | None
    verbose: bool
    log_format: str

    def settings(self) -> Settings:
        """Load and check the configuration file."""
        return load_settings(config_path(self.config_option, os.environ))

    def token(self, settings: Settings) -> str:
        """Read the API token and keep it out of every log line."""
        token = read_token(settings.api)
        register_secret(token)
        return token


def fails_cleanly(command: F) -> F:
    """Turn the library's errors into one line on stderr and an exit status."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except MirrorError as exc:
            click.echo(f"pocket-mirror: {exc}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("pocket-mirror: interrupted", err=True)
            sys.exit(130)

    return wrapper  # type: ignore[return-value]


@click.group()
@click.version_option(__version__, prog_name="pocket-mirror")
@click.option(
    "--config",
    "config_option",
    metavar="PATH",
    help="Configuration file (default: $POCKET_MIRROR_CONFIG, else ./config.toml).",
)
@click.option("-v", "--verbose", is_flag=True, help="Log debug events too.")
@click.option(
    "--log-format",
    type=click.Choice(["auto", "json", "console"]),
    default="auto",
    show_default=True,
    help="JSON lines, or readable lines; auto picks by whether stderr is a terminal.",
)
@click.pass_context
def cli(
    ctx: click.Context, config_option: str | None, verbose: bool, log_format: str
) -> None:
    """Keep a complete, queryable local mirror of a Pocket organization."""
    configure_logging(log_format=log_format, verbose=verbose, stream=CurrentStderr())  # type: ignore[arg-type]
    # The client logs each retry as api.retry_scheduled; stamina's own event
    # would say the same thing twice.
    stamina.instrumentation.set_on_retry_hooks([])
    ctx.obj = Context(config_option, verbose, log_format)


def main() -> None:
    """The console script's entry point."""
    register_commands()
    cli(prog_name="pocket-mirror")


def register_commands() -> None:
    """Add every module of :mod:`mirror.commands` that defines ``command``."""
    import mirror.commands

    for module_info in pkgutil.iter_modules(mirror.commands.__path__):
        module = importlib.import_module(f"mirror.commands.{module_info.name}")
        command = getattr(module, "command", None)
        if isinstance(command, click.Command):
            cli.add_command(command)
