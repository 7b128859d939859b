"""A progress bar for sweeps on a terminal, and nothing elsewhere.

Off a terminal the structured logs already tell the story; on one, a bar
says how far a backfill has come. The service's ``total`` is only a hint,
so the bar grows its total when the listing goes past it.
"""

from __future__ import annotations

import sys
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)


class SweepProgressBar:
    """Shows listed and saved recordings while a sweep runs."""

    def __init__(self, description: str) -> None:
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(file=sys.stderr),
            transient=False,
        )
        self._task = self._progress.add_task(description, total=None)
        self._listed = 0

    def __enter__(self) -> SweepProgressBar:
        self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._progress.stop()

    def listed(self, count: int, total_hint: int | None) -> None:
        """A page of ``count`` recordings was listed."""
        self._listed += count
        total = max(self._listed, total_hint or 0)
        self._progress.update(self._task, total=total)

    def saved(self, count: int) -> None:
        """``count`` recordings were written."""
        self._progress.advance(self._task, count)


class CurrentStderr:
    """Writes to whatever ``sys.stderr`` is at the moment of writing.

    A live progress bar swaps ``sys.stderr`` for a proxy that keeps log lines
    above the bar; a log handler holding this object follows the swap.
    """

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return sys.stderr.isatty()
