"""Turns a sweep tier into the windows of days one run of it sweeps.

A tier reaches a number of days back from today (or all of history) and
may cut that reach into windows, so that a long sweep reconciles deletes
window by window and resumes from a small piece. Windows are listed newest
first, because recent recordings change most. Neighbouring windows share
their edge day: the service's date filters are taken to be inclusive UTC
days, and a shared day means an off-by-one or a time-zone shift on its side
still loses nothing. The newest window has no end, so a recording dated
ahead of the local clock is still swept; the oldest window of an
all-history tier has no start, so a recording older than anything the
mirror holds is found too.
"""

from __future__ import annotations

import datetime as dt

from mirror.config import TierSettings
from mirror.sync.engine import Window

# Where an all-history tier starts cutting windows when the mirror is empty;
# the oldest window is open-ended anyway, so this only sets how many there are.
HISTORY_ORIGIN = dt.date(2020, 1, 1)


def tier_windows(
    tier: TierSettings, today: dt.date, oldest: dt.date | None = None
) -> list[Window]:
    """The windows one run of ``tier`` sweeps, newest first.

    Args:
        tier: the tier's reach and window length.
        today: the current UTC day.
        oldest: the day of the oldest recording the mirror holds, where an
            all-history tier's windows stop; None when the mirror is empty.
    """
    if tier.reach_days is not None:
        first = today - dt.timedelta(days=tier.reach_days)
    else:
        first = min(oldest or HISTORY_ORIGIN, today)

    if tier.window_days is None:
        windows = [Window(first, None)]
    else:
        windows = _chunks(first, today, tier.window_days)

    if tier.reach_days is None:
        windows[-1] = Window(None, windows[-1].end)
    return windows


def _chunks(first: dt.date, today: dt.date, days: int) -> list[Window]:
    windows: list[Window] = []
    end: dt.date | None = None
    newest_day = today
    # A window shares one day with the next, so each must span two at least.
    span = dt.timedelta(days=max(days, 2) - 1)
    while True:
        start = max(newest_day - span, first)
        windows.append(Window(start, end))
        if start <= first:
            return windows

        # The next window ends on the day this one starts: they share it.
        end = newest_day = start


def describe(window: Window) -> str:
    """A window in words, for summaries: ``2026-01-01..2026-03-31``."""
    start = window.start.isoformat() if window.start else "the beginning"
    end = window.end.isoformat() if window.end else "now"
    return f"{start}..{end}"
